"""``/users`` and ``/devices``: accounts and the phones enrolled to them.

Admins manage everyone. A provider manager sees their provider's people and manages
its technicians. Password hashes never leave the server.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, TypeVar

import anyio
from litestar import Controller, Request, Response, get, patch, post
from litestar.background_tasks import BackgroundTask
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK
from msgspec import UNSET
from sqlalchemy.ext.asyncio import AsyncSession

from server.admin import service
from server.admin.schemas import (
    DeviceOut,
    UserIn,
    UserOut,
    UserPage,
    UserPatch,
    device_out,
    user_out,
)
from server.auth.guards import allow
from server.auth.middleware import StatusCache
from server.auth.passwords import PasswordHashing
from server.context import RequestContext
from server.db.models import Role

__all__ = ["DeviceController", "UserController"]

MANAGERS = allow(Role.ADMIN, Role.PROVIDER_MANAGER)

T = TypeVar("T")


async def _hash(request: Request[Any, Any, Any], password: str) -> str:
    # Argon2 is slow by design: off the event loop, and before the write transaction
    # begins so no database lock is held meanwhile.
    passwords: PasswordHashing = request.app.state.passwords
    return await anyio.to_thread.run_sync(passwords.hash, password)


def _forgetting(request: Request[Any, Any, Any], content: T, user_id: uuid.UUID) -> Response[T]:
    """Answer ``content`` and then drop the user from this node's status cache.

    A background task runs once the request's transaction has committed, so no request
    can re-cache the old state in between."""
    cache: StatusCache = request.app.state.status_cache

    async def forget() -> None:  # async: runs on the event loop, not in a thread
        cache.forget_user(user_id)

    return Response(content, status_code=HTTP_200_OK, background=BackgroundTask(forget))


class UserController(Controller):
    path = "/users"
    tags = ["users"]

    @get(guards=[MANAGERS])
    async def list_users(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        role: Role | None = None,
        provider_id: uuid.UUID | None = None,
        active: bool | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500, description="Page size.")] = 100,
        offset: Annotated[int, Parameter(ge=0, le=2**31 - 1, description="Users to skip.")] = 0,
    ) -> UserPage:
        """Users by username, one page at a time, optionally filtered by role, provider
        and active flag.

        Admins see everyone; a provider manager only their own provider's people."""
        users, total = await service.list_users(
            db, ctx, role=role, provider_id=provider_id, active=active, limit=limit, offset=offset
        )
        return UserPage(items=[user_out(u) for u in users], total=total, limit=limit, offset=offset)

    @get("/{user_id:uuid}", guards=[MANAGERS])
    async def get_user(self, db: AsyncSession, ctx: RequestContext, user_id: uuid.UUID) -> UserOut:
        """One user. A user the caller may not see answers 404 `user_not_found`."""
        return user_out(await service.get_user(db, ctx, user_id))

    @post(guards=[MANAGERS])
    async def create_user(
        self, request: Request[Any, Any, Any], db: AsyncSession, ctx: RequestContext, data: UserIn
    ) -> UserOut:
        """Create an account.

        Admins create anyone; a provider manager only technicians of their own provider
        (anything else 403 `role_forbidden`). Technicians and provider managers need a
        provider (422 `provider_required`), technicians a skill level (422
        `skill_required`, and only they have one: 422 `skill_not_allowed`); admins and
        auditors have no provider (422 `provider_not_allowed`). The provider must exist
        (422 `unknown_provider`) and be active (422 `provider_inactive`); usernames are
        unique (409 `username_taken`)."""
        password_hash = await _hash(request, data.password)
        return user_out(await service.create_user(db, ctx, data, password_hash))

    @patch("/{user_id:uuid}", guards=[MANAGERS])
    async def update_user(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ctx: RequestContext,
        user_id: uuid.UUID,
        data: UserPatch,
    ) -> Response[UserOut]:
        """Change an account; absent fields stay as they are.

        A provider manager may change only the name, phone, skill level and active flag
        of their own provider's technicians (other fields or people: 403
        `role_forbidden`). Disabling an account, or changing its password, role or
        provider, ends its sessions: refresh tokens stop working and access tokens of a
        disabled account are refused at once (401 `user_disabled`). Nobody may disable
        their own account or change their own role (422 `own_account`). The rules of
        `POST /users` hold for the result."""
        password_hash = None if data.password is UNSET else await _hash(request, data.password)
        change = await service.update_user(db, ctx, user_id, data, password_hash)
        out = user_out(change.user)
        if change.sessions_ended:
            return _forgetting(request, out, change.user.id)
        return Response(out, status_code=HTTP_200_OK)

    @get("/{user_id:uuid}/devices", guards=[MANAGERS])
    async def list_devices(
        self, db: AsyncSession, ctx: RequestContext, user_id: uuid.UUID
    ) -> list[DeviceOut]:
        """The phones enrolled to a user, revoked ones included. Admins, and provider
        managers for their own provider's people."""
        return [device_out(d) for d in await service.list_devices(db, ctx, user_id)]


class DeviceController(Controller):
    path = "/devices"
    tags = ["devices"]

    @post("/{device_id:uuid}/revoke", guards=[MANAGERS], status_code=HTTP_200_OK)
    async def revoke_device(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ctx: RequestContext,
        device_id: uuid.UUID,
    ) -> Response[DeviceOut]:
        """Revoke a phone (a lost or stolen one): tokens bound to it are refused at once
        (401 `device_revoked`) and its refresh tokens stop working.

        Admins, and provider managers for their own provider's technicians. Revoking a
        revoked device changes nothing and answers the device."""
        device = await service.revoke_device(db, ctx, device_id)
        return _forgetting(request, device_out(device), device.user_id)
