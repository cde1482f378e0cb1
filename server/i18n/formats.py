"""Dates, times, numbers and money for people, in the city's time zone (Babel/CLDR)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import dates, numbers

DASH = "\u2013"
"""An en dash: the range sign of CLDR's interval formats."""

__all__ = ["format_date", "format_datetime", "format_money", "format_time", "window", "zone"]


def _babel(locale: str) -> str:
    return locale.replace("-", "_")


def zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_datetime(at: datetime | None, tz: str | None, locale: str, empty: str = "—") -> str:
    """``2026年12月2日 14:05`` / ``Dec 2, 2026, 2:05 PM`` in the city's zone."""
    if at is None:
        return empty
    local = at.astimezone(zone(tz))
    d = dates.format_date(local.date(), "medium", locale=_babel(locale))
    return f"{d} {format_time(at, tz, locale)}"


def format_time(at: datetime, tz: str | None, locale: str) -> str:
    """``14:05`` (24-hour in both locales: appointments are read off SMS at a glance)."""
    return dates.format_time(at.astimezone(zone(tz)), "HH:mm", locale=_babel(locale))


def format_date(day: date | datetime | None, locale: str, tz: str | None = None) -> str:
    if day is None:
        return "—"
    if isinstance(day, datetime):
        day = day.astimezone(zone(tz)).date()
    return dates.format_date(day, "medium", locale=_babel(locale))


def window(start: datetime | None, end: datetime | None, tz: str | None, locale: str) -> str:
    """An appointment: ``12月2日周三 14:00\u201316:00`` (the day once when both ends share it)."""
    if start is None:
        return ""
    z = zone(tz)
    s = start.astimezone(z)
    skeleton = "MMMEd"
    first = dates.format_skeleton(skeleton, s, locale=_babel(locale))
    if end is None:
        return f"{first} {format_time(start, tz, locale)}"
    e = end.astimezone(z)
    if e.date() == s.date():
        return f"{first} {format_time(start, tz, locale)}{DASH}{format_time(end, tz, locale)}"
    last = dates.format_skeleton(skeleton, e, locale=_babel(locale))
    return f"{first} {format_time(start, tz, locale)} {DASH} {last} {format_time(end, tz, locale)}"


def format_money(minor: int, currency: str, locale: str) -> str:
    """Minor units (fen) to ``¥1,234.50`` in either locale (CLDR writes ``CN¥`` in
    English; the brand's customers and desks read ``¥``)."""
    currency = currency or "CNY"
    if currency == "CNY":
        sign = "-" if minor < 0 else ""
        amount = numbers.format_decimal(abs(minor) / 100, "#,##0.00", locale=_babel(locale))
        return f"{sign}¥{amount}"
    return numbers.format_currency(minor / 100, currency, locale=_babel(locale))


def format_number(value: float, locale: str) -> str:
    return numbers.format_decimal(value, locale=_babel(locale))
