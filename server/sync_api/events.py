"""``GET /sync/v1/events``: server-sent "pokes" telling an online phone to pull.

Why SSE and not WebSockets: the stream only ever flows server → phone, carries no data
(SYNC.md, "Live updates"), passes plain HTTP proxies, and every platform has a client.
The hub behind it (``sync.pokes``) spans app nodes through Redis when configured.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from server.auth.guards import allow
from server.auth.principal import Principal
from server.auth.tokens import AccessClaims
from server.db.models.user import Role
from sync.pokes import PokeHub

__all__ = ["EventsController", "poke_stream"]

POKE_EVENT = "poke"
HEARTBEAT_COMMENT = "heartbeat"


def _poke() -> ServerSentEventMessage:
    return ServerSentEventMessage(event=POKE_EVENT, data="{}")


def _heartbeat() -> ServerSentEventMessage:
    # data=None: a comment line only. An empty "data:" line would make clients
    # dispatch an (empty) message event.
    return ServerSentEventMessage(data=None, comment=HEARTBEAT_COMMENT)


async def poke_stream(
    hub: PokeHub, technician_id: uuid.UUID, heartbeat: float, until: datetime
) -> AsyncIterator[ServerSentEventMessage]:
    """A poke at once, then one per (coalesced) poke, a heartbeat comment whenever
    ``heartbeat`` seconds pass without one, and the end at ``until``.

    Subscribing before the first poke closes the gap in which a change could slip
    between "phone pulls" and "phone listens". On disconnect Litestar cancels the
    iteration; leaving the ``async with`` then removes the subscription.
    """
    async with hub.subscribe(technician_id) as sub:
        yield _poke()
        while not sub.closed:
            remaining = (until - datetime.now(UTC)).total_seconds()
            if remaining <= 0:
                return
            poked = await sub.wait(min(heartbeat, remaining))
            if sub.closed:
                return
            yield _poke() if poked else _heartbeat()


class EventsController(Controller):
    path = "/sync/v1"
    tags = ["sync"]

    @get(
        "/events",
        guards=[allow(Role.TECHNICIAN)],
        summary="Live pokes (server-sent events)",
        response_description="A text/event-stream of `poke` events and heartbeat comments.",
        media_type="text/event-stream",
    )
    async def events(
        self,
        request: Request[Principal, AccessClaims, Any],
        heartbeat: Annotated[
            int,
            Parameter(
                ge=1,
                le=60,
                description="Seconds between heartbeat comments while nothing happens.",
            ),
        ] = 25,
    ) -> ServerSentEvent:
        """A `text/event-stream` (server-sent events) that tells the calling technician's
        phone **when to pull**. It carries no data: everything comes from
        `GET /sync/v1/pull`, so a missed, repeated or late poke never loses anything — it
        only makes the phone pull later or once more.

        What the stream sends:

        - `event: poke` with `data: {}` — **pull now**. One is sent right after the
          connection opens (so connecting always means one pull: nothing that changed
          while the phone was away is missed), then whenever the technician's bucket
          changes on any app node (a job assigned, moved, rescheduled, reassigned away…).
          Pokes coalesce: several changes close together may give one poke.
        - `: heartbeat` — an SSE comment every `heartbeat` seconds (default 25) while
          nothing happens, so proxies and mobile networks keep the connection open.
          Ignore it (EventSource clients never see comments); a client may treat a long
          silence (more than about twice `heartbeat`) as a dead connection.

        When the stream ends:

        - the client disconnects (the server cleans up at once);
        - the access token used to open it expires: reconnect with a fresh one (so a
          revoked device or disabled account stops being poked within one token lifetime);
        - the server shuts down or restarts, or the technician has opened more streams
          than allowed (8): the oldest is ended.

        On any end or error, reconnect with a backoff (a few seconds, growing, with
        jitter); because every connection starts with a poke, reconnecting is all a
        client must do to stay current. Keep one stream per device while the app is in
        the foreground; offline phones sync on their own schedule without it.

        Send `Authorization: Bearer <access_token>` (browser `EventSource` cannot set
        headers: use a client that can). Technicians only: others get 403
        `role_forbidden`."""
        hub: PokeHub = request.app.state.pokes
        claims: AccessClaims = request.auth
        return ServerSentEvent(
            poke_stream(hub, request.user.user_id, heartbeat, claims.expires_at),
        )
