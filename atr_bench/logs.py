"""Library messages go through ``logging``, one logger per module under ``atr_bench``; this puts
them on stderr as the plain one-line messages the command line shows."""

from __future__ import annotations

import logging
import sys

ROOT = "atr_bench"
"""The logger every module's logger (``logging.getLogger(__name__)``) is a child of."""


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a message comes (a redirect, a test's capture),
    not as it was when the handler was made."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def to_stderr(level: int = logging.INFO) -> None:
    """Show ``atr_bench`` messages of ``level`` and above on stderr, one plain line each (a
    traceback below it where one is attached). Calling it again only changes the level."""
    logger = logging.getLogger(ROOT)
    logger.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
