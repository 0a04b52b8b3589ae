"""Audio feature extractors (the paper's log-mel baseline and pretrained networks) and the
batched extraction of a dataset's waves into the HDF5 feature store."""
