"""The edge: every request's input obeys ``sync.validation`` before a handler (and so
any database) sees it. Two hooks, installed by ``create_app``:

- ``CheckedRequest`` (the app's request class) checks a JSON body as raw bytes when it
  is read: nesting deeper than ``MAX_DEPTH`` is 400 ``too_deeply_nested`` before the
  decoder recurses into it; an escaped NUL is 422 ``invalid_text``. A route whose
  handler reads its body itself and judges each part (``opt={RAW_BODY: Doc}``: the
  push) keeps the depth check only.
- ``install`` wraps every route's parameter parsing: the parsed query, path and header
  parameters and body are walked (``check_value``) — a NUL in any text, a time without
  an offset or outside 2000-2100, an integer beyond 64 bits is 422 with the field
  named in ``details.field``.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler

from server.errors import DoorstepError, Invalid
from sync.validation import MAX_DEPTH, Violation, check_value, json_too_deep, raw_has_nul

__all__ = ["RAW_BODY", "CheckedRequest", "install"]

RAW_BODY = "raw_body"
"""Route option: the handler reads the raw body (documented as this Struct) and checks
its parts itself; the edge still bounds its nesting."""
_CHECKED = "doorstep.body_checked"
_NOT_INPUT = {"request", "socket", "state", "scope", "headers", "cookies", "body"}


class TooDeeplyNested(DoorstepError):
    status = 400


def _violation(v: Violation) -> Invalid:
    details: dict[str, Any] = {"field": v.field} if v.field else {}
    details.update(v.details or {})
    return Invalid(v.code, v.message, details)


def check_body(body: bytes, *, texts: bool = True) -> None:
    """The raw-bytes rules of a JSON body (see the module's doc)."""
    if json_too_deep(body):
        raise TooDeeplyNested(
            "too_deeply_nested",
            f"The request body nests deeper than {MAX_DEPTH} levels.",
            {"max_depth": MAX_DEPTH},
        )
    if texts and raw_has_nul(body):
        raise Invalid(
            "invalid_text", "A text in the request contains a NUL character (\\u0000).", {}
        )


class CheckedRequest(Request[Any, Any, Any]):
    async def body(self) -> bytes:
        body = await super().body()
        if body and not self.scope.get(_CHECKED):  # type: ignore[misc]
            self.scope[_CHECKED] = True  # type: ignore[literal-required]
            if body.lstrip()[:1] in (b"{", b"["):
                raw = RAW_BODY in self.route_handler.opt
                check_body(body, texts=not raw)
        return body


def _wrap(handler: HTTPRouteHandler) -> None:
    model = handler.signature_model
    if getattr(model, "_doorstep_checked", False):
        return
    parse = model.parse_values_from_connection_kwargs
    skip = _NOT_INPUT | set(handler.resolve_dependencies())

    def parse_and_check(connection: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        values = parse(connection=connection, kwargs=kwargs)
        for name, value in values.items():
            if name not in skip:
                try:
                    check_value(value, "" if name == "data" else name)
                except Violation as v:
                    raise _violation(v) from None
        return values

    model.parse_values_from_connection_kwargs = parse_and_check  # type: ignore[method-assign]
    model._doorstep_checked = True  # type: ignore[attr-defined]


def install(app: Litestar) -> None:
    """Wrap the parameter parsing of every HTTP route of ``app``."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler):
                _wrap(handler)
