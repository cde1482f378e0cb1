"""Locales: ``zh-CN`` (the brand's default) and ``en``.

Server text lives in gettext catalogs a translator edits
(``server/i18n/locales/<locale>/LC_MESSAGES/doorstep.po``), read directly with Babel at
start-up: no compile step. Entries are keyed by a context and a code — ``msgctxt
"job_kind"`` / ``msgid "repair"``, ``msgctxt "error"`` / ``msgid "job_not_found"``,
``msgctxt "sms"`` / ``msgid "appointment_booked"`` — so a code renamed in one place
shows up as a missing key in ``tests/test_i18n.py``.

Dates, times, numbers and money are formatted with Babel's CLDR data in the city's
time zone (``server.i18n.formats``).
"""

from __future__ import annotations

from server.i18n.catalog import DEFAULT_LOCALE, LOCALES, catalog, label, negotiate, t
from server.i18n.choice import choose
from server.i18n.formats import format_date, format_datetime, format_money, format_time, window

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "catalog",
    "choose",
    "format_date",
    "format_datetime",
    "format_money",
    "format_time",
    "label",
    "negotiate",
    "t",
    "window",
]
