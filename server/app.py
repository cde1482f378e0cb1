"""``create_app(settings)``: the one place the Litestar application is assembled."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from litestar import Litestar, Router, get
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.middleware.base import DefineMiddleware

from server.auth.middleware import AuthMiddleware, StatusCache
from server.auth.passwords import PasswordHashing
from server.auth.service import AuthService
from server.auth.tokens import TokenSigner
from server.db.engine import make_database
from server.dependencies import dependencies
from server.http_errors import exception_handlers
from server.openapi import add_error_responses, openapi_config
from server.routes import route_handlers
from server.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("doorstep")

PUBLIC_PATHS = {"/health", "/auth/login", "/auth/refresh", "/auth/logout"}


def _version() -> str:
    try:
        return version("doorstep")
    except PackageNotFoundError:
        return "0.0.0"


@get("/health", opt={"public": True}, tags=["meta"], security=[], sync_to_thread=False)
def health() -> dict[str, str]:
    """Liveness: answers while the process serves requests."""
    return {"status": "ok"}


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = make_database(settings.resolved_database_url, echo=settings.sql_echo)
        signer = TokenSigner(settings.signing_key(), settings.access_token_ttl)
        passwords = PasswordHashing(settings.password_time_cost, settings.password_memory_kib)
        app.state.update(
            settings=settings,
            db=db,
            signer=signer,
            passwords=passwords,
            status_cache=StatusCache(),
            auth_service=AuthService(db, settings, signer, passwords),
        )
        add_error_responses(app.plugins.get(OpenAPIPlugin).provide_openapi_schema(), PUBLIC_PATHS)
        try:
            yield
        finally:
            await db.dispose()

    return Litestar(
        route_handlers=[health, Router("/", route_handlers=route_handlers())],
        lifespan=[lifespan],
        dependencies=dependencies,
        exception_handlers=exception_handlers,
        middleware=[
            DefineMiddleware(
                AuthMiddleware, exclude=["^/docs", "^/health$"], exclude_from_auth_key="public"
            )
        ],
        openapi_config=openapi_config(_version()),
        debug=settings.debug,
    )
