"""The built-in text encoders' vector sizes: what their specs declare before they are built,
free of gensim and numpy so the registry loads without them."""

WORD2VEC_DIM = 300
"""The skip-gram model trained on the training captions."""
GOOGLENEWS_DIM = 300
"""The seed's precomputed GoogleNews word2vec features."""
