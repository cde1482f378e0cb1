"""Which error ``code`` each operation can answer, read from the code itself.

Why read the source: a list kept by hand beside each handler goes stale the day someone
adds a ``raise``. Instead, for every route this follows the handler's body and the
functions it calls (ours only: ``server``, ``sync``, ``evidence``; a few levels deep),
and collects every ``DoorstepError`` built with a literal code (``Invalid(<literal code>, …)``,
``NotFound("job", …)`` as ``job_not_found``, a module-level error instance raised by
name), with the status its class maps to. Calls through ``self`` and through objects
whose type the source does not name are not followed, so the list is what can certainly
happen, completed by what every route of a kind can answer:

- a route that is not public: 401 from the access-token check and the account check
  (``server.auth``); a route with guards: 403 from them;
- a route with parameters or a body: 422 from the input rules (``sync.validation``) and
  400 ``invalid_request`` (a parameter Litestar cannot parse);
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
from sync.validation import Violation

__all__ = ["Codes", "common_codes", "handler_codes"]

Codes = dict[int, set[str]]
OURS = ("server.", "sync.", "evidence.")
MAX_DEPTH = 5
BODY_CODES: Codes = {  # the framework's, named in server.http_errors
    400: {"malformed_json", "unknown_field", "invalid_request"},
    413: {"request_too_large"},
}
EVERY_ROUTE: Codes = {503: {"retry_later"}}
INPUT_CODES: Codes = {
    422: {"invalid_value"},  # a value the database cannot hold
    400: {"invalid_request"},  # a parameter Litestar cannot parse (an enum, a UUID)
}


def _merge(into: Codes, more: Codes) -> Codes:
    for status, codes in more.items():
        into.setdefault(status, set()).update(codes)
    return into


def _resolve(node: ast.expr, scope: dict[str, Any]) -> Any:
    """The object a name or dotted name refers to in ``scope``, or None."""
    if isinstance(node, ast.Name):
        return scope.get(node.id, getattr(__builtins__, node.id, None))
    if isinstance(node, ast.Call):  # Service(db, ctx).method(): the class
        made = _resolve(node.func, scope)
        if isinstance(made, type):
            return made
        fn = _unwrap(made)  # _service(request).login(): the annotated return type
        returned = fn.__annotations__.get("return") if fn is not None else None
        if isinstance(returned, str) and fn is not None:
            returned = fn.__globals__.get(returned)
        return returned if isinstance(returned, type) else None
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, scope)
        if base is None or isinstance(base, (str, int, float)):
            return None
        try:
            return inspect.getattr_static(base, node.attr)
        except AttributeError:
            return None
    return None


def _annotated(annotation: Any, scope: dict[str, Any]) -> type | None:
    """Our class an annotation names (``X``, ``X | None``, as text or as a node)."""
    if isinstance(annotation, str):
        try:
            annotation = ast.parse(annotation, mode="eval").body
        except SyntaxError:
            return None
    if isinstance(annotation, ast.BinOp):  # X | None
        return _annotated(annotation.left, scope) or _annotated(annotation.right, scope)
    if isinstance(annotation, ast.expr):
        annotation = _resolve(annotation, scope)
    if isinstance(annotation, type) and annotation.__module__.startswith(OURS):
        return annotation
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
    return first if first is not None else _fixed_code(cls)


def _fixed_code(cls: type[DoorstepError]) -> str | None:
    """The code an error class gives itself (``super().__init__("customer_link_invalid",
    …)`` in its own ``__init__``), for errors raised with no code at the call."""
    init = cls.__dict__.get("__init__")
    if init is None or not cls.__module__.startswith(OURS):
        return None
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "__init__"
            and node.args
        ):
            return _literal(node.args[0])
    return None


def _unwrap(obj: Any) -> Callable[..., Any] | None:
    if isinstance(obj, (staticmethod, classmethod, types.MethodType)):
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
    owner = fn.__qualname__.split(".")[0] if "." in fn.__qualname__ else None
    if owner is not None and isinstance(scope.get(owner), type):
        scope.setdefault("self", scope[owner])  # self.method() of a controller
        scope.setdefault("cls", scope[owner])
    # parameters by their annotated types (service: AuthService -> AuthService.login)
    for name, annotation in getattr(fn, "__annotations__", {}).items():
        made = _annotated(annotation, scope)
        if made is not None:
            scope[name] = made
    # and local names bound to one of our classes (service = JobService(db, ctx))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            made = _resolve(node.value, scope) if isinstance(node.value, ast.Call) else None
            ours = isinstance(made, type) and made.__module__.startswith(OURS)
            if isinstance(target, ast.Name) and ours:
                scope[target.id] = made
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            made = _annotated(node.annotation, scope)
            if made is not None:
                scope[node.target.id] = made
    # what a closure holds (a guard made by all_of(TECH, rate_limit("pull")))
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            held = cell.cell_contents
        except ValueError:
            continue
        for item in held if isinstance(held, (list, tuple)) else (held,):
            callee = _unwrap(item)
            if callee is not None:
                callees.append(callee)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            target = _resolve(node.func, scope)
            if isinstance(target, type) and issubclass(target, DoorstepError):
                code = _error_code(target, node)
                if code is not None:
                    codes.add((target.status, code))
                continue
            if target is Violation:  # the input rules turn it into a 422
                code = _literal(node.args[0]) if node.args else None
                if code is not None:
                    codes.add((422, code))
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


@cache
def common_codes() -> dict[str, Codes]:
    """What every route of a kind can answer (see the module doc)."""
    auth = codes_of(
        _module_functions("server.auth.middleware", "server.auth.tokens", "server.auth.account")
    )
    guards = codes_of(_module_functions("server.auth.guards"))
    from server.input_rules import check_body
    from sync.validation import check_value

    return {
        "authenticated": {
            401: auth.get(401, set()) | {"not_authenticated"},
            403: auth.get(403, set()),
        },
        "guarded": {403: guards.get(403, set())},
        "input": _merge(codes_of([check_value]), INPUT_CODES),
        "body": _merge(codes_of([check_body]), BODY_CODES),
        "every": EVERY_ROUTE,
    }


def handler_codes(handler: Any, *, public: bool, has_input: bool, has_body: bool) -> Codes:
    """The codes one route handler can answer, by status."""
    fn = getattr(handler, "fn", None)
    fn = getattr(fn, "value", fn)  # older Litestar wraps it
    out = codes_of([fn, *(getattr(handler, "guards", None) or [])])
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
