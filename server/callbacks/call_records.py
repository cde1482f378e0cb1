"""Calls the phone cannot invent: the carrier's number-protection service posts its call
records here. Each record is stored once (by the carrier's ``record_id``), bound to the
job its masked number was handed out for, and the job's open callbacks are re-scored:
``evidence.features`` reconciles the records with the phone's ``job.call_attempt``s.

The carrier signs each post: ``X-Doorstep-Timestamp: <unix seconds>`` and
``X-Doorstep-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body>`` with the
shared secret; a timestamp outside the replay window is refused. Contract:
``docs/protocol/call-records.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.callbacks import tasks
from server.callbacks.schemas import CallRecordsIn, CallRecordsOut
from server.db.models import CarrierCallRecord, Job
from server.errors import Forbidden, Unauthorized

__all__ = ["receive", "verify"]


def verify(
    secret: str,
    window_s: int,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: datetime,
) -> None:
    if not secret:
        raise Forbidden(
            "call_records_disabled", "No carrier call-record service is configured here."
        )
    try:
        ts = int((timestamp or "").strip())
    except ValueError:
        raise Unauthorized(
            "bad_timestamp", "X-Doorstep-Timestamp must be the unix time in seconds."
        ) from None
    if abs(now.timestamp() - ts) > window_s:
        raise Unauthorized(
            "stale_timestamp",
            f"X-Doorstep-Timestamp is more than {window_s} s from the server's clock.",
        )
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    if signature is None or not hmac.compare_digest("sha256=" + mac, signature.strip()):
        raise Unauthorized("bad_signature", "The carrier signature does not match the body.")


async def receive(session: AsyncSession, batch: CallRecordsIn, now: datetime) -> CallRecordsOut:
    ids = [r.record_id for r in batch.records]
    known = set(
        await session.scalars(
            select(CarrierCallRecord.record_id).where(CarrierCallRecord.record_id.in_(ids))
        )
    )
    job_ids = {r.job_id for r in batch.records}
    jobs = set(await session.scalars(select(Job.id).where(Job.id.in_(job_ids))))
    stored = duplicates = unknown = 0
    touched: set[uuid.UUID] = set()
    for r in batch.records:
        if r.record_id in known:
            duplicates += 1
            continue
        known.add(r.record_id)
        job_id = r.job_id if r.job_id in jobs else None
        if job_id is None:
            unknown += 1
        else:
            touched.add(job_id)
        session.add(
            CarrierCallRecord(
                id=uuid.uuid4(),
                record_id=r.record_id,
                masked_number=r.masked_number,
                job_id=job_id,
                technician_id=r.technician_id,
                caller=r.caller,
                callee=r.callee,
                started_at=r.started_at,
                duration_s=r.duration_s,
                answered=r.answered,
                received_at=now,
            )
        )
        stored += 1
    await session.flush()
    await tasks.refresh_risk(session, sorted(touched), now)
    return CallRecordsOut(stored=stored, duplicates=duplicates, unknown_job=unknown)
