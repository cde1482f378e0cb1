"""Which error ``code`` each operation can answer, read from the code itself.

Why read the source: a list kept by hand beside each handler goes stale the day someone
adds a ``raise``. Instead, for every route this follows the handler's body and the
functions it calls (ours only: ``server``, ``sync``, ``evidence``; a few levels deep),
and collects every ``DoorstepError`` built with a literal code (``Invalid("code", …)``,
``NotFound("job", …)`` as ``job_not_found``, a module-level error instance raised by
name), with the status its class maps to. Calls through ``self`` and through objects
whose type the source does not name are not followed, so the list is what can certainly
happen, completed by what every route of a kind can answer:

- a route that is not public: 401 from the access-token check and the account check
  (``server.auth``); a route with guards: 403 from them;
- a route with parameters or a body: 422 from the input rules (``sync.validation``);
  a body: 400 ``malformed_json``, ``unknown_field``, ``invalid_request`` and 413
  ``request_too_large``;
- every route: 503 ``retry_later`` (the database away) and 422 ``invalid_value``.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from server.errors import DoorstepError, NotFound, RetryLater

__all__ = ["Codes", "common_codes", "handler_codes"]

Codes = dict[int, set[str]]
OURS = ("server.", "sync.", "evidence.")
MAX_DEPTH = 4
BODY_CODES: Codes = {
    400: {"malformed_json", "unknown_field", "invalid_request"},
    413: {"request_too_large"},
    422: {"invalid_text", "too_deeply_nested"},
}
EVERY_ROUTE: Codes = {503: {"retry_later"}, 422: {"invalid_value"}}


def _merge(into: Codes, more: Codes) -> Codes:
    for status, codes in more.items():
        into.setdefault(status, set()).update(codes)
    return into


def _resolve(node: ast.expr, scope: dict[str, Any]) -> Any:
    """The object a name or dotted name refers to in ``scope``, or None."""
    if isinstance(node, ast.Name):
        return scope.get(node.id, getattr(__builtins__, node.id, None))
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, scope)
        if base is None or isinstance(base, (str, int, float)):
            return None
        try:
            return inspect.getattr_static(base, node.attr)
        except AttributeError:
            return None
    return None


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _error_code(cls: type[DoorstepError], call: ast.Call) -> str | None:
    first = _literal(call.args[0]) if call.args else None
    if first is None:
        for kw in call.keywords:
            if kw.arg in ("code", "what"):
                first = _literal(kw.value)
    if issubclass(cls, NotFound):
        return None if first is None else f"{first}_not_found"
    if issubclass(cls, RetryLater):
        return "retry_later"
    return first


def _unwrap(obj: Any) -> Callable[..., Any] | None:
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    obj = inspect.unwrap(obj) if callable(obj) else obj
    if isinstance(obj, types.FunctionType) and obj.__module__.startswith(OURS):
        return obj
    return None


@cache
def _direct(fn: Callable[..., Any]) -> tuple[tuple[tuple[int, str], ...], tuple[Any, ...]]:
    """The codes ``fn`` raises itself, and the functions of ours it calls."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return (), ()
    scope = dict(getattr(fn, "__globals__", {}))
    codes: set[tuple[int, str]] = set()
    callees: list[Any] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            target = _resolve(node.func, scope)
            if isinstance(target, type) and issubclass(target, DoorstepError):
                code = _error_code(target, node)
                if code is not None:
                    codes.add((target.status, code))
                continue
            callee = _unwrap(target)
            if callee is not None and callee is not fn:
                callees.append(callee)
        elif isinstance(node, ast.Raise) and node.exc is not None:
            target = _resolve(node.exc, scope)
            if isinstance(target, DoorstepError):
                codes.add((target.status, target.code))
    return tuple(sorted(codes)), tuple(dict.fromkeys(callees))


def _collect(fn: Callable[..., Any], depth: int, seen: set[Any], out: Codes) -> None:
    if fn in seen or depth > MAX_DEPTH:
        return
    seen.add(fn)
    codes, callees = _direct(fn)
    for status, code in codes:
        out.setdefault(status, set()).add(code)
    for callee in callees:
        _collect(callee, depth + 1, seen, out)


def codes_of(functions: Iterable[Any]) -> Codes:
    """Every code the functions (and what they call) can raise, by status."""
    out: Codes = {}
    seen: set[Any] = set()
    for fn in functions:
        real = _unwrap(fn)
        if real is not None:
            _collect(real, 0, seen, out)
    return out


def _module_functions(*names: str) -> list[Any]:
    import importlib

    found = []
    for name in names:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == name:
                found += [v for v in vars(value).values() if _unwrap(v) is not None]
            elif _unwrap(value) is not None and value.__module__ == name:
                found.append(value)
    return found


def _violation_codes() -> set[str]:
    """The codes the input rules (``sync.validation``) give a parameter or a body."""
    import sync.validation as validation

    tree = ast.parse(inspect.getsource(validation))
    codes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Violation":
            code = _literal(node.args[0]) if node.args else None
            if code is not None:
                codes.add(code)
    return codes


@cache
def common_codes() -> dict[str, Codes]:
    """What every route of a kind can answer (see the module doc)."""
    auth = codes_of(
        _module_functions("server.auth.middleware", "server.auth.tokens", "server.auth.account")
    )
    guards = codes_of(_module_functions("server.auth.guards"))
    return {
        "authenticated": {401: auth.get(401, set()) | {"not_authenticated"}, 403: auth.get(403, set())},
        "guarded": {403: guards.get(403, set())},
        "input": {422: _violation_codes()},
        "body": BODY_CODES,
        "every": EVERY_ROUTE,
    }


def handler_codes(
    handler: Any, *, public: bool, has_input: bool, has_body: bool
) -> Codes:
    """The codes one route handler can answer, by status."""
    fn = getattr(handler, "fn", None)
    fn = getattr(fn, "value", fn)  # older Litestar wraps it
    out = codes_of([fn] + list(getattr(handler, "guards", None) or []))
    common = common_codes()
    if not public:
        _merge(out, common["authenticated"])
    if getattr(handler, "guards", None):
        _merge(out, common["guarded"])
    if has_input:
        _merge(out, common["input"])
    if has_body:
        _merge(out, common["body"])
    _merge(out, common["every"])
    return {s: c for s, c in out.items() if c}


def by_status(codes: Codes) -> dict[int, list[str]]:
    merged: dict[int, set[str]] = defaultdict(set)
    for status, values in codes.items():
        merged[status] |= values
    return {s: sorted(v) for s, v in sorted(merged.items())}
