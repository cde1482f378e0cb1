"""The poll's lean route: ``GET /sync/v1/pull`` answered without Litestar's per-request
machinery, every other request (and any pull this route does not take) left to Litestar.

Why: a phone polls all day, and an empty poll's own work is a token look-up, a rate
take, a cursor look-up and one SQLite statement, tens of microseconds. Litestar's path
around it (the router, the middleware chain, a ``Request``, a copy of the route handler
for the guard, the parameter model, a ``Response``) cost several times that
(``docs/performance.md``, "The poll's lean route").

What stays the same, because it is the same code:

- the route is still declared in ``server.sync_api.routes`` (the OpenAPI document, the
  guards, the options); this route reads its rules from that declaration: the roles
  and the rate kind of its guard (``allowed_roles``, ``rate_kind``), its ``opt``, its
  exception handlers;
- admission control: ``server.admission.Admission`` (the app's ``AdmissionMiddleware``'s),
  first, before the token check: a saturated node sheds the poll alike;
- the caller: ``server.auth.middleware.authenticate``; the role:
  ``server.auth.guards.require_role``; the rate: ``Limiter.check``; the answer:
  ``server.sync_api.routes.pull_body``; the timing: ``server.metrics.record`` (the
  metrics middleware's);
- errors: Litestar's own exception middleware with the route's exception handlers
  (called only for a refusal), so a refusal has the same status, body (in the caller's
  language) and headers, and is logged and hooked alike.

The route takes only plain queries: each of ``cursor``, ``limit``, ``device_id`` at most
once, in the characters the server's own values use (base64url cursors, lower-case ids),
within the route's bounds. Anything else (percent-escapes, an unknown or repeated
parameter, a limit out of range) goes to Litestar before anything happened, which then
parses and refuses it as it always did.
Which of the two paths answered is not visible in the answer
(``tests/test_lean_pull.py`` compares bytes, status and headers)."""

from __future__ import annotations

import functools
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from litestar import Litestar

# Litestar's own error path (private: it left the public API in 2.0; litestar < 3 is
# pinned, and tests/test_lean_pull.py fails if its answers ever differ).
from litestar.middleware._internal.exceptions.middleware import ExceptionHandlerMiddleware

from server.admission import Admission, AdmissionMiddleware
from server.auth.guards import require_role
from server.auth.middleware import AuthMiddleware, authenticate
from server.limits import Limiter, device_key
from server.metrics import MetricsMiddleware, record
from server.sync_api.routes import CURSOR_MAX, LIMIT_DEFAULT, LIMIT_MAX, PULL_PATH, pull_body

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler
    from litestar.types import Receive, Scope, Send

__all__ = ["DoorstepApp", "LeanPull", "install", "plain_query"]

_PARAMS = "doorstep.pull_params"
_VALUES = {
    "cursor": re.compile(rf"[A-Za-z0-9_.\-]{{1,{CURSOR_MAX}}}"),  # base64url and a dot
    "limit": re.compile(r"[1-9][0-9]{0,3}"),
    "device_id": re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
}


@functools.lru_cache(maxsize=4096)
def plain_query(query: bytes) -> tuple[str | None, int, uuid.UUID | None] | None:
    """The pull's ``cursor``, ``limit`` and ``device_id`` of a plain query (see the
    module's doc), or None. Remembered: a phone at the head sends the same query all day."""
    found: dict[str, str] = {}
    for part in query.split(b"&") if query else ():
        key, eq, raw = part.partition(b"=")
        name, value = key.decode("latin-1"), raw.decode("latin-1")
        pattern = _VALUES.get(name)
        if not eq or pattern is None or name in found or pattern.fullmatch(value) is None:
            return None
        found[name] = value
    limit = int(found.get("limit", LIMIT_DEFAULT))
    if limit > LIMIT_MAX:
        return None
    device = found.get("device_id")
    return found.get("cursor"), limit, uuid.UUID(device) if device is not None else None


class LeanPull:
    """The poll's route (an ASGI app given the parameters ``plain_query`` found)."""

    def __init__(
        self, app: Litestar, handler: HTTPRouteHandler, admission: Admission | None = None
    ) -> None:
        guards = handler.resolve_guards()
        if len(guards) != 1:  # the rules are read from the one guard (``all_of``)
            raise RuntimeError(f"{PULL_PATH}: expected one guard, found {len(guards)}")
        self.allowed = guards[0].allowed_roles  # type: ignore[attr-defined]
        self.rate_kind: str = guards[0].rate_kind  # type: ignore[attr-defined]
        self.handler, self.opt, self.state = handler, handler.opt, app.state
        self.exception_handlers = handler.resolve_exception_handlers()
        self.admission = admission
        """The node's admission control (the app's ``AdmissionMiddleware``'s), or None."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # What Litestar's router would have put there (the metrics, the error path and
        # the exception handlers' ``Request`` read them).
        scope["path_template"] = PULL_PATH
        scope["route_handler"] = self.handler
        scope["path_params"] = {}
        start = time.perf_counter()
        admission = self.admission
        if admission is not None:  # as AdmissionMiddleware does, before the token check
            reason = admission.refusal(PULL_PATH)
            if reason is not None:
                try:
                    await admission.shed(scope, send, PULL_PATH, reason)
                finally:
                    record(scope, 503, start)
                return
            admission.in_flight += 1
        status = 0
        try:
            try:
                body = await self._body(scope)
            except Exception as exc:
                status = await self._refuse(scope, receive, send, exc)
                return
            # Litestar's headers for ``Response(body, media_type=MediaType.JSON)``, in
            # its order. A failure to send is the server's to handle, as on Litestar's path.
            length = b"%d" % len(body)
            headers = [(b"content-type", b"application/json"), (b"content-length", length)]
            status = 200
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
        finally:
            record(scope, status, start)  # as MetricsMiddleware does
            if admission is not None:
                admission.in_flight -= 1

    async def _body(self, scope: Scope) -> bytes:
        state = self.state
        principal, claims = authenticate(scope, state.signer)
        scope["user"], scope["auth"] = principal, claims
        await require_role(principal, self.allowed, self.opt, state.db)
        limiter: Limiter | None = state.get("limiter")
        if limiter is not None:
            await limiter.check(self.rate_kind, device_key(principal))
        cursor, limit, device = scope[_PARAMS]  # type: ignore[literal-required]
        return await pull_body(state, principal, cursor, limit, device)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> int:
        """Answer ``exc`` through Litestar's own exception middleware with the route's
        exception handlers (its logging and hooks included), as Litestar's path would;
        the status it sent. Only a refusal pays for the middleware."""
        status = 0

        async def raise_it(*_: Any) -> None:
            raise exc

        async def sent(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await ExceptionHandlerMiddleware(raise_it, None, self.exception_handlers)(
            scope, receive, sent
        )
        return status


class DoorstepApp(Litestar):
    """The Litestar app, with the poll's lean route in front (``install``)."""

    lean_pull: LeanPull | None = None
    """None: every request goes through Litestar (also how the tests compare)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        lean = self.lean_pull
        if (
            lean is not None
            and scope["type"] == "http"
            and scope["path"] == PULL_PATH
            and scope["method"] == "GET"
            and not scope.get("root_path")
        ):
            params = plain_query(scope["query_string"])
            if params is not None:
                # What Litestar's own entry point does before routing.
                scope["app"] = scope["litestar_app"] = self
                scope.setdefault("state", {})
                scope[_PARAMS] = params
                await lean(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def install(app: DoorstepApp) -> None:
    """Put the lean route in front of ``app``'s pull, unless the app is configured with
    something this route does not do (hooks, CORS, compression, allowed hosts, CSRF,
    a response cache, response headers or cookies, other middleware): then every pull
    keeps Litestar's path."""
    handler: HTTPRouteHandler | None = None
    for route in app.routes:
        if route.path == PULL_PATH:
            handler = route.route_handler_map["GET"][0]  # type: ignore[union-attr]
    if handler is None:
        raise RuntimeError(f"no route {PULL_PATH}")
    extras = (
        app.before_send,
        app.after_exception,
        app.cors_config,
        app.compression_config,
        app.allowed_hosts,
        app.csrf_config,
        handler.cache,
        handler.resolve_before_request(),
        handler.resolve_after_response(),
        handler.resolve_response_headers(),
        handler.resolve_response_cookies(),
        [layer.after_request for layer in handler.ownership_layers if layer.after_request],
    )
    defined = handler.resolve_middleware()
    middleware = [getattr(m, "middleware", m) for m in defined]
    if any(extras) or middleware not in (
        [AuthMiddleware, MetricsMiddleware],  # inner first
        [AuthMiddleware, AdmissionMiddleware, MetricsMiddleware],
    ):
        return
    admission: Admission | None = None
    if AdmissionMiddleware in middleware:
        admission = defined[middleware.index(AdmissionMiddleware)].kwargs["admission"]  # type: ignore[union-attr]
    app.lean_pull = LeanPull(app, handler, admission)
