"""Signed, expiring, revocable links to a job's customer page.

A token is ``<link id hex>.<expiry unix seconds>.<HMAC-SHA256>`` under the server's
signing key and a purpose of its own (a service-report token can never open a customer
page, nor the other way round). The ``customer_links`` row behind it is what makes it
revocable, and names the job: a token carries no job id.

What a bad link answers (the code says which, the page says only "not valid"):
``404 customer_link_invalid`` (tampered, malformed, unknown, or its job is gone),
``410 customer_link_expired``, ``410 customer_link_revoked``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import CustomerLink, Job
from server.errors import DoorstepError

__all__ = [
    "LinkError",
    "LinkExpired",
    "LinkInvalid",
    "LinkRevoked",
    "csrf_token",
    "issue",
    "make_token",
    "open_link",
    "page_url",
    "verify_csrf",
]

_PURPOSE = b"doorstep.customer-page.v1"
_CSRF = b"doorstep.customer-page.form.v1"


class LinkError(DoorstepError):
    status: ClassVar[int] = 404


class LinkInvalid(LinkError):
    status: ClassVar[int] = 404

    def __init__(self) -> None:
        super().__init__("customer_link_invalid", "This link is not valid.")


class LinkExpired(LinkError):
    status: ClassVar[int] = 410

    def __init__(self) -> None:
        super().__init__("customer_link_expired", "This link has expired.")


class LinkRevoked(LinkError):
    status: ClassVar[int] = 410

    def __init__(self) -> None:
        super().__init__("customer_link_revoked", "This link was withdrawn.")


def _mac(key: str, purpose: bytes, payload: str) -> str:
    digest = hmac.new(key.encode(), purpose + b"." + payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_token(key: str, link: CustomerLink) -> str:
    payload = f"{link.id.hex}.{int(link.expires_at.timestamp())}"
    return f"{payload}.{_mac(key, _PURPOSE, payload)}"


def page_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/c/{token}"


async def issue(
    session: AsyncSession,
    job: Job,
    *,
    key: str,
    now: datetime,
    days: int,
    reason: str = "booking",
    created_by: uuid.UUID | None = None,
) -> tuple[CustomerLink, str]:
    """A new link row for ``job`` and its token."""
    link = CustomerLink(
        id=uuid.uuid4(),
        job_id=job.id,
        created_at=now,
        created_by=created_by,
        reason=reason,
        expires_at=(now + timedelta(days=max(1, days))).replace(microsecond=0),
    )
    session.add(link)
    await session.flush()
    return link, make_token(key, link)


def _parse(key: str, token: str) -> tuple[uuid.UUID, int]:
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 200:
        raise LinkInvalid()
    link_hex, expiry, mac = parts
    if not hmac.compare_digest(_mac(key, _PURPOSE, f"{link_hex}.{expiry}"), mac):
        raise LinkInvalid()
    try:
        return uuid.UUID(hex=link_hex), int(expiry)
    except ValueError as exc:
        raise LinkInvalid() from exc


async def open_link(
    session: AsyncSession, key: str, token: str, now: datetime
) -> tuple[CustomerLink, Job]:
    """The link and its job, or a ``LinkError``. The MAC is checked before the database
    is asked, so a guessed token costs no query."""
    link_id, expiry = _parse(key, token)
    link = await session.get(CustomerLink, link_id)
    if link is None:
        raise LinkInvalid()
    if link.revoked_at is not None:
        raise LinkRevoked()
    if now.timestamp() >= expiry or now >= link.expires_at:
        raise LinkExpired()
    job = await session.get(Job, link.job_id)
    if job is None:
        raise LinkInvalid()
    return link, job


def csrf_token(key: str, link_id: uuid.UUID) -> str:
    """The hidden field of every form on the page: a MAC of the link under a purpose of
    its own. A page of another site cannot know it, so it cannot post for the customer."""
    return _mac(key, _CSRF, link_id.hex)


def verify_csrf(key: str, link_id: uuid.UUID, value: str | None) -> bool:
    return bool(value) and hmac.compare_digest(csrf_token(key, link_id), value or "")
