"""Domain errors. Each carries a stable ``code``; ``server.http_errors`` is the one place
that turns them (and the framework's own errors) into ``{"code", "message", "details"}``.

This module imports no web framework, so services and the sync engine can raise these.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "Conflict",
    "DoorstepError",
    "Forbidden",
    "Invalid",
    "NotFound",
    "RateLimited",
    "RetryLater",
    "Unauthorized",
]


class DoorstepError(Exception):
    """Base of every error we raise on purpose. ``status`` is the HTTP status it maps to."""

    status: ClassVar[int] = 400

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


class Invalid(DoorstepError):
    """The request is well-formed but its content breaks a rule."""

    status = 422


class Unauthorized(DoorstepError):
    status = 401


class Forbidden(DoorstepError):
    status = 403


class NotFound(DoorstepError):
    status = 404

    def __init__(self, what: str, ident: object | None = None) -> None:
        msg = (
            f"No {what.replace('_', ' ')} with that id."
            if ident is not None
            else f"No such {what}."
        )
        super().__init__(f"{what}_not_found", msg, {"id": str(ident)} if ident is not None else {})


class Conflict(DoorstepError):
    """The request clashes with the current state (a closed job, a duplicate, a taken task)."""

    status = 409


class RateLimited(DoorstepError):
    status = 429

    def __init__(self, code: str, message: str, retry_after: int) -> None:
        super().__init__(code, message, {"retry_after": retry_after})
        self.retry_after = retry_after


class RetryLater(DoorstepError):
    """A transient failure (database busy or unreachable): nothing was lost, try again."""

    status = 503

    def __init__(
        self, message: str = "The service is busy; try again shortly.", retry_after: int = 2
    ):
        super().__init__("retry_later", message, {"retry_after": retry_after})
        self.retry_after = retry_after
