"""How a run reads its audio features (``--stream-features``), named apart from the readers so
the command line offers the modes without loading h5py or torch."""

STREAM_MODES = ("auto", "always", "never")
"""``auto``: on the CPU stream when the padded audio is over ``STREAM_ABOVE_BYTES``, on a GPU
when it would take over half of this machine's memory; ``always``: read from disk a batch at a
time; ``never``: load it whole."""
STREAM_ABOVE_BYTES = 1 << 30
"""Padded audio above which a CPU run reads it from disk a batch at a time. Reading a batch
from the page cache (in a thread, while the previous batch trains) costs a CPU run little,
and holding the features costs their size in memory (the AudioCaps train split of panns_cnn14:
12.6 GB); a GPU run loads them whole onto the GPU, where reading each batch from disk would
leave it waiting."""
