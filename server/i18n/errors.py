"""Error messages in the caller's language: the ``code`` stays as it is, the
``message`` comes from the catalog (``msgctxt "error"``, keyed by code) in the locale
``Accept-Language`` asks for, else the English sentence the server raised."""

from __future__ import annotations

from typing import Any

from server.i18n.catalog import catalog, negotiate

__all__ = ["localize_message", "localized"]


def localize_message(code: str, english: str, accept_language: str | None) -> str:
    # API callers that say nothing get English: the error contract predates locales,
    # and phones pick their language with the header.
    locale = negotiate(accept_language, default="en")
    if locale == "en":
        return english
    return catalog(locale).get(("error", code), english)


def localized(handler: Any) -> Any:
    """Wrap an exception handler so its ``ErrorBody`` message follows Accept-Language."""

    def handle(request: Any, exc: Exception) -> Any:
        response = handler(request, exc)
        body = getattr(response, "content", None)
        code, message = getattr(body, "code", None), getattr(body, "message", None)
        if isinstance(code, str) and isinstance(message, str):
            body.message = localize_message(  # type: ignore[union-attr]
                code, message, request.headers.get("accept-language")
            )
        return response

    return handle
