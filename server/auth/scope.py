"""Object-level visibility: which jobs, customers and users a caller may see.

Every read and write of a scoped object goes through these, so the rules live here
and nowhere else:

- a technician sees only jobs assigned to them (their phone gets the rest by sync);
- provider staff (managers, provider dispatchers) see their provider's jobs, the
  customers of those jobs, and their provider's people;
- the brand's staff (admins, auditors, call-center dispatchers) see everything.

What is not visible answers 404, exactly as if it did not exist.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, Select, exists, select, true

from server.auth.principal import Principal
from server.db.models import AuditEvent, Customer, Job, User
from server.errors import Forbidden, NotFound

__all__ = [
    "audit_filter",
    "blob_visible",
    "customer_filter",
    "ensure_job_visible",
    "job_filter",
    "require_brand_staff",
    "require_desk",
    "user_filter",
]


def job_filter(p: Principal) -> ColumnElement[bool]:
    if p.sees_everything:
        return true()
    if p.is_technician:
        return Job.technician_id == p.user_id
    if p.provider_id is not None:
        return Job.provider_id == p.provider_id
    return Job.id.is_(None)  # a role we do not know sees nothing


def ensure_job_visible(p: Principal, job: Job | None, ident: object) -> Job:
    if job is None:
        raise NotFound("job", ident)
    if p.sees_everything:
        return job
    if p.is_technician and job.technician_id == p.user_id:
        return job
    if not p.is_technician and p.provider_id is not None and job.provider_id == p.provider_id:
        return job
    raise NotFound("job", ident)


def customer_filter(p: Principal) -> ColumnElement[bool]:
    if p.sees_everything:
        return true()
    if p.is_technician or p.provider_id is None:
        return Customer.id.is_(None)
    return exists(
        select(Job.id).where(Job.customer_id == Customer.id, Job.provider_id == p.provider_id)
    )


def user_filter(p: Principal) -> ColumnElement[bool]:
    if p.sees_everything:
        return true()
    if p.provider_id is not None and not p.is_technician:
        return User.provider_id == p.provider_id
    return User.id == p.user_id


def audit_filter(p: Principal) -> ColumnElement[bool]:
    """The audit trail: the brand's admins and auditors read all of it; a provider's
    manager what their own provider's people did."""
    if p.sees_everything:
        return true()
    if p.provider_id is not None and not p.is_technician:
        return AuditEvent.actor_provider_id == p.provider_id
    return AuditEvent.id.is_(None)


def blob_visible(
    p: Principal, uploader_id: uuid.UUID | None, uploader_provider_id: uuid.UUID | None
) -> bool:
    """A photo or signature: the brand's staff see any; a technician the ones they
    uploaded; a provider's staff those uploaded by their provider's people."""
    if p.sees_everything:
        return True
    if p.is_technician:
        return uploader_id == p.user_id
    return p.provider_id is not None and uploader_provider_id == p.provider_id


def require_desk(p: Principal) -> None:
    """Technicians work through sync, not the desk API."""
    if p.is_technician:
        raise Forbidden("role_forbidden", "Technicians use the sync API from their phone.")


def require_brand_staff(p: Principal) -> None:
    """Callbacks and the evidence behind them are the brand's: a provider's own staff
    never see how their claims are scored."""
    if not p.sees_everything:
        raise Forbidden("brand_staff_only", "Only the brand's call center works callbacks.", {})


def scoped(stmt: Select, clause: ColumnElement[bool]) -> Select:  # type: ignore[type-arg]
    return stmt.where(clause)
