"""``create_app(settings)``: the one place the Litestar application is assembled."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from importlib.metadata import PackageNotFoundError, version

import anyio
from litestar import Litestar, Router, get
from litestar.datastructures import State
from litestar.middleware.base import DefineMiddleware

from server import wiring
from server.admission import Admission, AdmissionMiddleware
from server.auth.middleware import AuthMiddleware, StatusCache
from server.auth.passwords import PasswordHashing
from server.auth.service import AuthService
from server.auth.tokens import TokenSigner
from server.callbacks.policy import CallbackPolicy
from server.console.routes import console_handlers
from server.db.base import utcnow
from server.db.engine import Database, make_database
from server.dependencies import dependencies
from server.http_errors import exception_handlers
from server.input_rules import CheckedRequest
from server.input_rules import install as install_input_rules
from server.limits import Limiter
from server.metrics import MetricsMiddleware, watch_event_loop
from server.metrics.routes import metrics
from server.notifications.gateway import sender_for
from server.notifications.outbox import RetryPolicy, drain
from server.openapi import install_schema, openapi_config
from server.routes import route_handlers
from server.settings import Settings
from server.sync_api.lean import DoorstepApp
from server.sync_api.lean import install as install_lean_pull
from sync.blobs import BlobStore, FilesystemBlobStore
from sync.checkpoints import CheckpointKey
from sync.pokes import PokeHub, make_hub, publish_after_commit

__all__ = ["create_app", "make_blob_store", "make_checkpoint_key", "run_escalation"]

log = logging.getLogger("doorstep")

PUBLIC_PATHS = {
    "/health",
    "/metrics",
    "/auth/login",
    "/auth/refresh",
    "/auth/logout",
    "/service-reports/{token}",
    "/service-reports/{token}/report.pdf",
    "/sms/inbound",
    "/sms/receipts",
}


def _version() -> str:
    try:
        return version("doorstep")
    except PackageNotFoundError:
        return "0.0.0"


@get("/health", opt={"public": True}, tags=["meta"], security=[], sync_to_thread=False)
def health() -> dict[str, str]:
    """Liveness: answers while the process serves requests."""
    return {"status": "ok"}


async def _send_outbox(db: Database, settings: Settings) -> None:
    sender = sender_for(settings)
    policy = RetryPolicy.from_settings(settings)
    try:
        while True:
            await anyio.sleep(settings.outbox_interval)
            try:
                await drain(db, sender, policy=policy)
            except Exception:  # the database may be briefly away; try again next round
                log.warning("outbox round failed", exc_info=True)
    finally:
        with anyio.CancelScope(shield=True):
            await sender.close()


def make_blob_store(settings: Settings) -> BlobStore:
    """The store ``settings.blob_store`` names: a folder, or an S3-compatible bucket."""
    if settings.blob_store == "s3":
        from sync.blob_s3 import S3BlobStore

        return S3BlobStore.connect(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
        )
    return FilesystemBlobStore(settings.resolved_blob_dir)


async def run_escalation(
    db: Database, settings: Settings, hub: PokeHub | None, now: datetime
) -> None:
    """One SLA escalation round (``server.dispatch.escalation``) in its own transaction;
    the technicians' phones are poked once it is committed."""
    from server.dispatch.escalation import escalate

    async with db.writer() as s:
        await escalate(s, now, default_capacity=settings.dispatch_default_jobs_per_window)
        await s.commit()
        await publish_after_commit(s, hub)


def make_checkpoint_key(
    settings: Settings, *, public_keys: Sequence[str] = (), create: bool = True
) -> CheckpointKey:
    """The key that signs ledger checkpoints (``Settings.checkpoint_key``) and every key
    trusted to have signed one (``ledger_checkpoint_public_keys``, ``public_keys``).
    Without ``create``, no key file is made (a key that only checks)."""
    alg, key = settings.checkpoint_key(create)
    trusted = [*settings.ledger_checkpoint_public_keys.split(","), *public_keys]
    return CheckpointKey.from_parts(alg, key, trusted)


async def _checkpoint(
    db: Database, settings: Settings, blob_store: BlobStore, key: CheckpointKey
) -> None:
    from sync.checkpoints import write_checkpoint

    while True:
        await anyio.sleep(settings.ledger_checkpoint_interval)
        try:
            await write_checkpoint(db, blob_store, key, utcnow())
        except Exception:  # the database or the store may be briefly away
            log.warning("ledger checkpoint failed", exc_info=True)


async def _maintain(
    db: Database, settings: Settings, blob_store: BlobStore, hub: PokeHub | None = None
) -> None:
    from server.callbacks.tasks import sweep_status_checks
    from server.maintenance.service import run_periodic
    from sync.maintenance import sweep

    plans_due = utcnow()
    while True:
        await anyio.sleep(settings.maintenance_interval)
        try:
            await sweep(
                db,
                now=utcnow(),
                retention=timedelta(hours=settings.packet_retention_hours),
                keep=settings.bucket_log_keep,
                blob_store=blob_store,
                upload_expiry=timedelta(hours=settings.blob_upload_expiry_hours),
            )
            await sweep_status_checks(db, utcnow())
            await run_escalation(db, settings, hub, utcnow())
            if settings.maintenance_jobs_interval > 0 and utcnow() >= plans_due:
                plans_due = utcnow() + timedelta(seconds=settings.maintenance_jobs_interval)
                await run_periodic(db, utcnow(), settings)
        except Exception:  # the database may be briefly away; try again next round
            log.warning("maintenance round failed", exc_info=True)


def create_app(settings: Settings | None = None) -> DoorstepApp:
    settings = settings or Settings.from_env()
    wiring.install()
    blob_store = make_blob_store(settings)  # a bad store configuration fails here
    make_checkpoint_key(settings, create=False)  # and so does a bad checkpoint key
    admission = Admission(settings)  # the push queue and the shedding thresholds

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = make_database(
            settings.resolved_database_url,
            echo=settings.sql_echo,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            info=CallbackPolicy.from_settings(settings).session_info(),
        )
        signer = TokenSigner(settings.signing_key(), settings.access_token_ttl)
        checkpoint_key = make_checkpoint_key(settings)  # made on first use, like the secret
        passwords = PasswordHashing(settings.password_time_cost, settings.password_memory_kib)
        app.state.update(
            settings=settings,
            db=db,
            signer=signer,
            passwords=passwords,
            status_cache=StatusCache(),
            auth_service=AuthService(db, settings, signer, passwords),
            pokes=make_hub(settings.redis_url),
            limiter=Limiter(settings),
            blob_store=blob_store,
            checkpoint_key=checkpoint_key,
        )
        install_schema(app, PUBLIC_PATHS)
        await app.state.pokes.start()  # never waits for Redis: the app boots without it
        try:
            async with anyio.create_task_group() as tasks:
                if settings.outbox_interval > 0:
                    tasks.start_soon(_send_outbox, db, settings)
                if settings.maintenance_interval > 0:
                    tasks.start_soon(_maintain, db, settings, blob_store, app.state.pokes)
                if settings.ledger_checkpoint_interval > 0:
                    tasks.start_soon(_checkpoint, db, settings, blob_store, checkpoint_key)
                tasks.start_soon(watch_event_loop)
                try:
                    yield
                finally:
                    tasks.cancel_scope.cancel()
        finally:
            await app.state.pokes.stop()  # ends open event streams
            await app.state.limiter.close()
            await blob_store.close()
            if getattr(app.state, "pull_reader", None) is not None:  # sync_api/routes.py
                app.state.pull_reader.close()
            await db.dispose()  # outside the cancelled scope, or it would be cancelled too

    app = DoorstepApp(
        route_handlers=[
            health,
            metrics,
            *console_handlers(),
            Router("/", route_handlers=route_handlers()),
        ],
        lifespan=[lifespan],
        state=State({"admission": admission}),
        dependencies=dependencies,
        exception_handlers=exception_handlers,
        middleware=[
            MetricsMiddleware,  # first: it times the rest (shed answers too)
            # before the token check: a shed request costs no signature check, no body
            DefineMiddleware(AdmissionMiddleware, admission=admission),
            DefineMiddleware(
                AuthMiddleware,
                exclude=["^/docs", "^/health$", "^/metrics$"],
                exclude_from_auth_key="public",
            ),
        ],
        openapi_config=openapi_config(_version()),
        request_max_body_size=max(settings.request_max_bytes, settings.blob_max_chunk_bytes),
        debug=settings.debug,
        request_class=CheckedRequest,
    )
    install_input_rules(app)  # every route's parameters obey sync.validation
    install_lean_pull(app)  # the poll, past Litestar's per-request work (same rules)
    return app
