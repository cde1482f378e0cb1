"""The evidence behind one callback, as an auditor reads it before calling: the job's
timeline from the ledger (device time and server time side by side), the customer's
location and every check-in with its distance, call attempts, photos with what their
EXIF says, the signature and report (the service report), each rule's verdict."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evidence.trace import EARTH_M_PER_DEG, merge_chunks, summarise
from server.db.models import (
    Blob,
    CallAttempt,
    CarrierCallRecord,
    Checkin,
    Customer,
    Job,
    JobEvent,
    LedgerEntry,
    LocationTraceChunk,
    Photo,
)
from server.reports.service_report import ServiceReport, build
from sync import geo

__all__ = ["Evidence", "load_evidence"]


class LedgerLine(msgspec.Struct):
    """One mutation the phone sent about this job, as the ledger holds it."""

    seq: int
    device_id: uuid.UUID
    mutation: str | None
    mutation_id: str | None
    device_time: datetime | None
    received_at: datetime
    clock_skew_ms: int | None
    outcome: str
    code: str | None
    raw_sha256: str


class HistoryLine(msgspec.Struct):
    at: datetime
    kind: str
    source: str
    actor_role: str | None
    device_time: datetime | None
    data: dict[str, Any]


class Place(msgspec.Struct):
    latitude: float | None
    longitude: float | None


class CheckinLine(msgspec.Struct):
    id: uuid.UUID
    kind: str
    latitude: float | None
    longitude: float | None
    accuracy_m: float | None
    fix_time: datetime | None
    device_time: datetime | None
    received_at: datetime
    distance_m: float | None
    geofence: str | None
    mock_location: bool
    location_provider: str | None
    flags: list[str]


class CallLine(msgspec.Struct):
    id: uuid.UUID
    channel: str
    started_at: datetime
    duration_s: int
    outcome: str
    device_time: datetime | None
    received_at: datetime
    flags: list[str]


class PhotoLine(msgspec.Struct):
    id: uuid.UUID
    kind: str
    sha256: str
    blob_received: bool
    """False while the phone has not uploaded the picture yet."""
    taken_at: datetime | None
    latitude: float | None
    longitude: float | None
    distance_m: float | None
    """From the customer's address, by the photo's own GPS tag."""
    camera: str | None
    reused_from: list[str]
    exif: dict[str, Any]
    device_time: datetime | None
    received_at: datetime
    thumbnail_url: str
    display_url: str


class CarrierCallLine(msgspec.Struct):
    """A call record of the carrier's number-protection service (not from the phone)."""

    record_id: str
    masked_number: str
    caller: str
    callee: str
    started_at: datetime
    duration_s: int
    answered: bool
    received_at: datetime


class TraceStop(msgspec.Struct):
    """A stop the server found in the trace (dwell clustering, ``evidence.trace``)."""

    start: datetime
    end: datetime
    minutes: float
    latitude: float
    longitude: float
    distance_m: float
    """Its centre's distance from the customer's address."""
    accuracy_m: float


class TraceLine(msgspec.Struct):
    """The phone's location trace of the job (``job.location_trace``), for the plot."""

    points: int
    mock_points: int
    started_at: datetime
    ended_at: datetime
    path: list[tuple[float, float, float]]
    """``[latitude, longitude, accuracy_m]`` in time order, at most ``PLOT_POINTS`` of them
    (evenly thinned; every point is kept in the database)."""
    stops: list[TraceStop]


PLOT_POINTS = 600


class Evidence(msgspec.Struct):
    job_id: uuid.UUID
    customer_location: Place
    customer_address: str
    customer_phones: list[str]
    """For the call: auditors phone the customer."""
    ledger: list[LedgerLine]
    history: list[HistoryLine]
    checkins: list[CheckinLine]
    calls: list[CallLine]
    photos: list[PhotoLine]
    service_report: ServiceReport
    """Report, signature state and each rule's verdict."""
    carrier_calls: list[CarrierCallLine] = msgspec.field(default_factory=list)
    """The carrier's call records of the job, to set beside the phone's ``calls``."""
    trace: TraceLine | None = None
    """The phone's location trace with its stops; ``null``: the phone sent none."""


async def _trace(session: AsyncSession, job: Job, customer: Customer) -> TraceLine | None:
    rows = (
        await session.execute(
            select(LocationTraceChunk.started_at, LocationTraceChunk.points).where(
                LocationTraceChunk.job_id == job.id
            )
        )
    ).all()
    if not rows:
        return None
    tr = merge_chunks((r[0], r[1]) for r in rows)
    if not len(tr):
        return None
    step = max(1, -(-len(tr) // PLOT_POINTS))
    path = [(tr.lat[i], tr.lon[i], tr.acc[i]) for i in range(0, len(tr), step)]
    stops: list[TraceStop] = []
    if customer.latitude is not None and customer.longitude is not None:
        origin = (customer.latitude, customer.longitude)
        kx = EARTH_M_PER_DEG * math.cos(math.radians(origin[0]))
        for st in summarise(tr, origin).stops:
            stops.append(
                TraceStop(
                    start=datetime.fromtimestamp(st.start, UTC),
                    end=datetime.fromtimestamp(st.end, UTC),
                    minutes=round(st.seconds / 60, 1),
                    latitude=origin[0] + st.y / EARTH_M_PER_DEG,
                    longitude=origin[1] + st.x / kx,
                    distance_m=round(st.distance_m, 1),
                    accuracy_m=st.accuracy_m,
                )
            )
    return TraceLine(
        points=len(tr),
        mock_points=tr.mock_points,
        started_at=datetime.fromtimestamp(tr.t[0], UTC),
        ended_at=datetime.fromtimestamp(tr.t[-1], UTC),
        path=path,
        stops=stops,
    )


def _time(raw: object) -> datetime | None:
    try:
        return datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


async def load_evidence(session: AsyncSession, job_id: uuid.UUID) -> Evidence:
    job = await session.get(Job, job_id)
    assert job is not None
    customer = await session.get(Customer, job.customer_id)
    assert customer is not None
    here = (customer.latitude, customer.longitude)

    def distance(lat: float | None, lon: float | None) -> float | None:
        if lat is None or lon is None or here[0] is None or here[1] is None:
            return None
        return round(geo.distance_m(here[0], here[1], lat, lon), 1)

    ledger = [
        LedgerLine(
            seq=r.seq,
            device_id=r.device_id,
            mutation=r.name,
            mutation_id=r.mutation_id,
            device_time=r.device_time,
            received_at=r.received_at,
            clock_skew_ms=r.clock_skew_ms,
            outcome=r.outcome,
            code=r.code,
            raw_sha256=r.raw_sha256,
        )
        for r in await session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.job_id == job_id)
            .order_by(LedgerEntry.received_at, LedgerEntry.seq)
        )
    ]
    history = [
        HistoryLine(
            at=e.at,
            kind=e.kind,
            source=e.source,
            actor_role=e.actor_role,
            device_time=_time(e.data.get("device_time")),
            data={k: v for k, v in e.data.items() if k != "device_time"},
        )
        for e in await session.scalars(
            select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.at, JobEvent.id)
        )
    ]
    checkins = [
        CheckinLine(
            id=c.id,
            kind=c.kind,
            latitude=c.latitude,
            longitude=c.longitude,
            accuracy_m=c.accuracy_m,
            fix_time=c.fix_time,
            device_time=c.device_time,
            received_at=c.received_at,
            distance_m=c.distance_m,
            geofence=c.geofence,
            mock_location=c.mock_location,
            location_provider=c.location_provider,
            flags=list(c.flags or []),
        )
        for c in await session.scalars(
            select(Checkin).where(Checkin.job_id == job_id).order_by(Checkin.received_at)
        )
    ]
    calls = [
        CallLine(
            id=c.id,
            channel=c.channel,
            started_at=c.started_at,
            duration_s=c.duration_s,
            outcome=c.outcome,
            device_time=c.device_time,
            received_at=c.received_at,
            flags=list(c.flags or []),
        )
        for c in await session.scalars(
            select(CallAttempt).where(CallAttempt.job_id == job_id).order_by(CallAttempt.started_at)
        )
    ]
    photo_rows = (
        await session.execute(
            select(Photo, Blob.info, Blob.sha256)
            .outerjoin(Blob, Blob.sha256 == Photo.sha256)
            .where(Photo.job_id == job_id)
            .order_by(Photo.received_at, Photo.id)
        )
    ).all()
    photos = [
        PhotoLine(
            id=p.id,
            kind=p.kind,
            sha256=p.sha256,
            blob_received=blob_sha is not None,
            taken_at=p.taken_at,
            latitude=p.latitude,
            longitude=p.longitude,
            distance_m=distance(p.latitude, p.longitude),
            camera=p.camera,
            reused_from=list(p.reused_from or []),
            exif=dict(info or {}),
            device_time=p.device_time,
            received_at=p.received_at,
            thumbnail_url=f"/sync/v1/blobs/{p.sha256}/thumbnail",
            display_url=f"/sync/v1/blobs/{p.sha256}/display",
        )
        for p, info, blob_sha in photo_rows
    ]
    return Evidence(
        job_id=job.id,
        customer_location=Place(latitude=customer.latitude, longitude=customer.longitude),
        customer_address=customer.address,
        customer_phones=[ph.number for ph in customer.phones],
        ledger=ledger,
        history=history,
        checkins=checkins,
        calls=calls,
        photos=photos,
        service_report=await build(session, job_id),
        carrier_calls=[
            CarrierCallLine(
                record_id=r.record_id,
                masked_number=r.masked_number,
                caller=r.caller,
                callee=r.callee,
                started_at=r.started_at,
                duration_s=r.duration_s,
                answered=r.answered,
                received_at=r.received_at,
            )
            for r in await session.scalars(
                select(CarrierCallRecord)
                .where(CarrierCallRecord.job_id == job_id)
                .order_by(CarrierCallRecord.started_at)
            )
        ],
        trace=await _trace(session, job, customer),
    )
