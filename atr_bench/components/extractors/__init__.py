"""Audio feature extractors: the paper's log-mel baseline and its pretrained networks."""
