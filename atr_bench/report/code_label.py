"""A board row's code: the distributions and versions of its components and a short digest of
their code (``plugins.code_identity``), so a row says exactly which plugin code produced it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

DIGEST_CHARS = 8
"""Characters of the combined digest a board shows."""


def code_label(plugins: Mapping[str, Any] | None) -> str:
    """``atr-bench 0.1.0, my-pooling 1.2 3fa2c1d0`` for a record's ``plugins``; "" for a record
    from before components' code was recorded."""
    entries = list((plugins or {}).items())
    if not entries or not all(isinstance(e, dict) and "digest" in e for _, e in entries):
        return ""
    versions = sorted({f"{e.get('distribution')} {e.get('version')}" for _, e in entries})
    digests = "".join(f"{name}={e['digest']}\n" for name, e in sorted(entries))
    digest = hashlib.sha256(digests.encode()).hexdigest()[:DIGEST_CHARS]
    return f"{', '.join(versions)} {digest}"
