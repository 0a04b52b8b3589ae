"""How a run reads its audio features (``--stream-features``), named apart from the readers so
the command line offers the modes without loading h5py or torch."""

STREAM_MODES = ("auto", "always", "never")
"""``auto``: stream when the padded audio would take over half of this machine's memory;
``always``: read from disk a batch at a time; ``never``: load it whole."""
