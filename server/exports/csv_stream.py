"""The one CSV writer of the API, and the streamed download every list export uses.

A file is RFC 4180 (CRLF line ends, quoted where needed), UTF-8, a header row of stable
English snake_case column names, then one line per item with the values the list
endpoint returns as JSON: ids and times as the same strings (times in UTC, ISO 8601 with
``Z``), ``true``/``false``, empty cells for nulls, lists and objects as compact JSON.
Text a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``…) gets a leading
``'``.

Exports are streamed (``server.exports.http.csv_response``): rows are read from the database a
page at a time in a read transaction of their own, one snapshot for the whole file, and
written as they come, so a year of jobs never sits in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.engine import Database

__all__ = [
    "CSV_MEDIA_TYPE",
    "PAGE",
    "cell",
    "columns_of",
    "csv_text",
    "offset_pages",
    "stream_rows",
]

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
PAGE = 500
"""Rows read from the database per query."""
_FLUSH_AT = 64 * 1024
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list | dict):
        return msgspec.json.encode(value).decode()
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_STARTS) else value
    return str(value)


def columns_of(struct: type[msgspec.Struct], *, drop: Iterable[str] = ()) -> list[str]:
    """A wire Struct's field names, in order (the export's columns)."""
    dropped = set(drop)
    return [f.name for f in msgspec.structs.fields(struct) if f.name not in dropped]


def _row(item: Any, columns: Sequence[str]) -> list[str]:
    data = item if isinstance(item, Mapping) else msgspec.to_builtins(item)
    return [cell(data.get(c)) for c in columns]


def csv_text(columns: Sequence[str], items: Iterable[Any]) -> str:
    """A whole file at once (small exports: the scorecards)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for item in items:
        writer.writerow(_row(item, columns))
    return buf.getvalue()


async def stream_rows(columns: Sequence[str], items: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """The header, then the items (Structs or mappings) as CSV, in chunks of ~64 KiB."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    async for item in items:
        writer.writerow(_row(item, columns))
        if buf.tell() >= _FLUSH_AT:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


async def offset_pages(
    db: Database, fetch: Callable[[AsyncSession, int, int], Awaitable[Sequence[Any]]]
) -> AsyncIterator[Any]:
    """Every item ``fetch(session, limit, offset)`` gives, a page at a time, in one read
    transaction (on PostgreSQL ``REPEATABLE READ``: every page sees the same snapshot, so
    rows neither repeat nor go missing while others write)."""
    async with db.reader() as session:
        if not db.is_sqlite:
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        offset = 0
        try:
            while True:
                page = await fetch(session, PAGE, offset)
                for item in page:
                    yield item
                if len(page) < PAGE:
                    return
                offset += PAGE
        finally:
            await session.rollback()
