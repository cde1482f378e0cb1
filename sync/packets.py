"""Build job packets from the database, many at a time with a fixed number of queries."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

import msgspec
from sqlalchemy import inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from evidence.rules import packet_rules
from server.db.models import (
    Appliance,
    CalendarException,
    Checklist,
    City,
    Customer,
    CustomerPhone,
    FeePolicy,
    Job,
    JobEvent,
    KbArticle,
    Provider,
    TechnicianCalendar,
    User,
    provider_cities,
)
from server.jobs.repeats import is_complaint
from sync.packet_types import (
    ApplianceInfo,
    CalendarDoc,
    CalendarExceptionInfo,
    ChecklistInfo,
    CustomerInfo,
    FeePolicyInfo,
    JobInfo,
    JobPacket,
    KbArticleDoc,
    KbLink,
    PartInfo,
    PastVisit,
    PhoneInfo,
    TraceSampling,
)

__all__ = ["CALENDAR", "build_calendars", "build_packets", "kb_doc", "packet_doc"]

JOB_PACKET = "job_packet"
KB_ARTICLE = "kb_article"
CALENDAR = "calendar"


def packet_doc(packet: JobPacket) -> dict[str, Any]:
    doc: dict[str, Any] = msgspec.to_builtins(packet)
    return doc


def kb_doc(a: KbArticle) -> dict[str, Any]:
    doc: dict[str, Any] = msgspec.to_builtins(
        KbArticleDoc(id=a.id, category=a.category, title=a.title, body=a.body, version=a.version)
    )
    return doc


async def build_packets(
    session: AsyncSession,
    job_ids: Iterable[uuid.UUID],
    today: date,
    *,
    loaded: Iterable[Job] = (),
) -> dict[uuid.UUID, JobPacket]:
    """The packets of ``job_ids``. ``loaded``: those jobs as the caller holds them in this
    session; those with nothing expired are not read again (a job just created and
    assigned is built from the object the assignment changed; its columns never set
    read as NULL, as inserted)."""
    ids = list(dict.fromkeys(job_ids))
    if not ids:
        return {}
    wanted = set(ids)
    jobs = {
        j.id: j
        for j in loaded
        if j.id in wanted and (state := inspect(j)).persistent and not state.expired_attributes
    }
    if missing := [i for i in ids if i not in jobs]:
        jobs.update(
            {j.id: j for j in await session.scalars(select(Job).where(Job.id.in_(missing)))}
        )
    customer_ids = {j.customer_id for j in jobs.values()}
    appliance_ids = {j.appliance_id for j in jobs.values() if j.appliance_id}
    city_ids = {j.city_id for j in jobs.values()}

    # columns, not entities: a Customer would also load its phones (selectin), read below
    customers = {
        row.id: row
        for row in await session.execute(
            select(
                Customer.id, Customer.name, Customer.address, Customer.latitude, Customer.longitude
            ).where(Customer.id.in_(customer_ids))
        )
    }
    phones: dict[uuid.UUID, list[PhoneInfo]] = defaultdict(list)
    for p in await session.scalars(
        select(CustomerPhone)
        .where(CustomerPhone.customer_id.in_(customer_ids))
        .order_by(CustomerPhone.position)
    ):
        phones[p.customer_id].append(PhoneInfo(number=p.number, label=p.label))
    cities: dict[uuid.UUID, City] = {}
    policies: dict[uuid.UUID, FeePolicy] = {}
    for city_row, policy_row in await session.execute(
        select(City, FeePolicy)
        .outerjoin(FeePolicy, FeePolicy.city_id == City.id)
        .where(City.id.in_(city_ids))
    ):
        cities[city_row.id] = city_row
        if policy_row is not None:
            policies[city_row.id] = policy_row
    appliances = (
        {
            a.id: a
            for a in await session.scalars(select(Appliance).where(Appliance.id.in_(appliance_ids)))
        }
        if appliance_ids
        else {}
    )
    kinds = {j.kind for j in jobs.values()}
    checklists = {
        (c.job_kind, c.category): c
        for c in await session.scalars(select(Checklist).where(Checklist.job_kind.in_(kinds)))
    }
    categories = {a.category for a in appliances.values()}
    articles: dict[str, list[KbLink]] = defaultdict(list)
    if categories:
        for a in await session.scalars(
            select(KbArticle).where(KbArticle.category.in_(categories)).order_by(KbArticle.title)
        ):
            articles[a.category].append(KbLink(id=a.id, title=a.title))

    history = await _service_history(session, appliance_ids)
    rules, trace = await packet_rules(session)
    sampling = TraceSampling(**trace)
    names = await _names(session, {a.installer_id for a in appliances.values() if a.installer_id})

    out: dict[uuid.UUID, JobPacket] = {}
    for job in jobs.values():
        customer = customers[job.customer_id]
        city = cities[job.city_id]
        appliance = appliances.get(job.appliance_id) if job.appliance_id else None
        category = appliance.category if appliance else "*"
        checklist = checklists.get((job.kind, category)) or checklists.get((job.kind, "*"))
        policy = policies.get(job.city_id)
        out[job.id] = JobPacket(
            job=JobInfo(
                id=job.id,
                number=job.number,
                kind=job.kind,
                priority=job.priority,
                status=job.status,
                description=job.description,
                window_start=job.window_start,
                window_end=job.window_end,
                contact_due_at=job.contact_due_at,
                onsite_due_at=job.onsite_due_at,
                previous_job_id=job.previous_job_id,
                unable_reason=job.unable_reason,
                reschedule_requested_at=job.reschedule_requested_at,
                completed_at=job.completed_at,
                cancelled_at=job.cancelled_at,
                version=job.version,
                repeat_seq=job.repeat_seq,
                is_complaint=is_complaint(job),
                parts=msgspec.convert(job.parts or [], list[PartInfo]),
            ),
            customer=CustomerInfo(
                id=customer.id,
                name=customer.name,
                phones=phones.get(customer.id, []),
                address=customer.address,
                city=city.name,
                timezone=city.timezone,
                latitude=customer.latitude,
                longitude=customer.longitude,
            ),
            appliance=None
            if appliance is None
            else ApplianceInfo(
                id=appliance.id,
                category=appliance.category,
                brand=appliance.brand,
                model=appliance.model,
                serial=appliance.serial,
                purchase_date=appliance.purchase_date,
                install_date=appliance.install_date,
                warranty_end=appliance.warranty_end,
                in_warranty=appliance.in_warranty(today),
                installed_by=names.get(appliance.installer_id) if appliance.installer_id else None,
                service_history=[v for v in history.get(appliance.id, []) if v.job_id != job.id],
            ),
            checklist=ChecklistInfo(version=checklist.version, items=list(checklist.items))
            if checklist
            else ChecklistInfo(version=0, items=[]),
            fee_policy=FeePolicyInfo(
                currency=policy.currency,
                visit_fee=policy.visit_fee,
                visit_fee_in_warranty=policy.visit_fee_in_warranty,
                items=list(policy.items),
            )
            if policy
            else None,
            evidence_rules=rules,
            kb_articles=articles.get(category, []) if appliance else [],
            location_trace=sampling,
        )
    return out


async def _names(session: AsyncSession, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.full_name).where(User.id.in_(user_ids)))
    return {uid: name for uid, name in rows.all()}


async def _service_history(
    session: AsyncSession, appliance_ids: set[uuid.UUID]
) -> dict[uuid.UUID, list[PastVisit]]:
    """Earlier visits per appliance, newest first, with what was done."""
    if not appliance_ids:
        return {}
    tech = aliased(User)
    rows = (
        await session.execute(
            select(Job, tech.full_name)
            .outerjoin(tech, tech.id == Job.technician_id)
            .where(Job.appliance_id.in_(appliance_ids))
        )
    ).all()
    job_ids = [j.id for j, _ in rows]
    summaries: dict[uuid.UUID, str] = {}
    if job_ids:
        for ev in await session.scalars(
            select(JobEvent)
            .where(
                JobEvent.job_id.in_(job_ids), JobEvent.kind.in_(["completed", "unable_to_complete"])
            )
            .order_by(JobEvent.at)
        ):
            summaries[ev.job_id] = str(
                ev.data.get("summary") or ev.data.get("note") or ev.data.get("reason") or ""
            )
    out: dict[uuid.UUID, list[PastVisit]] = defaultdict(list)
    for job, tech_name in rows:
        when = job.completed_at or job.window_start or job.created_at
        out[job.appliance_id].append(  # type: ignore[index]
            PastVisit(
                job_id=job.id,
                number=job.number,
                kind=job.kind,
                status=job.status,
                date=when,
                technician=tech_name,
                summary=summaries.get(job.id, job.unable_reason or ""),
            )
        )
    for visits in out.values():
        visits.sort(key=lambda v: v.date, reverse=True)
    return out


async def build_calendars(
    session: AsyncSession, technician_ids: Iterable[uuid.UUID], today: date
) -> dict[uuid.UUID, dict[str, Any]]:
    """The ``calendar`` document of each technician (a fixed number of queries)."""
    ids = list(dict.fromkeys(technician_ids))
    if not ids:
        return {}
    techs = {
        u.id: u.provider_id for u in await session.scalars(select(User).where(User.id.in_(ids)))
    }
    providers = {p for p in techs.values() if p is not None}
    cals = {
        c.technician_id: c
        for c in await session.scalars(
            select(TechnicianCalendar).where(TechnicianCalendar.technician_id.in_(ids))
        )
    }
    zones: dict[uuid.UUID, str] = {}
    if providers:
        for pid, tz in (
            await session.execute(
                select(provider_cities.c.provider_id, City.timezone)
                .join(City, City.id == provider_cities.c.city_id)
                .join(Provider, Provider.id == provider_cities.c.provider_id)
                .where(provider_cities.c.provider_id.in_(providers))
                .order_by(provider_cities.c.provider_id, City.code)
            )
        ).all():
            zones.setdefault(pid, tz)
    owners: Any = CalendarException.technician_id.in_(ids)
    if providers:
        owners = or_(
            owners,
            CalendarException.provider_id.in_(providers)
            & CalendarException.technician_id.is_(None),
        )
    exceptions = list(
        await session.scalars(
            select(CalendarException)
            .where(owners, CalendarException.last_day >= today)
            .order_by(CalendarException.first_day, CalendarException.id)
        )
    )
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for tid, pid in techs.items():
        cal = cals.get(tid)
        mine = [
            CalendarExceptionInfo(
                id=e.id,
                kind=e.kind,
                first_day=e.first_day,
                last_day=e.last_day,
                start=e.start,
                end=e.end,
                reason=e.reason,
                provider_wide=e.technician_id is None,
            )
            for e in exceptions
            if e.technician_id == tid or (e.technician_id is None and e.provider_id == pid)
        ]
        doc = CalendarDoc(
            technician_id=tid,
            weekly=dict(cal.weekly) if cal and cal.weekly else {},
            jobs_per_window=cal.jobs_per_window if cal else 1,
            timezone=zones.get(pid, "UTC") if pid else "UTC",
            exceptions=mine[:200],
            updated_at=cal.updated_at if cal else None,
        )
        out[tid] = msgspec.to_builtins(doc)
    return out
