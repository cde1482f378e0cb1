"""The console's pages (``/console/``, static files, no build step), ``/`` sending a browser
there, and ``GET /board``: the dispatcher board in one call.

The pages are public files; everything they show comes from the JSON API with the
signed-in user's bearer token, so the API's guards and scopes are the console's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.params import Parameter
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import STAFF, allow
from server.console import service
from server.console.schemas import Board
from server.context import RequestContext
from sync.vocabulary import JobStatus

__all__ = ["BoardController", "console_handlers"]

STATIC = Path(__file__).parent / "static"

CSP = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
    # the service report page shown in a frame carries its own inline styles
    "style-src 'self' 'unsafe-inline'; frame-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _secure(response: Response[Any]) -> Response[Any]:
    response.headers.update(
        {
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
    )
    return response


@get("/", opt={"public": True}, include_in_schema=False, sync_to_thread=False)
def root() -> Redirect:
    """A browser opening the server lands on the console."""
    return Redirect("/console/")


class BoardController(Controller):
    path = "/board"
    tags = ["console"]

    @get("/", guards=[allow(STAFF)])
    async def get_board(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        day_start: Annotated[
            datetime | None,
            Parameter(
                description="The instant today starts for the caller (their local midnight); "
                "midnight UTC when omitted."
            ),
        ] = None,
        days: Annotated[int, Parameter(ge=1, le=31, description="Days shown, today included.")] = 7,
        provider_id: uuid.UUID | None = None,
        technician_id: uuid.UUID | None = None,
        status: Annotated[
            list[JobStatus] | None, Parameter(description="Any of these statuses")
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=500, description="Jobs per section")] = 200,
    ) -> Board:
        """The dispatcher board: SLA clocks (open urgent jobs and every overdue job,
        overdue first), today's and upcoming appointments, and pending jobs waiting for
        an appointment, with the names of the providers, technicians, customers and
        cities they refer to.

        The same jobs, in the same scope, as `GET /jobs`: provider staff see only their
        provider's."""
        if day_start is None:
            day_start = ctx.now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        elif day_start.tzinfo is None:
            day_start = day_start.replace(tzinfo=UTC)
        return await service.board(
            db,
            ctx,
            day_start=day_start,
            days=days,
            provider_id=provider_id,
            technician_id=technician_id,
            status=[s.value for s in status] if status else None,
            limit=limit,
        )


def console_handlers() -> list[Any]:
    """Registered by ``create_app`` beside the feature routes."""
    return [
        root,
        BoardController,
        create_static_files_router(
            path="/console",
            directories=[STATIC],
            html_mode=True,
            name="console",
            opt={"public": True},
            include_in_schema=False,
            # short: a new release's pages reach desks within minutes
            cache_control=CacheControlHeader(no_cache=True),
            after_request=_secure,
        ),
    ]
