"""Which locale a request is answered in."""

from __future__ import annotations

from server.i18n.catalog import DEFAULT_LOCALE, match, negotiate

__all__ = ["choose"]


def choose(
    query_lang: str | None = None,
    user_locale: str | None = None,
    accept_language: str | None = None,
    default: str = DEFAULT_LOCALE,
) -> str:
    """``?lang=`` first (a link or a language switch), then the signed-in user's
    preference, then the browser's ``Accept-Language``, then the brand's default."""
    for explicit in (query_lang, user_locale):
        found = match(explicit) if explicit else None
        if found is not None:
            return found
    return negotiate(accept_language, default)
