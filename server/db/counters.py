"""Next value of a named counter, atomically, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.dialect import insert_for
from server.db.models import Counter

__all__ = ["next_value"]


async def next_value(session: AsyncSession, name: str) -> int:
    stmt = (
        insert_for(session)(Counter)
        .values(name=name, value=1)
        .on_conflict_do_update(index_elements=[Counter.name], set_={"value": Counter.value + 1})
        .returning(Counter.value)
    )
    return int((await session.execute(stmt)).scalar_one())
