"""Text encoders: caption tokenisation, a word2vec model trained on the training captions, and the
seed's precomputed GoogleNews word2vec features."""
