"""``/auth``: login, refresh, logout, who am I."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post, put
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.schemas import (
    LocaleIn,
    LoginRequest,
    LogoutRequest,
    Me,
    RefreshRequest,
    TokenPair,
)
from server.auth.service import AuthService, me_of
from server.context import RequestContext
from server.db.models.user import User
from server.errors import Unauthorized

__all__ = ["AuthController"]


def _service(request: Request[Any, Any, Any]) -> AuthService:
    service: AuthService = request.app.state.auth_service
    return service


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/login", opt={"public": True}, status_code=HTTP_200_OK, security=[])
    async def login(self, request: Request[Any, Any, Any], data: LoginRequest) -> TokenPair:
        """Exchange a username and password for an access token and a refresh token.

        Failed logins are throttled per account and per client address (429 with
        Retry-After)."""
        addr = request.client.host if request.client else "unknown"
        return await _service(request).login(data.username, data.password, addr, data.device_id)

    @post("/refresh", opt={"public": True}, status_code=HTTP_200_OK, security=[])
    async def refresh(self, request: Request[Any, Any, Any], data: RefreshRequest) -> TokenPair:
        """Rotate a refresh token: returns new tokens; the old refresh token is spent."""
        return await _service(request).refresh(data.refresh_token)

    @post("/logout", opt={"public": True}, status_code=HTTP_204_NO_CONTENT, security=[])
    async def logout(self, request: Request[Any, Any, Any], data: LogoutRequest) -> None:
        """End the login the refresh token belongs to (every token of its family)."""
        await _service(request).logout(data.refresh_token)

    @get("/me")
    async def me(self, db: AsyncSession, ctx: RequestContext) -> Me:
        """The caller's own account."""
        user = await db.get(User, ctx.principal.user_id)
        if user is None:
            raise Unauthorized("user_disabled", "This account no longer exists.")
        return me_of(user)

    @put("/me/locale", status_code=HTTP_200_OK)
    async def set_locale(self, db: AsyncSession, ctx: RequestContext, data: LocaleIn) -> Me:
        """Choose the language the console (and this user's error messages, reports) is
        shown in: ``zh-CN`` or ``en``; null goes back to the brand's default."""
        user = await db.get(User, ctx.principal.user_id)
        if user is None:
            raise Unauthorized("user_disabled", "This account no longer exists.")
        user.locale = data.locale
        await db.flush()
        return me_of(user)
