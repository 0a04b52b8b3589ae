"""sentence-transformers token embeddings as an atr-bench text encoder."""
