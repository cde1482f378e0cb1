"""Row ids (``server.db.base.new_id``): UUIDv7 that only grow within a process, so rows
sharing a timestamp (one request's history events) sort in the order they were made."""

from __future__ import annotations

import itertools
import uuid

from server.db.base import new_id


def test_ids_made_in_a_row_only_grow_and_are_v7() -> None:
    ids = [new_id() for _ in range(20_000)]  # several thousand per millisecond
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert len(set(ids)) == len(ids)
    for i in ids[::997]:
        assert i.version == 7
        assert i.variant == uuid.RFC_4122
