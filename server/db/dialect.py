"""The few statements that differ between SQLite and PostgreSQL, chosen per session."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["insert_for", "is_postgresql"]


def is_postgresql(session: AsyncSession) -> bool:
    bind = session.bind
    assert bind is not None, "sessions are always bound to one engine here"
    return bind.dialect.name == "postgresql"


def insert_for(session: AsyncSession) -> Any:
    """``insert`` with ``on_conflict_do_*`` for the session's backend."""
    return postgresql.insert if is_postgresql(session) else sqlite.insert
