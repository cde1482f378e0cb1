"""``/sync/v1``: what phones call — enrol, pull, push, read one packet.

The protocol itself lives in ``sync/``; this module only adapts it to HTTP.
"""

from __future__ import annotations

import base64
import binascii
import functools
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.account import ACCOUNT_CHECKED, check_account
from server.auth.guards import STAFF, all_of, allow
from server.auth.principal import Principal
from server.auth.scope import ensure_job_visible
from server.context import RequestContext
from server.db.base import utcnow
from server.db.engine import Database
from server.db.models import Device, DeviceSyncState, Job
from server.db.models.user import Role
from server.errors import Forbidden, Invalid, NotFound
from server.input_rules import RAW_BODY
from server.limits import device_key, rate_limit
from sync.cursor import CursorCodec
from sync.packet_types import JobPacket
from sync.packets import build_packets
from sync.pull import PullPage, SqlitePullReader, encode_page, poll, pull
from sync.push import push
from sync.wire import EnrollRequest, EnrollResponse, PullResponse, PushRequestDoc, PushResponse

__all__ = ["CURSOR_MAX", "LIMIT_DEFAULT", "LIMIT_MAX", "PULL_PATH", "SyncController", "pull_body"]

PULL_PATH = "/sync/v1/pull"
CURSOR_MAX = 512
"""The longest cursor a pull accepts (characters)."""
LIMIT_MAX = 1000
LIMIT_DEFAULT = 200

TECH = allow(Role.TECHNICIAN)


async def _pull_pooled(db: Database, args: dict[str, Any]) -> PullPage:
    """The pull on a pooled connection (PostgreSQL; SQLite without the reader). A bare
    connection, not an ORM session: the pull reads rows, nothing else."""
    async with db.engine.connect() as conn:
        if args["cursor"] is not None:  # a poll at the head: one statement, no transaction
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            page = await poll(conn, **{k: v for k, v in args.items() if k != "limit"})
            await conn.rollback()  # ends SQLAlchemy's side of the autocommit statement
            if page is not None:
                return page
        if db.engine.dialect.name == "postgresql":  # one snapshot for every read
            await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            return await pull(conn, **args)


def _codec(state: State) -> CursorCodec:
    codec: CursorCodec | None = getattr(state, "cursor_codec", None)
    if codec is None:
        codec = state.cursor_codec = CursorCodec(state.settings.signing_key())
    return codec


def _sqlite_reader(state: State, db: Database) -> SqlitePullReader | None:
    """The one-hand-off pull reader for an SQLite file database (None otherwise)."""
    reader: SqlitePullReader | None = getattr(state, "pull_reader", None)
    if reader is None and db.is_sqlite:
        path = db.engine.url.database
        if path and path != ":memory:":
            reader = state.pull_reader = SqlitePullReader(path)
    return reader


async def pull_body(
    state: State,
    p: Principal,
    cursor: str | None,
    limit: int,
    device_id: uuid.UUID | None,
) -> bytes:
    """The pull's answer for caller ``p`` (past the guards): the bytes of a
    ``PullResponse``. The one implementation, for the route below and for the lean poll
    route (``server.sync_api.lean``)."""
    device = p.device_id or device_id
    if p.device_id and device_id and device_id != p.device_id:
        raise Forbidden("device_mismatch", "The access token belongs to another device.")
    db: Database = state.db
    args: dict[str, Any] = {
        "codec": _codec(state),
        "technician_id": p.user_id,
        "device_id": device,
        "cursor": cursor,
        "limit": limit,
        "now": utcnow(),
        # The account rules, on the caller's row read in the pull's own snapshot
        # (ACCOUNT_CHECKED: the middleware leaves them to this handler).
        "check": functools.partial(check_account, p, device_id=device),
    }
    reader = _sqlite_reader(state, db)
    if reader is not None:  # SQLite: one hand-off to a thread (none for a poll at the head)
        page = await reader.pull(**args)
    else:
        page = await _pull_pooled(db, args)
    # Encoded here, in one pass: the documents are the stored JSON text.
    return encode_page(page)


async def _publish(request: Request[Any, Any, Any], session: AsyncSession) -> None:
    hub = getattr(request.app.state, "pokes", None)
    if hub is not None:
        from sync.pokes import publish_after_commit

        await publish_after_commit(session, hub)


class SyncController(Controller):
    path = "/sync/v1"
    tags = ["sync"]

    @post("/devices", guards=[TECH], status_code=HTTP_201_CREATED)
    async def enroll(
        self, db: AsyncSession, ctx: RequestContext, data: EnrollRequest
    ) -> EnrollResponse:
        """Enrol the calling technician's phone. Give the Ed25519 public key that will
        sign its mutations (``signature_alg`` ``ed25519-jcs``): from then on every
        mutation of this device must be signed. A new key is a new enrolment (a new
        ``device_id``). Then log in again with ``device_id`` to get tokens bound to this
        device: revoking the device ends them."""
        key: bytes | None = None
        if data.public_key is not None:
            try:
                key = base64.b64decode(data.public_key, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise Invalid("invalid_public_key", "The public key is not base64.") from exc
            if len(key) != 32:
                raise Invalid("invalid_public_key", "An Ed25519 public key is 32 bytes.")
        device = Device(
            signature_alg=data.signature_alg if key is not None else None,
            user_id=ctx.principal.user_id,
            label=data.label,
            platform=data.platform,
            app_version=data.app_version,
            public_key=key,
            enrolled_at=ctx.now,
        )
        db.add(device)
        await db.flush()
        db.add(DeviceSyncState(device_id=device.id))
        await db.flush()
        return EnrollResponse(
            device_id=device.id,
            enrolled_at=device.enrolled_at,
            last_applied_mid=0,
            signature_alg=data.signature_alg if key is not None else None,
        )

    @get("/pull", guards=[all_of(TECH, rate_limit("pull"))], opt={ACCOUNT_CHECKED: True})
    async def pull(
        self,
        request: Request[Any, Any, Any],
        cursor: Annotated[
            str | None,
            Parameter(max_length=CURSOR_MAX, description="From the last pull; omit for a snapshot"),
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=LIMIT_MAX)] = LIMIT_DEFAULT,
        device_id: Annotated[
            uuid.UUID | None,
            Parameter(description="Your device, to learn its last applied mutation"),
        ] = None,
    ) -> Response[PullResponse]:
        """Pull the caller's bucket: a snapshot without a cursor, then the operations after
        the cursor. Repeat while ``has_more``. On ``reset``: push what is pending, drop
        the bucket's documents, pull without a cursor. ``last_applied_mid`` comes from
        the same snapshot as the operations."""
        # No RequestContext: resolving that dependency was about 15 us of the 0.2 ms an
        # empty pull costs, and the pull needs only the caller and the time.
        body: Any = await pull_body(request.app.state, request.user, cursor, limit, device_id)
        # The bytes are a ``PullResponse`` (the annotation gives the OpenAPI schema).
        return Response(body, media_type=MediaType.JSON)

    @post(
        "/push",
        guards=[all_of(TECH, rate_limit("push"))],
        status_code=HTTP_200_OK,
        opt={RAW_BODY: PushRequestDoc},
    )
    async def push(self, request: Request[Any, Any, Any], ctx: RequestContext) -> PushResponse:
        """Push the device's mutations, in ``mid`` order with no gaps. Each gets an
        outcome: ``applied``, ``resolved`` (applied, merged with a newer state — ``code``
        says how), ``duplicate`` (already received: ``first_status`` says what became of
        it) or ``rejected`` (never applies; ``code`` says why; the queue moves on). A
        first ``mid`` beyond the next expected one is refused with 409 ``mid_gap``
        naming ``expected_mid``. ``retry_after`` set: the server stopped early; resend
        the rest later. Each mutation is checked on its own (``sync/validation.py``): one
        that breaks a rule is ``rejected`` with its code and the push goes on. The body
        is read as exact bytes (not decoded by the framework, so one bad mutation cannot
        refuse the whole push).

        Signatures (docs/protocol.md): a device enrolled with a key must sign every
        mutation with Ed25519 over the RFC 8785 (JCS) bytes of the mutation without
        ``signature``. Unsigned: ``rejected`` ``signature_required`` (recorded in the
        ledger, the ``mid`` is used up). A signature that does not verify: ``rejected``
        ``bad_signature``, recorded, but the ``mid`` is not used up and the server stops
        the push there (nothing after it is read): the phone must fix its signing, not
        resend the same bytes."""
        body = await request.body()
        # One push per device at a time, then the node's writer queue in arrival order
        # (push_queue.py): a resent outbox waits for the push it repeats and answers
        # duplicates; a reconnect storm is served first come, first served.
        async with request.app.state.admission.pushes.turn(device_key(ctx.principal)):
            return await push(
                request.app.state.db,
                body,
                user_id=ctx.principal.user_id,
                token_device_id=ctx.principal.device_id,
                now=ctx.now,
                after_commit=lambda s: _publish(request, s),
            )

    @get("/packets/{job_id:uuid}", guards=[allow(Role.TECHNICIAN, *STAFF)])
    async def packet(self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID) -> JobPacket:
        """One job's packet as a phone receives it (the schema of ``job_packet``
        documents in pulls)."""
        ensure_job_visible(ctx.principal, await db.get(Job, job_id), job_id)
        packets = await build_packets(db, [job_id], ctx.now.date())
        if job_id not in packets:
            raise NotFound("job", job_id)
        return packets[job_id]
