"""The one place where errors become HTTP answers: ``{"code", "message", "details"}``.

Every 4xx carries a stable ``code``; a 5xx never carries a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from server.db.failures import classify
from server.errors import DoorstepError, RateLimited, RetryLater
from server.i18n.errors import localized

__all__ = ["ERROR_STATUSES", "ErrorBody", "exception_handlers"]

log = logging.getLogger("doorstep.errors")


class ErrorBody(msgspec.Struct):
    code: str
    """Stable, machine-readable (``job_not_found``, ``invalid_window``…)."""
    message: str
    """A sentence a person can read."""
    details: dict[str, Any] = {}


ERROR_STATUSES = {
    400: "The request could not be read (malformed JSON, unknown field, wrong type).",
    401: "No valid access token.",
    403: "The caller's role or scope does not allow this.",
    404: "No such resource, or not visible to the caller.",
    408: "The request body arrived too slowly; nothing of it was kept, send it again.",
    409: "The request clashes with the current state.",
    413: "The request body or the blob is larger than allowed.",
    415: "The blob's type is not accepted.",
    422: "The request breaks a rule (an end before a start, a technician of another provider…).",
    429: "Too many requests; see Retry-After.",
    503: "Temporarily unavailable; nothing was lost, retry after Retry-After seconds.",
}

_HTTP_CODES = {
    400: "invalid_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _respond(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    return Response(
        content=ErrorBody(code=code, message=message, details=details or {}),
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def _domain(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, DoorstepError)
    headers = None
    if isinstance(exc, RateLimited | RetryLater):
        headers = {"Retry-After": str(exc.retry_after)}
    return _respond(exc.status, exc.code, exc.message, exc.details, headers)


def _client_code(exc: BaseException, message: str, extra: Any) -> str:
    """Tell unreadable JSON from readable JSON of the wrong shape, by the msgspec error
    underneath the framework's exception."""
    text = f"{message} {extra}"
    if "unknown field" in text:
        return "unknown_field"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, msgspec.ValidationError):
            return "invalid_request"
        if isinstance(cause, msgspec.DecodeError):
            return "malformed_json"
        cause = cause.__cause__ or cause.__context__
    if "malformed" in text.lower() or "truncated" in text.lower():
        return "malformed_json"
    return "invalid_request"


def _validation(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, ValidationException)
    message = exc.detail or "The request is not valid."
    details: dict[str, Any] = {"errors": exc.extra} if exc.extra else {}
    return _respond(400, _client_code(exc, message, exc.extra), message, details)


def _http(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status >= 500:
        log.error("http error %s: %s", status, exc.detail)
        return _respond(status, "internal_error", "Something went wrong on our side.")
    message = exc.detail or "Request refused."
    code = _HTTP_CODES.get(status, "http_error")
    if status == 400:
        code = _client_code(exc, message, exc.extra)
    if isinstance(exc, NotFoundException) and message == "Not Found":
        message = "No such resource."
    details: dict[str, Any] = {"errors": exc.extra} if exc.extra else {}
    return _respond(status, code, message, details, exc.headers)


def _database(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # What kind of failure decides the answer (server.db.failures): only busy, locked,
    # unreachable or serialization failures are worth retrying (503); a value the
    # database cannot hold is the caller's (422); a constraint is a race lost to another
    # writer (our own conflicts are checked before writing: 409).
    kind = classify(exc)
    if kind == "data":
        log.info("data error on %s %s", request.method, request.url.path)
        return _respond(422, "invalid_value", "A value is out of the range the service accepts.")
    if kind == "integrity":
        log.warning("integrity race on %s %s", request.method, request.url.path)
        return _respond(409, "conflict", "Another change got there first; read and try again.")
    if kind != "transient":
        return _unexpected(request, exc)
    log.warning(
        "database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    err = RetryLater()
    return _respond(503, err.code, err.message, err.details, {"Retry-After": str(err.retry_after)})


def _statement(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # A value SQLAlchemy could not bind (a time that overflows on conversion to UTC): the
    # edge should have refused it first (server.input_rules); never a 500.
    assert isinstance(exc, StatementError)
    if isinstance(exc, DBAPIError):
        return _database(request, exc)
    if isinstance(exc.orig, OverflowError | ValueError):
        log.warning("unbindable value on %s %s", request.method, request.url.path)
        return _respond(422, "invalid_value", "A value is out of the range the service accepts.")
    return _unexpected(request, exc)


def _overflow(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # A number too large for the database's integers (SQLite raises this before the
    # statement runs): the caller's value, not our fault.
    log.info("value out of range on %s %s", request.method, request.url.path)
    return _respond(422, "invalid_value", "A value is out of the range the service accepts.")


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _respond(
        HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our side."
    )


exception_handlers: dict[type[Exception] | int, Any] = {
    DoorstepError: _domain,
    ValidationException: _validation,
    HTTPException: _http,
    OperationalError: _database,
    DBAPIError: _database,
    PoolTimeout: _database,
    IntegrityError: _database,
    DataError: _database,
    StatementError: _statement,
    OverflowError: _overflow,
    Exception: _unexpected,
}
# ``message`` in the caller's language (Accept-Language), ``code`` unchanged.
exception_handlers = {k: localized(v) for k, v in exception_handlers.items()}
