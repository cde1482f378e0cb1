"""Periodic upkeep of buckets: closed jobs' packets leave phones after the retention
period, and long logs are compacted (old cursors then get a reset)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from server.db.engine import Database
from server.db.models import Bucket
from sync import buckets
from sync.blobs import BlobStore, expire_uploads

__all__ = ["sweep"]

log = logging.getLogger("doorstep.sync")


async def sweep(
    db: Database,
    *,
    now: datetime,
    retention: timedelta,
    keep: int,
    blob_store: BlobStore | None = None,
    upload_expiry: timedelta | None = None,
) -> tuple[int, int]:
    """One round. Returns (packets removed, operations compacted). Safe on several nodes
    at once: every change goes through the bucket locks."""
    removed = 0
    while True:
        async with db.writer() as s:
            n = await buckets.expire_closed_packets(s, now=now, retention=retention)
            await s.commit()
        removed += n
        if n == 0:
            break
    compacted = 0
    async with db.reader() as s:
        long_logs = list(
            await s.scalars(
                select(Bucket.technician_id).where(Bucket.version - Bucket.min_version > keep)
            )
        )
    for tid in long_logs:
        async with db.writer() as s:
            compacted += await buckets.compact(s, tid, keep)
            await s.commit()
    if blob_store is not None and upload_expiry is not None:
        await expire_uploads(db, blob_store, now - upload_expiry)
    if removed or compacted:
        log.info(
            "maintenance: %d closed packets removed, %d log operations compacted",
            removed,
            compacted,
        )
    return removed, compacted
