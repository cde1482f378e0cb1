"""Process-wide counters of what the sync engine did that operators should watch —
above all ``internal_rejected`` (a mutation our own code failed on: a bug to fix, each
one also logged once with its traceback under ``doorstep.sync``)."""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["count", "snapshot"]

_lock = threading.Lock()
_counts: Counter[str] = Counter()


def count(name: str, n: int = 1) -> None:
    with _lock:
        _counts[name] += n


def snapshot() -> dict[str, int]:
    """The counters so far, e.g. ``{"push.rejected.internal_rejected": 1}``."""
    with _lock:
        return dict(_counts)
