"""Text from records and the command line made safe to place on one line of a table or a
comment: a line break in a record's device name must not start a line of its own in a
``.tex``, ``.md`` or ``.csv`` file."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def one_line(text: str) -> str:
    """``text`` with every run of control characters (line breaks, tabs, ...) as one space."""
    return _CONTROL.sub(" ", text)
