"""The ``job.photo`` mutation and the processing of photo blobs (EXIF, derivatives,
reuse detection).

Why two halves: a photo's mutation and its blob travel apart (SYNC.md) and may arrive in
either order. The mutation inserts a ``Photo`` fact at once; its evidence (EXIF time,
GPS, camera, perceptual hash, reuse on other jobs) comes from the blob. When the blob is
already here the handler copies what ``process_blob`` stored in ``Blob.info``; otherwise
the photo is kept ``blob_pending`` and ``process_blob`` fills it when the last chunk
lands. Both sides lock the ``blobs`` row, so a push racing the upload never leaves a
photo pending forever.

Reuse is what callback auditors care about: a "customer not home" door photo that is the
same picture as one sent for another job (same bytes, or a re-compressed copy caught by
the perceptual hash) is flagged on the *newer* photo in ``reused_from``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from evidence import verdicts
from server.db.engine import Database
from server.db.models import City, Job, User
from server.db.models.evidence import Blob, Photo
from sync import images
from sync.blobs import DERIVED_NAMES, BlobStore, check_sha
from sync.evidence_wire import PhotoArgs
from sync.mutation_base import Applied, Handler, MutationContext, fact_flags, record

__all__ = [
    "DERIVED_NAMES",
    "FOREIGN",
    "HANDLERS",
    "REUSE_WINDOW",
    "foreign_blob",
    "photo",
    "process_blob",
]

REUSE_WINDOW = timedelta(days=90)
"""How far back near-duplicates (perceptual hash) are looked for."""
REUSE_CANDIDATES = 5000
"""At most this many recent photos are compared in Python per processed photo."""
PENDING = "blob_pending"
BAD_IMAGE = "bad_image"
FOREIGN = "blob_of_another_provider"
"""The blob was uploaded by someone of another provider than the job's (not the
photo's own technician): kept as evidence, its bytes never shown with this job."""


# --- evidence --------------------------------------------------------------------------


def _info_of(meta: images.ImageInfo) -> dict[str, Any]:
    """``Blob.info``: JSON-safe, and the time as the camera wrote it (naive unless the
    camera gave an offset) so each photo can localise it with its own job's city."""
    camera = " ".join(p for p in (meta.camera_make, meta.camera_model) if p) or None
    return {
        "format": meta.format,
        "width": meta.width,
        "height": meta.height,
        "orientation": meta.orientation,
        "phash": meta.phash,
        "taken_at": meta.taken_at.isoformat() if meta.taken_at else None,
        "taken_at_zone_known": meta.taken_at_zone_known,
        "latitude": meta.latitude,
        "longitude": meta.longitude,
        "camera": camera[:120] if camera else None,
    }


def _analyse(data: bytes) -> tuple[dict[str, Any], tuple[bytes, bytes] | None]:
    """Inspection and derivatives (CPU-bound: run in a thread). A rejected image gives
    ``{"error": code}`` and no derivatives."""
    try:
        meta = images.inspect(data)
        thumb, display = images.derivatives(data)
    except images.ImageRejected as exc:
        return {"error": exc.code}, None
    return _info_of(meta), (thumb, display)


async def _taken_at(session: AsyncSession, job: Job, info: dict[str, Any]) -> datetime | None:
    """The capture time as UTC. A camera time without an offset is the wall clock where
    the photo was taken: read it in the job city's zone (never silently as UTC)."""
    text = info.get("taken_at")
    if not isinstance(text, str):
        return None
    when = datetime.fromisoformat(text)
    if when.tzinfo is not None:
        return when.astimezone(UTC)
    name = await session.scalar(select(City.timezone).where(City.id == job.city_id))
    try:
        zone = ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return when.replace(tzinfo=zone).astimezone(UTC)


async def _reused_from(session: AsyncSession, photo: Photo, job: Job, now: datetime) -> list[str]:
    """Other jobs where this picture was used *before* this photo: the same bytes
    (indexed), the same perceptual hash (indexed), or one within ``PHASH_THRESHOLD`` bits
    among the last ``REUSE_WINDOW`` of photos by the same technician or provider (a
    bounded set, compared in Python)."""
    earlier = or_(
        Photo.received_at < photo.received_at,
        and_(Photo.received_at == photo.received_at, Photo.id < photo.id),
    )
    other = and_(Photo.job_id != photo.job_id, Photo.id != photo.id, earlier)
    jobs: set[uuid.UUID] = set(
        await session.scalars(select(Photo.job_id).where(Photo.sha256 == photo.sha256, other))
    )
    if photo.phash:
        jobs.update(
            await session.scalars(select(Photo.job_id).where(Photo.phash == photo.phash, other))
        )
        who = Photo.technician_id == photo.technician_id
        if job.provider_id is not None:
            who = or_(who, Job.provider_id == job.provider_id)
        rows = await session.execute(
            select(Photo.job_id, Photo.phash)
            .join(Job, Job.id == Photo.job_id)
            .where(
                other,
                who,
                Photo.phash.is_not(None),
                Photo.received_at >= now - REUSE_WINDOW,
            )
            .order_by(Photo.received_at.desc())
            .limit(REUSE_CANDIDATES)
        )
        for job_id, phash in rows:
            if phash and images.same_picture(photo.phash, phash):
                jobs.add(job_id)
    return sorted(str(j) for j in jobs)


async def foreign_blob(
    session: AsyncSession, sha: str, technician_id: uuid.UUID | None, job: Job
) -> bool:
    """Whether the blob ``sha`` was uploaded by someone other than the photo's own
    technician and outside the job's provider: the picture belongs to another job, and
    its bytes are served only to those who may see that one (``blob_visible``)."""
    row = (
        await session.execute(
            select(Blob.user_id, User.provider_id)
            .outerjoin(User, User.id == Blob.user_id)
            .where(Blob.sha256 == sha)
        )
    ).one_or_none()
    if row is None or row.user_id is None or row.user_id == technician_id:
        return False
    return job.provider_id is None or row.provider_id != job.provider_id


async def _fill(
    session: AsyncSession, photo: Photo, job: Job, info: dict[str, Any], now: datetime
) -> None:
    """Copy a processed blob's evidence onto one photo (idempotent)."""
    flags = [f for f in photo.flags if f not in (PENDING, BAD_IMAGE, FOREIGN)]
    if await foreign_blob(session, photo.sha256, photo.technician_id, job):
        flags.append(FOREIGN)
    if "error" in info:
        photo.flags = [*flags, BAD_IMAGE]
        return
    photo.flags = flags
    photo.taken_at = await _taken_at(session, job, info)
    lat, lon = info.get("latitude"), info.get("longitude")
    photo.latitude = float(lat) if isinstance(lat, int | float) else None
    photo.longitude = float(lon) if isinstance(lon, int | float) else None
    camera = info.get("camera")
    photo.camera = camera if isinstance(camera, str) else None
    phash = info.get("phash")
    photo.phash = phash if isinstance(phash, str) else None
    await session.flush()
    photo.reused_from = await _reused_from(session, photo, job, now)


def _processed(blob: Blob | None) -> bool:
    return blob is not None and bool(blob.info) and ("phash" in blob.info or "error" in blob.info)


async def process_blob(db: Database, store: BlobStore, sha256: str) -> None:
    """Read a newly complete image blob: inspect it and make its metadata-free
    derivatives in a thread (off the event loop, outside any transaction), then save the
    inspection in ``Blob.info`` and fill every photo of that hash.

    Idempotent: an already processed blob is not decoded again, but its photos are
    refreshed (a lost answer makes the phone resend the last chunk)."""
    sha = check_sha(sha256)
    async with db.reader() as session:
        blob = await session.get(Blob, sha)
        if blob is None or not blob.content_type.startswith("image/"):
            return
        info: dict[str, Any] | None = dict(blob.info) if _processed(blob) else None
    if info is None:
        data = await store.read(sha)
        fresh, derived = await images.in_background(_analyse, data)
        if derived is not None:
            for name, content in zip(DERIVED_NAMES, derived, strict=True):
                await store.put_derived(sha, name, content)
        info = fresh
    now = datetime.now(UTC)
    async with db.writer() as session:
        # The lock orders us with a job.photo push reading this row (see the module doc).
        row = await session.get(Blob, sha, with_for_update=True)
        if row is None:
            return
        if _processed(row):
            info = dict(row.info)  # another upload of the same bytes got there first
        else:
            row.info = info
        photos = list(
            await session.scalars(
                select(Photo).where(Photo.sha256 == sha).order_by(Photo.received_at, Photo.id)
            )
        )
        for photo in photos:
            job = await session.get(Job, photo.job_id)
            if job is not None:
                await _fill(session, photo, job, info, now)
        # A photo's evidence arrived after its claim: judge the claim again.
        await verdicts.recheck(session, list({p.job_id for p in photos}), now)
        await session.commit()


# --- the mutation ----------------------------------------------------------------------


async def photo(ctx: MutationContext, args: PhotoArgs, job: Job | None) -> Applied:
    """A photo is a fact keyed by the phone's ``photo_id``: a resend is a no-op. Its
    evidence comes from the blob when the blob is already processed; otherwise it is
    kept ``blob_pending`` (still ``applied``: the upload may simply be behind)."""
    assert job is not None
    existing = await ctx.session.get(Photo, args.photo_id)
    if existing is not None:
        return Applied(flags=[f for f in existing.flags if f in (PENDING, BAD_IMAGE)])
    flags = fact_flags(ctx, job)
    row = Photo(
        id=args.photo_id,
        job_id=job.id,
        technician_id=ctx.technician_id,
        device_id=ctx.device_id,
        device_time=ctx.envelope.device_time,
        received_at=ctx.now,
        flags=list(flags),
        sha256=args.sha256,
        kind=args.kind,
        reused_from=[],
    )
    ctx.session.add(row)
    await ctx.session.flush()
    blob = await ctx.session.get(Blob, args.sha256, with_for_update=True)
    if blob is not None and _processed(blob):
        await _fill(ctx.session, row, job, dict(blob.info), ctx.now)
    else:
        row.flags = [*flags, PENDING]
    await ctx.session.flush()
    await record(
        ctx,
        job,
        "fact:photo",
        {
            "photo_id": str(args.photo_id),
            "sha256": args.sha256,
            "kind": args.kind,
            "flags": row.flags,
            "reused_from": row.reused_from,
        },
        fact=True,
    )
    return Applied(flags=list(row.flags))


HANDLERS: dict[str, Handler] = {"job.photo": photo}
