"""What guards cost every request: none may run in Litestar's thread pool (a plain
function guard is run there, a thread hand-off per request), and ``all_of`` keeps what
its guards tell the permission matrix (that the pull's role and rate still apply is
checked by ``test_permissions.py`` and ``test_limits.py``)."""

from __future__ import annotations

import inspect
from typing import Any

from litestar.routes import HTTPRoute

from server.auth.guards import all_of, allow
from server.db.models.user import Role
from server.limits import rate_limit


def test_no_guard_runs_in_a_thread(app: Any) -> None:
    seen = 0
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for guard in handler.resolve_guards():
                seen += 1
                # Litestar wraps a plain function in AsyncCallable (run in a thread)
                assert inspect.iscoroutinefunction(guard), (route.path, guard)
    assert seen > 50  # the app's routes were looked at


def test_all_of_keeps_roles_and_rate_and_runs_each(app: Any) -> None:
    combined = all_of(allow(Role.TECHNICIAN), rate_limit("pull"))
    assert combined.allowed_roles == frozenset({Role.TECHNICIAN})  # type: ignore[attr-defined]
    assert combined.rate_kind == "pull"  # type: ignore[attr-defined]
    pull = next(
        h
        for r in app.routes
        if isinstance(r, HTTPRoute) and r.path == "/sync/v1/pull"
        for h in r.route_handlers
        if "GET" in h.http_methods  # not the automatic OPTIONS answer
    )
    (guard,) = pull.resolve_guards()  # one guard: one copy of the handler per request
    assert guard.allowed_roles == frozenset({Role.TECHNICIAN})
    assert guard.rate_kind == "pull"
