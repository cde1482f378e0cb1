"""The streamed CSV download (a ``litestar.response.Stream``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from litestar.datastructures import ResponseHeader
from litestar.response import Stream

from server.exports.csv_stream import CSV_MEDIA_TYPE, stream_rows

__all__ = ["CSV_DESCRIPTION", "CSV_HEADERS", "csv_response"]

CSV_DESCRIPTION = (
    "`text/csv; charset=utf-8` (RFC 4180, CRLF), streamed as an attachment: a header row of "
    "the list item's field names (stable English snake_case), then one line per item with "
    "its JSON values — times UTC in ISO 8601 with `Z`, `true`/`false`, empty cells for "
    "nulls, lists and objects as compact JSON, a leading `'` before text a spreadsheet "
    "would run as a formula."
)
CSV_HEADERS = [
    ResponseHeader(
        name="Content-Disposition",
        description='``attachment; filename="<list>-<yyyymmdd>-<hhmmss>.csv"`` (UTC).',
        documentation_only=True,
    )
]


def csv_response(filename: str, columns: Sequence[str], items: AsyncIterator[Any]) -> Stream:
    """A streamed ``text/csv`` attachment named ``filename``: the header, then one line per
    item as the items come."""
    return Stream(
        stream_rows(columns, items),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
