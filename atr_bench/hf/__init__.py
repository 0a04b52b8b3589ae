"""Hugging Face ``transformers`` models as atr-bench components: where a model comes from
(``source``), and the audio extractor, text encoder and zero-shot dual encoder built on them.
Nothing here imports ``transformers`` until a model is built."""
