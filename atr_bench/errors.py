"""The one exception type users see: a message that names the file or name at fault and the fix."""


class AtrBenchError(Exception):
    """A user-facing error. The CLI prints its message on one line and exits with code 2."""


def preview(names: list[str], limit: int = 5) -> str:
    """The first ``limit`` names, quoted, for an error message: ``'a', 'b', ...``."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (", ..." if len(names) > limit else "")
