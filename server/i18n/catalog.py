"""The message catalogs and the choice of a locale."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from babel.messages.pofile import read_po

__all__ = ["DEFAULT_LOCALE", "LOCALES", "catalog", "label", "match", "negotiate", "pick", "t"]

LOCALES = ("zh-CN", "en")
"""Every locale the server speaks, the brand's default first."""

DEFAULT_LOCALE = "zh-CN"

_DIR = Path(__file__).parent / "locales"
_TAG = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$")

Key = tuple[str, str]
"""``(context, id)``"""


def _folder(locale: str) -> str:
    return locale.replace("-", "_")


@functools.cache
def catalog(locale: str) -> dict[Key, str]:
    """Every translated entry of one locale (untranslated and fuzzy entries left out,
    so they fall back rather than show an empty string)."""
    path = _DIR / _folder(locale) / "LC_MESSAGES" / "doorstep.po"
    with path.open("rb") as f:
        po = read_po(f, locale=_folder(locale))
    out: dict[Key, str] = {}
    for m in po:
        if not m.id or m.fuzzy or not isinstance(m.id, str) or not isinstance(m.string, str):
            continue
        if m.string:
            out[(m.context or "", m.id)] = m.string
    return out


def match(tag: str) -> str | None:
    """The shipped locale a language tag means (``zh-TW`` → ``zh-CN``, ``en-GB`` →
    ``en``), or None."""
    tag = tag.strip().lower().replace("_", "-")
    if not tag or not _TAG.match(tag):
        return None
    if tag.startswith("zh"):
        # Traditional-script and Taiwan/Hong Kong readers still read Simplified better
        # than English; zh-CN is the only Chinese we ship.
        return "zh-CN"
    if tag == "en" or tag.startswith("en-"):
        return "en"
    return None


def negotiate(header: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The best of ``LOCALES`` for an ``Accept-Language`` header (q-values honoured);
    ``default`` when nothing in it matches. A malformed header is ignored, never an
    error."""
    if not header:
        return default
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        found = match(tag)
        if found is not None and q > 0:
            ranked.append((-q, i, found))
    if not ranked:
        return default
    return min(ranked)[2]


def pick(locale: str | None) -> str:
    """``locale`` if we ship it (``zh``, ``zh_CN`` and ``en-GB`` are understood), else the
    default."""
    return (match(locale) if locale else None) or DEFAULT_LOCALE


def t(locale: str, context: str, key: str, default: str | None = None, **params: object) -> str:
    """The entry ``(context, key)`` in ``locale``, else in English, else ``default`` (or
    the key). ``{name}`` placeholders are filled from ``params``; a translation with a
    broken placeholder falls back to English rather than fail a request."""
    text = catalog(pick(locale)).get((context, key))
    if text is None:
        text = catalog("en").get((context, key))
    if text is None:
        text = default if default is not None else key
    if not params:
        return text
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        english = catalog("en").get((context, key), default or key)
        try:
            return english.format(**params)
        except (KeyError, IndexError, ValueError):
            return english


def label(locale: str, context: str, code: str | None) -> str:
    """A code's label (``label(loc, "job_kind", "repair")`` → "维修"); an unknown code
    reads as itself, never as an error."""
    if not code:
        return "—"
    return t(locale, context, code, default=code)
