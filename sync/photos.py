"""The ``job.photo`` mutation and the processing of photo blobs (EXIF, derivatives,
reuse detection)."""

from __future__ import annotations

from sync.mutation_base import Handler

__all__ = ["HANDLERS"]

HANDLERS: dict[str, Handler] = {}
