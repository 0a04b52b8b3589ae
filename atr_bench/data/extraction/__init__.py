"""Audio -> HDF5 features: extractor checkpoints, real audio folders, batched extraction into the
feature store."""
