"""The streamed CSV download (a ``litestar.response.Stream``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from litestar.response import Stream

from server.exports.csv_stream import CSV_MEDIA_TYPE, stream_rows

__all__ = ["csv_response"]


def csv_response(filename: str, columns: Sequence[str], items: AsyncIterator[Any]) -> Stream:
    """A streamed ``text/csv`` attachment named ``filename``: the header, then one line per
    item as the items come."""
    return Stream(
        stream_rows(columns, items),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
