"""Request-scoped dependencies: one database session per request, committed by the request.

Reads (GET, HEAD) get a reader session; everything else a writer session, which on
SQLite begins ``IMMEDIATE`` so concurrent writers wait instead of failing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit import recorder
from server.auth.principal import Principal
from server.context import RequestContext
from server.db.engine import Database
from server.settings import Settings

__all__ = ["dependencies"]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def provide_session(request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    factory = db.reader if request.method in READ_METHODS else db.writer
    async with factory() as session:
        if request.method not in READ_METHODS and isinstance(request.scope.get("user"), Principal):
            # Desk actions made through this session go to the audit trail, stamped with
            # the same context (clock, caller, address) the handler gets.
            recorder.attach(
                session,
                context_of(request),
                method=request.method,
                path=request.url.path,
            )
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            if request.method in READ_METHODS:
                await session.rollback()
            else:
                await session.commit()
                # Pokes collected in session.info["pokes"], only once the data is durable.
                from sync.pokes import publish_after_commit

                await publish_after_commit(session, request.app.state.get("pokes"))


def provide_settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


_CTX = "doorstep.ctx"


def context_of(request: Request[Any, Any, Any]) -> RequestContext:
    """The request's one context (made on first use, then kept in the ASGI scope's state),
    so the handler and the audit trail of its session share one clock reading."""
    state = request.scope.setdefault("state", {})
    ctx = state.get(_CTX)
    if ctx is None:
        ctx = state[_CTX] = RequestContext(
            principal=request.user,
            settings=request.app.state.settings,
            remote_addr=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        )
    return ctx  # type: ignore[no-any-return]


def provide_context(request: Request[Any, Any, Any]) -> RequestContext:
    return context_of(request)


dependencies = {
    "db": Provide(provide_session),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "ctx": Provide(provide_context, sync_to_thread=False),
}
