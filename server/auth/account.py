"""Is the caller still allowed in? The account rules a valid token must also pass, in
one place: the auth middleware applies them with its own lookup, and the pull applies
them to the same row read in its own snapshot (``Account``), so a phone's poll needs
no second query and sees a disabled user, a demotion or a revoked device at once, on
every node."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select

from server.auth.principal import Principal
from server.db.engine import Database
from server.db.models.user import Device, User
from server.errors import Forbidden, Unauthorized

__all__ = ["ACCOUNT", "ACCOUNT_CHECKED", "Account", "check_account", "check_account_now"]

ACCOUNT_CHECKED = "account_checked"
"""A route's ``opt`` key: the handler itself applies ``check_account`` to the caller's
row, read in the same transaction as its data, before it answers (the pull). The
auth middleware then only verifies the token; a role guard that refuses the caller checks
the account first (``server.auth.guards``), so a stale token still answers 401."""


class Account(NamedTuple):
    """The caller's user row and the device the request names, as the database has them
    now. ``active`` is None when the user does not exist; ``device_user_id`` is None
    when no device was named or no such device exists. (A tuple: built on every poll,
    several times cheaper than a frozen dataclass.)"""

    active: bool | None
    role: str | None
    provider_id: uuid.UUID | None
    device_user_id: uuid.UUID | None = None
    device_revoked_at: datetime | str | None = None

    @classmethod
    def of(cls, row: Sequence[Any] | None) -> Account:
        """From a row that begins with ``ACCOUNT``'s columns (None: no such user)."""
        return cls(None, None, None) if row is None else cls(*row[:5])


def check_account(principal: Principal, account: Account, device_id: uuid.UUID | None) -> None:
    """Raise unless ``principal`` may still act. ``device_id`` is the device the request
    is for: the token's own (a revoked one ends the token: 401), or for a token not
    bound to a device the one it names (not the caller's or revoked: 403)."""
    if not account.active:
        raise Unauthorized("user_disabled", "This account is disabled.")
    # ``Role`` is a ``StrEnum``: it equals its text (``.value`` costs a descriptor call).
    if account.role != principal.role or account.provider_id != principal.provider_id:
        # Demoted or moved since the token was issued: its powers are stale.
        raise Unauthorized("token_expired", "This account has changed; refresh the access token.")
    if device_id is None:
        return
    mine = account.device_user_id == principal.user_id
    if principal.device_id is not None:
        if not mine or account.device_revoked_at is not None:
            raise Unauthorized("device_revoked", "This device has been revoked.")
    elif not mine:
        raise Forbidden("device_not_enrolled", "That device is not enrolled to you.")
    elif account.device_revoked_at is not None:
        raise Forbidden("device_revoked", "This device has been revoked.")


ACCOUNT = (
    select(User.active, User.role, User.provider_id, Device.user_id, Device.revoked_at)
    .select_from(User)
    .outerjoin(Device, Device.id == bindparam("device"))
    .where(User.id == bindparam("user"))
)
"""The ``Account`` of user ``:user`` with device ``:device`` (NULL: none), one row or
none. The pull reads the same columns in its head statement (``sync.pull``)."""


async def check_account_now(db: Database, principal: Principal) -> None:
    """``check_account`` for the token's own device, with a lookup of its own."""
    async with db.reader() as session:
        row = (
            await session.execute(
                ACCOUNT, {"user": principal.user_id, "device": principal.device_id}
            )
        ).one_or_none()
    check_account(principal, Account.of(row), principal.device_id)
