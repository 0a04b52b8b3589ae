"""NeXtVLAD pooling for atr-bench (an example third-party plugin)."""
