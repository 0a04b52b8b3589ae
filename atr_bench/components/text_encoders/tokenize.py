"""Caption tokenisation shared by the text encoders."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
"""A run of letters/digits, with inner apostrophes kept (``don't``, ``dog's``)."""
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})


def tokenize(caption: str) -> list[str]:
    """Lower-cased words of ``caption``; punctuation and outer apostrophes are dropped."""
    return _WORD.findall(caption.lower().translate(_APOSTROPHES))
