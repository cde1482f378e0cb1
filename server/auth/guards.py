"""Route guards: which roles may call a route at all. Object-level rules live in
``server.auth.scope``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from server.auth.account import ACCOUNT_CHECKED, check_account_now
from server.auth.principal import Principal
from server.db.engine import Database
from server.db.models.user import Role
from server.errors import Forbidden

__all__ = ["ANY_ROLE", "DESK", "STAFF", "all_of", "allow", "require_role"]

Guard = Callable[[ASGIConnection, BaseRouteHandler], Awaitable[None]]

ANY_ROLE = frozenset(Role)
STAFF = frozenset({Role.ADMIN, Role.DISPATCHER, Role.AUDITOR, Role.PROVIDER_MANAGER})
"""Everyone who works at a desk (each limited by scope to what they may see)."""
DESK = STAFF


async def require_role(
    principal: Principal, allowed: frozenset[Role], opt: Mapping[str, Any], db: Database
) -> None:
    """Raise unless ``principal``'s role is ``allowed`` on a route with options ``opt``:
    the rule of every role guard, and of the lean poll route (``server.sync_api.lean``)."""
    if principal.role not in allowed:
        if opt.get(ACCOUNT_CHECKED):
            # The middleware left the account to the handler: a token whose role
            # is stale is a 401 (refresh it), not this 403.
            await check_account_now(db, principal)
        raise Forbidden(
            "role_forbidden",
            f"A {principal.role.value.replace('_', ' ')} may not do this.",
            {"allowed_roles": sorted(r.value for r in allowed)},
        )


def allow(*roles: Role | frozenset[Role]) -> Guard:
    allowed: set[Role] = set()
    for r in roles:
        allowed |= set(r) if isinstance(r, frozenset) else {r}
    frozen = frozenset(allowed)

    # Async on purpose: Litestar runs a plain function guard in its thread pool, one
    # thread hand-off per request for a set lookup.
    async def guard(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
        await require_role(connection.user, frozen, _handler.opt, connection.app.state.db)

    guard.allowed_roles = frozen  # type: ignore[attr-defined]  # read by the permission-matrix test
    return guard


def all_of(*guards: Guard) -> Guard:
    """Several guards run as one, in order. Litestar copies the route handler for every
    guard it calls (about 10 µs each), so a route called all day is better off with one.
    Keeps what the guards tell about themselves (``allowed_roles``, ``rate_kind``)."""

    async def guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        for each in guards:
            await each(connection, handler)

    for each in guards:
        for attr in ("allowed_roles", "rate_kind"):
            if hasattr(each, attr):
                setattr(guard, attr, getattr(each, attr))
    return guard
