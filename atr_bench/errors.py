"""The one exception type users see: a message that names the file or name at fault and the fix."""


class AtrBenchError(Exception):
    """A user-facing error. The CLI prints its message on one line and exits with code 2."""
