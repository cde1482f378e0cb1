"""Cities, providers, users and devices: the rules of the admin API.

Admins manage everything. A provider manager manages their own provider's technicians
(create them, change name, phone, skill and active, revoke their phones) and sees their
provider's people; nobody else reaches these functions (the routes' guards). Which rows
a caller sees follows ``server.auth.scope``: what is not visible answers 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from msgspec import UNSET
from sqlalchemy import ColumnElement, false, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.admin.schemas import CityIn, ProviderIn, ProviderPatch, UserIn, UserPatch
from server.auth.principal import Principal
from server.auth.scope import user_filter
from server.context import RequestContext
from server.db.models import City, Device, Provider, RefreshToken, Role, User
from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.users.service import add_user, check_shape, usable_provider

__all__ = [
    "UserChange",
    "create_city",
    "create_provider",
    "create_user",
    "get_provider",
    "get_user",
    "list_cities",
    "list_devices",
    "list_providers",
    "list_users",
    "provider_filter",
    "revoke_device",
    "update_provider",
    "update_user",
]

MANAGER_FIELDS = frozenset({"full_name", "phone", "skill_level", "active"})
"""What a provider manager may change on their technicians."""


def provider_filter(p: Principal) -> ColumnElement[bool]:
    """Providers a caller may see: the brand's staff see all, provider staff their own."""
    if p.sees_everything:
        return true()
    if p.provider_id is not None and not p.is_technician:
        return Provider.id == p.provider_id
    return false()


# --- cities -------------------------------------------------------------------------


async def list_cities(session: AsyncSession, ctx: RequestContext) -> Sequence[City]:
    return (await session.scalars(select(City).order_by(City.name, City.code))).all()


async def create_city(session: AsyncSession, ctx: RequestContext, data: CityIn) -> City:
    try:
        ZoneInfo(data.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            "unknown_timezone",
            f"{data.timezone!r} is not an IANA time zone (such as Asia/Shanghai).",
            {"timezone": data.timezone},
        ) from None
    if await session.scalar(select(City.id).where(City.code == data.code)) is not None:
        raise Conflict("city_exists", f"A city with the code {data.code!r} exists.")
    city = City(
        code=data.code,
        name=data.name,
        timezone=data.timezone,
        latitude=data.latitude,
        longitude=data.longitude,
    )
    session.add(city)
    await session.flush()
    return city


async def _cities(session: AsyncSession, ids: list[uuid.UUID]) -> list[City]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    found = {c.id: c for c in await session.scalars(select(City).where(City.id.in_(wanted)))}
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise Invalid("unknown_city", "No city with that id.", {"city_ids": missing})
    return [found[i] for i in wanted]


# --- providers ----------------------------------------------------------------------


async def list_providers(
    session: AsyncSession, ctx: RequestContext, active: bool | None = None
) -> Sequence[Provider]:
    stmt = select(Provider).where(provider_filter(ctx.principal)).order_by(Provider.code)
    if active is not None:
        stmt = stmt.where(Provider.active == active)
    return (await session.scalars(stmt)).all()


async def get_provider(
    session: AsyncSession, ctx: RequestContext, provider_id: uuid.UUID
) -> Provider:
    provider = await session.scalar(
        select(Provider).where(Provider.id == provider_id, provider_filter(ctx.principal))
    )
    if provider is None:
        raise NotFound("provider", provider_id)
    return provider


async def create_provider(session: AsyncSession, ctx: RequestContext, data: ProviderIn) -> Provider:
    if await session.scalar(select(Provider.id).where(Provider.code == data.code)) is not None:
        raise Conflict("provider_exists", f"A provider with the code {data.code!r} exists.")
    provider = Provider(
        code=data.code,
        name=data.name,
        phone=data.phone,
        cities=await _cities(session, data.city_ids),
    )
    session.add(provider)
    await session.flush()
    return provider


async def update_provider(
    session: AsyncSession, ctx: RequestContext, provider_id: uuid.UUID, data: ProviderPatch
) -> Provider:
    provider = await get_provider(session, ctx, provider_id)
    if data.city_ids is not UNSET:
        provider.cities = await _cities(session, data.city_ids)
    if data.name is not UNSET:
        provider.name = data.name
    if data.phone is not UNSET:
        provider.phone = data.phone
    if data.active is not UNSET:
        provider.active = data.active
    await session.flush()
    return provider


# --- users --------------------------------------------------------------------------


def _manages_all(p: Principal) -> bool:
    """Admins manage everyone; provider managers their technicians; no one else anything."""
    if p.role == Role.ADMIN:
        return True
    if p.role == Role.PROVIDER_MANAGER and p.provider_id is not None:
        return False
    raise Forbidden("role_forbidden", "Only admins and provider managers manage users.")


def _ensure_manages(p: Principal, user: User) -> None:
    if not _manages_all(p) and user.role != Role.TECHNICIAN:
        raise Forbidden(
            "role_forbidden",
            "A provider manager manages only their own provider's technicians.",
        )


async def list_users(
    session: AsyncSession,
    ctx: RequestContext,
    *,
    role: Role | None,
    provider_id: uuid.UUID | None,
    active: bool | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[User], int]:
    """One page of the users the caller may see, by username, and how many match."""
    where = [user_filter(ctx.principal)]
    if role is not None:
        where.append(User.role == role.value)
    if provider_id is not None:
        where.append(User.provider_id == provider_id)
    if active is not None:
        where.append(User.active == active)
    total = await session.scalar(select(func.count()).select_from(User).where(*where))
    rows = await session.scalars(
        select(User).where(*where).order_by(User.username).limit(limit).offset(offset)
    )
    return rows.all(), total or 0


async def get_user(session: AsyncSession, ctx: RequestContext, user_id: uuid.UUID) -> User:
    user = await session.scalar(select(User).where(User.id == user_id, user_filter(ctx.principal)))
    if user is None:
        raise NotFound("user", user_id)
    return user


async def create_user(
    session: AsyncSession, ctx: RequestContext, data: UserIn, password_hash: str
) -> User:
    p = ctx.principal
    provider_id = data.provider_id
    if not _manages_all(p):
        if data.role != Role.TECHNICIAN:
            raise Forbidden("role_forbidden", "A provider manager may create only technicians.")
        if provider_id is None:
            provider_id = p.provider_id
        elif provider_id != p.provider_id:
            raise Forbidden(
                "role_forbidden",
                "A provider manager may create technicians only for their own provider.",
            )
    return await add_user(
        session,
        username=data.username,
        password_hash=password_hash,
        full_name=data.full_name,
        phone=data.phone,
        role=data.role,
        provider_id=provider_id,
        skill_level=data.skill_level,
    )


@dataclass(frozen=True, slots=True)
class UserChange:
    user: User
    sessions_ended: bool
    """The user's refresh tokens were revoked (disabled, new password, new role or
    provider): the caller must also drop what it cached about the user."""


async def update_user(
    session: AsyncSession,
    ctx: RequestContext,
    user_id: uuid.UUID,
    data: UserPatch,
    password_hash: str | None,
) -> UserChange:
    p = ctx.principal
    user = await get_user(session, ctx, user_id)
    _ensure_manages(p, user)
    if not _manages_all(p):
        refused = sorted(
            f
            for f in UserPatch.__struct_fields__
            if f not in MANAGER_FIELDS and getattr(data, f) is not UNSET
        )
        if refused:
            raise Forbidden(
                "role_forbidden",
                "A provider manager may change only full_name, phone, skill_level and active.",
                {"fields": refused},
            )
    role = Role(user.role) if data.role is UNSET else data.role
    if user.id == p.user_id and (data.active is False or role != user.role):
        raise Invalid("own_account", "You cannot disable your own account or change your own role.")
    provider_id = user.provider_id if data.provider_id is UNSET else data.provider_id
    skill: str | None = user.skill_level
    if data.skill_level is not UNSET:
        skill = data.skill_level
    elif role != Role.TECHNICIAN:
        skill = None  # leaving the technician role leaves the skill level behind
    check_shape(role, provider_id, skill)
    if provider_id is not None and provider_id != user.provider_id:
        await usable_provider(session, provider_id)

    ends_sessions = (
        data.active is False
        or password_hash is not None
        or role != user.role
        or provider_id != user.provider_id
    )
    user.role = role.value
    user.provider_id = provider_id
    user.skill_level = skill
    if data.full_name is not UNSET:
        user.full_name = data.full_name
    if data.phone is not UNSET:
        user.phone = data.phone
    if data.active is not UNSET:
        user.active = data.active
    if password_hash is not None:
        user.password_hash = password_hash
    if ends_sessions:
        await _revoke_refresh_tokens(session, RefreshToken.user_id == user.id, ctx)
    await session.flush()
    return UserChange(user=user, sessions_ended=ends_sessions)


async def _revoke_refresh_tokens(
    session: AsyncSession, which: ColumnElement[bool], ctx: RequestContext
) -> None:
    await session.execute(
        update(RefreshToken)
        .where(which, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=ctx.now)
    )


# --- devices ------------------------------------------------------------------------


async def list_devices(
    session: AsyncSession, ctx: RequestContext, user_id: uuid.UUID
) -> Sequence[Device]:
    user = await get_user(session, ctx, user_id)
    rows = await session.scalars(
        select(Device).where(Device.user_id == user.id).order_by(Device.enrolled_at, Device.id)
    )
    return rows.all()


async def revoke_device(session: AsyncSession, ctx: RequestContext, device_id: uuid.UUID) -> Device:
    """Revoke a phone and end every session bound to it. Revoking twice changes nothing."""
    row = (
        await session.execute(
            select(Device, User)
            .join(User, User.id == Device.user_id)
            .where(Device.id == device_id, user_filter(ctx.principal))
        )
    ).one_or_none()
    if row is None:
        raise NotFound("device", device_id)
    device, owner = row
    _ensure_manages(ctx.principal, owner)
    if device.revoked_at is None:
        device.revoked_at = ctx.now
    await _revoke_refresh_tokens(session, RefreshToken.device_id == device.id, ctx)
    await session.flush()
    return device
