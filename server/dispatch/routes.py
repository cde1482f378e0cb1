"""Dispatch API: technicians' calendars and leave, providers' service areas, a city's
dispatch mode, the automatic choices (with their reasons) and the SLA alerts."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Request, delete, get, post, put
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import allow
from server.context import RequestContext
from server.db.models import (
    CalendarException,
    CityDispatch,
    DispatchAlert,
    DispatchChoice,
    ServiceArea,
    TechnicianCalendar,
    User,
)
from server.db.models.user import Role
from server.dispatch import service
from server.dispatch.calendar import WEEKDAYS
from server.dispatch.schemas import (
    AlertOut,
    AlertPage,
    CalendarIn,
    CalendarOut,
    ChoiceOut,
    CityDispatchIn,
    CityDispatchOut,
    DeclineIn,
    DispatchRunIn,
    ExceptionIn,
    ExceptionOut,
    RankedOut,
    ServiceAreaIn,
    ServiceAreaOut,
)
from server.i18n.http import request_locale
from server.jobs.schemas import reason_out

__all__ = [
    "AlertController",
    "CalendarController",
    "CityDispatchController",
    "DispatchChoiceController",
    "ProviderCalendarController",
    "ServiceAreaController",
]

R = Role
DISPATCH = allow(R.ADMIN, R.DISPATCHER, R.PROVIDER_MANAGER)
DISPATCH_OR_TECH = allow(R.ADMIN, R.DISPATCHER, R.PROVIDER_MANAGER, R.TECHNICIAN)
ADMIN = allow(R.ADMIN)


def exception_out(e: CalendarException) -> ExceptionOut:
    return ExceptionOut(
        id=e.id,
        technician_id=e.technician_id,
        provider_id=e.provider_id,
        kind=e.kind,
        first_day=e.first_day,
        last_day=e.last_day,
        start=e.start,
        end=e.end,
        reason=e.reason,
        created_at=e.created_at,
    )


def calendar_out(
    tech: User, cal: TechnicianCalendar | None, exceptions: list[CalendarException]
) -> CalendarOut:
    weekly = dict(cal.weekly) if cal and cal.weekly else {}
    return CalendarOut(
        technician_id=tech.id,
        weekly={d: weekly[d] for d in WEEKDAYS if d in weekly},
        jobs_per_window=cal.jobs_per_window if cal else 1,
        home_latitude=cal.home_latitude if cal else None,
        home_longitude=cal.home_longitude if cal else None,
        has_hours=bool(weekly),
        exceptions=[exception_out(e) for e in exceptions],
        updated_at=cal.updated_at if cal else None,
    )


def area_out(a: ServiceArea) -> ServiceAreaOut:
    return ServiceAreaOut(
        id=a.id,
        provider_id=a.provider_id,
        city_id=a.city_id,
        name=a.name,
        latitude=a.latitude,
        longitude=a.longitude,
        radius_km=a.radius_km,
        daily_jobs=a.daily_jobs,
    )


def city_dispatch_out(row: CityDispatch, stored: bool) -> CityDispatchOut:
    return CityDispatchOut(
        city_id=row.city_id,
        mode=row.mode,
        contact_warn_minutes=row.contact_warn_minutes,
        onsite_warn_minutes=row.onsite_warn_minutes,
        redispatch_urgent=row.redispatch_urgent,
        stored=stored,
    )


def choice_out(c: DispatchChoice, locale: str) -> ChoiceOut:
    from server.dispatch.assign import render

    reasons = [reason_out(r, locale) for r in c.reasons if isinstance(r, dict)]
    ranking = [
        RankedOut(
            technician_id=uuid.UUID(str(r["technician_id"])),
            full_name=str(r.get("full_name", "")),
            provider_id=uuid.UUID(str(r["provider_id"])),
            eligible=bool(r.get("eligible")),
            score=float(r.get("score") or 0.0),  # type: ignore[arg-type]
            distance_km=r.get("distance_km"),  # type: ignore[arg-type]
            summary=", ".join(
                render(x, locale)
                for x in (r.get("blockers") or r.get("reasons") or [])  # type: ignore[attr-defined]
            ),
            reasons=[reason_out(x, locale) for x in r.get("reasons") or []],  # type: ignore[attr-defined]
            blockers=[reason_out(x, locale) for x in r.get("blockers") or []],  # type: ignore[attr-defined]
        )
        for r in c.ranking
        if "technician_id" in r
    ]
    return ChoiceOut(
        id=c.id,
        job_id=c.job_id,
        at=c.at,
        trigger=c.trigger,
        mode=c.mode,
        state=c.state,
        provider_id=c.provider_id,
        technician_id=c.technician_id,
        summary=", ".join(r.text for r in reasons) or c.summary,
        reasons=reasons,
        ranking=ranking,
        decided_by=c.decided_by,
        decided_at=c.decided_at,
    )


def alert_out(a: DispatchAlert, number: str) -> AlertOut:
    return AlertOut(
        id=a.id,
        job_id=a.job_id,
        job_number=number,
        kind=a.kind,
        audience=a.audience,
        provider_id=a.provider_id,
        technician_id=a.technician_id,
        due_at=a.due_at,
        raised_at=a.raised_at,
        message=a.message,
        data=dict(a.data),
        acknowledged_at=a.acknowledged_at,
        acknowledged_by=a.acknowledged_by,
    )


async def _locale(request: Request[Any, Any, Any], db: AsyncSession, ctx: RequestContext) -> str:
    return await request_locale(request, db, ctx.principal.user_id)


class CalendarController(Controller):
    path = "/users/{user_id:uuid}/calendar"
    tags = ["dispatch"]

    @get(guards=[DISPATCH_OR_TECH])
    async def get_calendar(
        self, db: AsyncSession, ctx: RequestContext, user_id: uuid.UUID
    ) -> CalendarOut:
        """A technician's working week, capacity, home position and their leave and
        holidays from today on.

        The brand's dispatchers read anyone's; a provider's manager or dispatcher their
        own technicians'; a technician their own (the phone also gets it as the
        ``calendar`` document of the pull)."""
        tech, cal, exceptions = await service.get_calendar(db, ctx, user_id)
        return calendar_out(tech, cal, exceptions)

    @put(guards=[DISPATCH], status_code=HTTP_200_OK)
    async def put_calendar(
        self, db: AsyncSession, ctx: RequestContext, user_id: uuid.UUID, data: CalendarIn
    ) -> CalendarOut:
        """Set a technician's weekly working hours (``HH:MM`` in the time zone of the city
        the work is in), jobs per window and home position.

        Bookings and assignments outside these hours, during leave, or beyond the jobs
        per window are refused with 409 ``technician_busy`` unless a dispatcher
        overrides. Spans that overlap or end before they start: 422 ``invalid_hours``.
        The technician's phone gets the new calendar on its next pull."""
        await service.put_calendar(db, ctx, user_id, data)
        tech, cal, exceptions = await service.get_calendar(db, ctx, user_id)
        return calendar_out(tech, cal, exceptions)

    @get("/exceptions", guards=[DISPATCH_OR_TECH])
    async def list_exceptions(
        self, db: AsyncSession, ctx: RequestContext, user_id: uuid.UUID
    ) -> list[ExceptionOut]:
        """The technician's leave and extra hours and their provider's holidays, from
        today on."""
        rows = await service.list_exceptions(db, ctx, user_id=user_id, provider_id=None)
        return [exception_out(e) for e in rows]

    @post("/exceptions", guards=[DISPATCH], status_code=HTTP_201_CREATED)
    async def add_exception(
        self, db: AsyncSession, ctx: RequestContext, user_id: uuid.UUID, data: ExceptionIn
    ) -> ExceptionOut:
        """Record leave (``off``) or extra hours (``extra``) for one technician: whole
        days, or ``start``-``end`` of each day. 422 ``invalid_days`` / ``invalid_hours``."""
        row = await service.add_exception(db, ctx, data, user_id=user_id, provider_id=None)
        return exception_out(row)


class ProviderCalendarController(Controller):
    path = "/providers/{provider_id:uuid}/calendar/exceptions"
    tags = ["dispatch"]

    @get(guards=[DISPATCH])
    async def list_provider_exceptions(
        self, db: AsyncSession, ctx: RequestContext, provider_id: uuid.UUID
    ) -> list[ExceptionOut]:
        """The provider-wide exceptions (holidays) from today on."""
        rows = await service.list_exceptions(db, ctx, user_id=None, provider_id=provider_id)
        return [exception_out(e) for e in rows]

    @post(guards=[DISPATCH], status_code=HTTP_201_CREATED)
    async def add_provider_exception(
        self, db: AsyncSession, ctx: RequestContext, provider_id: uuid.UUID, data: ExceptionIn
    ) -> ExceptionOut:
        """A holiday (or extra hours) for every technician of the provider."""
        row = await service.add_exception(db, ctx, data, user_id=None, provider_id=provider_id)
        return exception_out(row)

    @delete("/{exception_id:uuid}", guards=[DISPATCH], status_code=HTTP_204_NO_CONTENT)
    async def delete_exception(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        provider_id: uuid.UUID,
        exception_id: uuid.UUID,
    ) -> None:
        """Remove an exception of the provider or of one of its technicians."""
        await service._provider(db, ctx.principal, provider_id)
        row = await db.get(CalendarException, exception_id)
        if row is None or row.provider_id != provider_id:
            from server.errors import NotFound

            raise NotFound("calendar_exception", exception_id)
        await service.delete_exception(db, ctx, exception_id)


class ServiceAreaController(Controller):
    path = "/providers/{provider_id:uuid}/service-areas"
    tags = ["dispatch"]

    @get(guards=[DISPATCH])
    async def list_areas(
        self, db: AsyncSession, ctx: RequestContext, provider_id: uuid.UUID
    ) -> list[ServiceAreaOut]:
        """Where in its cities the provider works (circles) and how many jobs a day it
        takes there. A provider with no area in a city it covers works the whole city."""
        return [area_out(a) for a in await service.list_areas(db, ctx, provider_id)]

    @post(guards=[DISPATCH], status_code=HTTP_201_CREATED)
    async def add_area(
        self, db: AsyncSession, ctx: RequestContext, provider_id: uuid.UUID, data: ServiceAreaIn
    ) -> ServiceAreaOut:
        """Add an area in a city the provider covers (422 ``provider_not_covering_city``).
        Jobs whose address lies outside every area of the city are not sent to it."""
        return area_out(await service.add_area(db, ctx, provider_id, data))

    @delete("/{area_id:uuid}", guards=[DISPATCH], status_code=HTTP_204_NO_CONTENT)
    async def delete_area(
        self, db: AsyncSession, ctx: RequestContext, provider_id: uuid.UUID, area_id: uuid.UUID
    ) -> None:
        """Remove an area."""
        await service.delete_area(db, ctx, provider_id, area_id)


class CityDispatchController(Controller):
    path = "/cities/{city_id:uuid}/dispatch"
    tags = ["dispatch"]

    @get(guards=[DISPATCH])
    async def get_city_dispatch(
        self, db: AsyncSession, ctx: RequestContext, city_id: uuid.UUID
    ) -> CityDispatchOut:
        """The city's dispatch mode (``auto``, ``suggest`` — the default — or ``manual``)
        and SLA warning times (10 minutes before the contact clock, 30 before on-site, by
        default)."""
        _ = ctx
        row, stored = await service.city_dispatch(db, city_id)
        return city_dispatch_out(row, stored)

    @put(guards=[ADMIN], status_code=HTTP_200_OK)
    async def set_city_dispatch(
        self, db: AsyncSession, ctx: RequestContext, city_id: uuid.UUID, data: CityDispatchIn
    ) -> CityDispatchOut:
        """Set the city's dispatch mode and escalation (admins, like the fee policy)."""
        row = await service.set_city_dispatch(db, ctx, city_id, data)
        return city_dispatch_out(row, True)


class DispatchChoiceController(Controller):
    path = "/jobs/{job_id:uuid}/dispatch"
    tags = ["dispatch"]

    @get(guards=[DISPATCH])
    async def list_choices(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ctx: RequestContext,
        job_id: uuid.UUID,
    ) -> list[ChoiceOut]:
        """The automatic choices made for the job, newest first, each with its reasons
        and the ranking it came from (in the caller's locale)."""
        locale = await _locale(request, db, ctx)
        return [choice_out(c, locale) for c in await service.choices(db, ctx, job_id)]

    @post(guards=[DISPATCH], status_code=HTTP_201_CREATED)
    async def run(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ctx: RequestContext,
        job_id: uuid.UUID,
        data: DispatchRunIn,
    ) -> ChoiceOut:
        """Choose again now: ``suggest`` stores a suggestion, ``auto`` assigns at once.
        State ``none``: nobody eligible (the ranking says why)."""
        locale = await _locale(request, db, ctx)
        return choice_out(await service.run_dispatch(db, ctx, job_id, data.mode), locale)

    @post("/{choice_id:uuid}/accept", guards=[DISPATCH], status_code=HTTP_200_OK)
    async def accept(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ctx: RequestContext,
        job_id: uuid.UUID,
        choice_id: uuid.UUID,
    ) -> ChoiceOut:
        """Confirm a suggestion: the job is assigned as suggested. 409 ``choice_not_open``
        when it was already decided or superseded; 409 ``technician_busy`` when the
        technician is no longer free then."""
        locale = await _locale(request, db, ctx)
        _, choice = await service.accept_choice(db, ctx, job_id, choice_id)
        return choice_out(choice, locale)

    @post("/{choice_id:uuid}/decline", guards=[DISPATCH], status_code=HTTP_200_OK)
    async def decline(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ctx: RequestContext,
        job_id: uuid.UUID,
        choice_id: uuid.UUID,
        data: DeclineIn,
    ) -> ChoiceOut:
        """Decline a suggestion (assign by hand instead)."""
        locale = await _locale(request, db, ctx)
        return choice_out(
            await service.decline_choice(db, ctx, job_id, choice_id, data.reason), locale
        )


class AlertController(Controller):
    path = "/dispatch/alerts"
    tags = ["dispatch"]

    @get(guards=[DISPATCH])
    async def list_alerts(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        open_only: Annotated[
            bool, Parameter(query="open", description="true: only unacknowledged")
        ] = True,
        audience: Literal["provider", "call_center"] | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        offset: Annotated[int, Parameter(ge=0, le=2**31 - 1)] = 0,
    ) -> AlertPage:
        """SLA alerts, newest first: a clock about to run out (``*_due_soon``, for the
        provider's dispatchers; the technician's phone was poked) or run out
        (``*_breached``, for the call center). A provider's staff see their provider's."""
        rows, total = await service.list_alerts(
            db, ctx, open_only=open_only, audience=audience, limit=limit, offset=offset
        )
        return AlertPage(items=[alert_out(a, n) for a, n in rows], total=total)

    @post("/{alert_id:uuid}/acknowledge", guards=[DISPATCH], status_code=HTTP_200_OK)
    async def acknowledge(
        self, db: AsyncSession, ctx: RequestContext, alert_id: uuid.UUID
    ) -> AlertOut:
        """Mark the alert seen (idempotent)."""
        return alert_out(*await service.acknowledge_alert(db, ctx, alert_id))
