"""Route guards: which roles may call a route at all. Object-level rules live in
``server.auth.scope``."""

from __future__ import annotations

from collections.abc import Callable

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from server.auth.principal import Principal
from server.db.models.user import Role
from server.errors import Forbidden

__all__ = ["ANY_ROLE", "DESK", "STAFF", "allow"]

Guard = Callable[[ASGIConnection, BaseRouteHandler], None]

ANY_ROLE = frozenset(Role)
STAFF = frozenset({Role.ADMIN, Role.DISPATCHER, Role.AUDITOR, Role.PROVIDER_MANAGER})
"""Everyone who works at a desk (each limited by scope to what they may see)."""
DESK = STAFF


def allow(*roles: Role | frozenset[Role]) -> Guard:
    allowed: set[Role] = set()
    for r in roles:
        allowed |= set(r) if isinstance(r, frozenset) else {r}
    frozen = frozenset(allowed)

    def guard(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
        principal: Principal = connection.user
        if principal.role not in frozen:
            raise Forbidden(
                "role_forbidden",
                f"A {principal.role.value.replace('_', ' ')} may not do this.",
                {"allowed_roles": sorted(r.value for r in frozen)},
            )

    guard.allowed_roles = frozen  # type: ignore[attr-defined]  # read by the permission-matrix test
    return guard
