"""The installer rule: completing an install job makes its technician the appliance's
installer (and the day its install date, for the warranty), so that later after-sales
work on the appliance is routed to them first."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Appliance, City, Job, JobEvent
from server.jobs.history import record_change
from sync.vocabulary import JobKind, JobStatus

__all__ = ["on_job_event"]


async def on_job_event(session: AsyncSession, job: Job, event: JobEvent) -> None:
    if event.kind != JobStatus.COMPLETED.value or job.kind != JobKind.INSTALL:
        return
    if job.appliance_id is None or job.technician_id is None:
        return
    appliance = await session.get(Appliance, job.appliance_id, with_for_update=True)
    if appliance is None:
        return
    city = await session.get(City, job.city_id)
    day = _local_day(event, city.timezone if city else "UTC")
    before = {
        "installer_id": str(appliance.installer_id) if appliance.installer_id else None,
        "installer_provider_id": (
            str(appliance.installer_provider_id) if appliance.installer_provider_id else None
        ),
        "install_date": appliance.install_date.isoformat() if appliance.install_date else None,
    }
    appliance.installer_id = job.technician_id
    appliance.installer_provider_id = job.provider_id
    appliance.install_date = day
    appliance.updated_at = event.at
    await session.flush()
    # History only (a fact): the job itself is as the completion left it.
    await record_change(
        session,
        job,
        "installer_recorded",
        {
            "appliance_id": str(appliance.id),
            "installer_id": str(job.technician_id),
            "installer_provider_id": str(job.provider_id) if job.provider_id else None,
            "install_date": day.isoformat(),
            "before": before,
        },
        now=event.at,
        actor_id=None,
        actor_role=None,
        source="system",
        fact=True,
    )


def _local_day(event: JobEvent, timezone: str) -> date:
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return event.at.astimezone(zone).date()
