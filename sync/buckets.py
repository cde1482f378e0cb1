"""Technicians' buckets: an append-only operation log with a gapless version, and the
current document of each entity.

Writers lock the buckets they touch (always in technician-id order, so two transactions
moving jobs between the same technicians cannot deadlock on PostgreSQL) and bump the
version in the same transaction as the operations it numbers: commit order equals
version order, so a reader never sees version N+1 before N.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.dialect import insert_for
from server.db.models import Bucket, BucketEntity, BucketOp, Job, JobHolder, KbArticle
from sync.packets import (
    CALENDAR,
    JOB_PACKET,
    KB_ARTICLE,
    build_calendars,
    build_packets,
    kb_doc,
    packet_doc,
)
from sync.pokes import add_pokes
from sync.vocabulary import JobStatus

__all__ = [
    "Change",
    "calendars_changed",
    "compact",
    "defer_packets",
    "expire_closed_packets",
    "flush_deferred",
    "job_changed",
    "kb_article_changed",
    "rebuild",
    "refresh_jobs",
    "write",
]

_ENTITIES = cast(Table, BucketEntity.__table__)
_DELETE_ENTITY = delete(_ENTITIES).where(
    _ENTITIES.c.technician_id == bindparam("t"),
    _ENTITIES.c.entity_type == bindparam("et"),
    _ENTITIES.c.entity_id == bindparam("eid"),
)

LINGERING = (JobStatus.COMPLETED, JobStatus.CANCELLED, JobStatus.UNABLE_TO_COMPLETE)
"""Statuses whose packet leaves the phone after the retention period."""

GONE = (JobStatus.CLOSED,)
"""Statuses whose packet leaves the phone at once: nothing is left to do or to show."""


@dataclass(frozen=True, slots=True)
class Change:
    op: str  # "put" | "remove"
    entity_type: str
    entity_id: uuid.UUID
    doc: dict[str, Any] | None = None


async def write(session: AsyncSession, changes: dict[uuid.UUID, list[Change]]) -> None:
    """Append ``changes`` to each technician's bucket in one fixed lock order."""
    changes = {tid: ops for tid, ops in changes.items() if ops}
    if not changes:
        return
    insert = insert_for(session)
    await session.execute(
        insert(Bucket).values([{"technician_id": t} for t in changes]).on_conflict_do_nothing()
    )
    for tid in sorted(changes):
        await session.execute(
            select(Bucket.version).where(Bucket.technician_id == tid).with_for_update()
        )
        ops = await _effective(session, tid, changes[tid])
        if not ops:
            continue
        new_version = (
            await session.execute(
                update(Bucket)
                .where(Bucket.technician_id == tid)
                .values(version=Bucket.version + len(ops), updated_at=func.now())
                .returning(Bucket.version)
            )
        ).scalar_one()
        first = new_version - len(ops) + 1
        await session.execute(
            insert(BucketOp),
            [
                {
                    "technician_id": tid,
                    "version": first + i,
                    "entity_type": c.entity_type,
                    "entity_id": c.entity_id,
                    "op": c.op,
                }
                for i, c in enumerate(ops)
            ],
        )
        holdings = [
            {"job_id": c.entity_id, "technician_id": tid}
            for c in ops
            if c.op == "put" and c.entity_type == JOB_PACKET
        ]
        if holdings:
            await session.execute(insert(JobHolder).values(holdings).on_conflict_do_nothing())
        # The documents: only each entity's last operation matters, written in one
        # statement for the puts and one for the removes (not one per entity).
        final = {(c.entity_type, c.entity_id): (first + i, c) for i, c in enumerate(ops)}
        puts = [
            {
                "technician_id": tid,
                "entity_type": c.entity_type,
                "entity_id": c.entity_id,
                "version": version,
                "doc": c.doc,
            }
            for version, c in final.values()
            if c.op == "put"
        ]
        removes = [
            {"t": tid, "et": c.entity_type, "eid": c.entity_id}
            for _, c in final.values()
            if c.op == "remove"
        ]
        if puts:
            stmt = insert(BucketEntity)
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["technician_id", "entity_type", "entity_id"],
                    set_={"version": stmt.excluded.version, "doc": stmt.excluded.doc},
                ),
                puts,
            )
        if removes:
            conn = await session.connection()
            await conn.execute(_DELETE_ENTITY, removes)
        add_pokes(session, [tid])  # the phone is told to pull once this commits


async def _effective(session: AsyncSession, tid: uuid.UUID, ops: list[Change]) -> list[Change]:
    """Drop no-ops: removing what the bucket does not hold, putting an unchanged doc."""
    keys = {(c.entity_type, c.entity_id) for c in ops}
    current: dict[tuple[str, uuid.UUID], dict[str, Any]] = {}
    for etype, eid, doc in (
        await session.execute(
            select(BucketEntity.entity_type, BucketEntity.entity_id, BucketEntity.doc).where(
                BucketEntity.technician_id == tid,
                BucketEntity.entity_id.in_([k[1] for k in keys]),
            )
        )
    ).all():
        current[(etype, eid)] = doc
    out = []
    for c in ops:
        key = (c.entity_type, c.entity_id)
        if c.op == "remove" and key not in current:
            continue
        if c.op == "put" and current.get(key) == c.doc:
            continue
        out.append(c)
        if c.op == "put":
            current[key] = c.doc  # type: ignore[assignment]
        else:
            current.pop(key, None)
    return out


async def _puts_for_jobs(
    session: AsyncSession, jobs: Iterable[Job], today: date
) -> dict[uuid.UUID, list[Change]]:
    jobs = [j for j in jobs if j.technician_id is not None]
    packets = await build_packets(session, [j.id for j in jobs], today, loaded=jobs)
    article_ids = {link.id for p in packets.values() for link in p.kb_articles}
    articles = {}
    if article_ids:
        articles = {
            a.id: a
            for a in await session.scalars(select(KbArticle).where(KbArticle.id.in_(article_ids)))
        }
    out: dict[uuid.UUID, list[Change]] = {}
    for job in jobs:
        packet = packets[job.id]
        changes = out.setdefault(job.technician_id, [])  # type: ignore[arg-type]
        for link in packet.kb_articles:
            changes.append(Change("put", KB_ARTICLE, link.id, kb_doc(articles[link.id])))
        changes.append(Change("put", JOB_PACKET, job.id, packet_doc(packet)))
    for tid, changes in out.items():
        out[tid] = list({(c.entity_type, c.entity_id): c for c in changes}.values())
    return out


DEFERRED = "deferred_packets"
"""``session.info`` key: jobs whose packets are rebuilt once, before commit (push)."""


def defer_packets(session: AsyncSession) -> None:
    """Collect job changes instead of rebuilding a packet per change: a push of fifty
    mutations on three jobs then builds three packets, not fifty. The caller must call
    ``flush_deferred`` before committing."""
    session.info[DEFERRED] = {}


async def flush_deferred(session: AsyncSession) -> None:
    pending: dict[uuid.UUID, set[uuid.UUID]] = session.info.pop(DEFERRED, {})
    if not pending:
        return
    jobs = list(await session.scalars(select(Job).where(Job.id.in_(list(pending)))))
    changes = await _puts_for_jobs(session, jobs, date.today())
    for job in jobs:
        for prev in pending[job.id] - {job.technician_id}:
            changes.setdefault(prev, []).append(Change("remove", JOB_PACKET, job.id))
    await write(session, changes)


async def job_changed(
    session: AsyncSession, job: Job, *, previous_technician: uuid.UUID | None
) -> None:
    """Called in the transaction of every job change: the technician who lost the job gets
    a ``remove``, the one who has it a full ``put``."""
    deferred: dict[uuid.UUID, set[uuid.UUID]] | None = session.info.get(DEFERRED)
    if deferred is not None:
        held = deferred.setdefault(job.id, set())
        if previous_technician is not None:
            held.add(previous_technician)
        return
    changes: dict[uuid.UUID, list[Change]] = {}
    if previous_technician is not None and previous_technician != job.technician_id:
        changes[previous_technician] = [Change("remove", JOB_PACKET, job.id)]
    if job.technician_id is not None and job.status in GONE:
        changes.setdefault(job.technician_id, []).append(Change("remove", JOB_PACKET, job.id))
    elif job.technician_id is not None:
        for tid, ops in (await _puts_for_jobs(session, [job], date.today())).items():
            changes.setdefault(tid, []).extend(ops)
    await write(session, changes)


async def refresh_jobs(session: AsyncSession, where: Any) -> None:
    """Re-put the packets, still on phones, of the jobs matching ``where`` (after a
    customer, appliance, checklist or fee policy changed). A packet already taken off a
    phone is not sent back."""
    held = select(BucketEntity.entity_id).where(
        BucketEntity.entity_type == JOB_PACKET, BucketEntity.technician_id == Job.technician_id
    )
    jobs = list(await session.scalars(select(Job).where(where, Job.id.in_(held))))
    if jobs:
        await write(session, await _puts_for_jobs(session, jobs, date.today()))


async def kb_article_changed(session: AsyncSession, article: KbArticle) -> None:
    """Update the article in every bucket that holds it."""
    holders = list(
        await session.scalars(
            select(BucketEntity.technician_id).where(
                BucketEntity.entity_type == KB_ARTICLE, BucketEntity.entity_id == article.id
            )
        )
    )
    doc = kb_doc(article)
    await write(session, {tid: [Change("put", KB_ARTICLE, article.id, doc)] for tid in holders})


async def calendars_changed(
    session: AsyncSession, technician_ids: Iterable[uuid.UUID], today: date
) -> None:
    """Put each technician's ``calendar`` document (their hours, leave and holidays)."""
    docs = await build_calendars(session, technician_ids, today)
    await write(session, {tid: [Change("put", CALENDAR, tid, doc)] for tid, doc in docs.items()})


def _closed_at() -> Any:
    return func.coalesce(Job.completed_at, Job.cancelled_at, Job.updated_at)


async def rebuild(
    session: AsyncSession,
    technician_ids: Iterable[uuid.UUID],
    *,
    now: datetime,
    retention: timedelta,
) -> None:
    """Make each bucket hold exactly what it should (demo data, repairs)."""
    tids = list(technician_ids)
    if not tids:
        return
    keep = and_(
        Job.status.not_in(GONE),
        or_(Job.status.not_in(LINGERING), _closed_at() > now - retention),
    )
    jobs = list(await session.scalars(select(Job).where(Job.technician_id.in_(tids), keep)))
    changes = await _puts_for_jobs(session, jobs, now.date())
    wanted = {(j.technician_id, j.id) for j in jobs}
    held = (
        await session.execute(
            select(BucketEntity.technician_id, BucketEntity.entity_id).where(
                BucketEntity.technician_id.in_(tids), BucketEntity.entity_type == JOB_PACKET
            )
        )
    ).all()
    for tid, eid in held:
        if (tid, eid) not in wanted:
            changes.setdefault(tid, []).append(Change("remove", JOB_PACKET, eid))
    await write(session, changes)


async def expire_closed_packets(
    session: AsyncSession, *, now: datetime, retention: timedelta, limit: int = 500
) -> int:
    """Remove closed jobs' packets once the retention has passed, so customers' contact
    details do not linger on phones. Returns how many were removed."""
    rows = (
        await session.execute(
            select(BucketEntity.technician_id, BucketEntity.entity_id)
            .join(
                Job, and_(Job.id == BucketEntity.entity_id, BucketEntity.entity_type == JOB_PACKET)
            )
            .where(Job.status.in_(LINGERING), _closed_at() <= now - retention)
            .limit(limit)
        )
    ).all()
    changes: dict[uuid.UUID, list[Change]] = {}
    for tid, eid in rows:
        changes.setdefault(tid, []).append(Change("remove", JOB_PACKET, eid))
    await write(session, changes)
    return len(rows)


async def compact(session: AsyncSession, technician_id: uuid.UUID, keep: int) -> int:
    """Drop log entries older than the last ``keep`` versions; cursors before them get a
    reset answer. Returns how many operations were dropped."""
    bucket = await session.get(Bucket, technician_id, with_for_update=True)
    if bucket is None or bucket.version - keep <= bucket.min_version:
        return 0
    floor = bucket.version - keep
    result = await session.execute(
        delete(BucketOp).where(BucketOp.technician_id == technician_id, BucketOp.version <= floor)
    )
    bucket.min_version = floor
    await session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
