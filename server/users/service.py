"""The rules every account obeys, whoever creates it (the admin API or the CLI).

- technicians and provider managers belong to a provider; technicians have a skill level;
- admins and auditors belong to no provider (they are the brand's own staff);
- a dispatcher with a provider is that provider's dispatcher, without one the call center;
- a user's provider exists and is active; usernames are unique.
"""

from __future__ import annotations

import re
import uuid
from typing import TypeVar

import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.passwords import PasswordHashing
from server.db.engine import make_database
from server.db.models import Provider, Role, SkillLevel, User
from server.errors import Conflict, Invalid
from server.settings import Settings

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "USERNAME_PATTERN",
    "add_user",
    "check_password",
    "check_shape",
    "create_user_cli",
    "usable_provider",
]

USERNAME_PATTERN = r"^[a-z0-9._-]{3,64}$"
MIN_PASSWORD_LENGTH = 10

PROVIDER_ROLES = frozenset({Role.TECHNICIAN, Role.PROVIDER_MANAGER})
"""Roles that always belong to a provider."""
BRAND_ROLES = frozenset({Role.ADMIN, Role.AUDITOR})
"""Roles that never belong to a provider."""


def _label(role: Role) -> str:
    return role.value.replace("_", " ")


def check_shape(role: Role, provider_id: uuid.UUID | None, skill_level: str | None) -> None:
    """Whether a role, a provider and a skill level fit together."""
    if role in PROVIDER_ROLES and provider_id is None:
        raise Invalid("provider_required", f"A {_label(role)} must belong to a provider.")
    if role in BRAND_ROLES and provider_id is not None:
        raise Invalid(
            "provider_not_allowed", f"An {_label(role)} is brand staff and has no provider."
        )
    if role == Role.TECHNICIAN and skill_level is None:
        raise Invalid(
            "skill_required",
            "A technician needs a skill level (junior, intermediate or senior).",
        )
    if role != Role.TECHNICIAN and skill_level is not None:
        raise Invalid("skill_not_allowed", "Only technicians have a skill level.")


def check_username(username: str) -> None:
    if not re.fullmatch(USERNAME_PATTERN, username):
        raise Invalid(
            "invalid_username",
            "A username is 3 to 64 characters: lower-case letters, digits, '.', '_' or '-'.",
        )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            "password_too_short",
            f"A password needs at least {MIN_PASSWORD_LENGTH} characters.",
        )


async def usable_provider(session: AsyncSession, provider_id: uuid.UUID) -> Provider:
    """The provider a user is being attached to: it must exist and be active."""
    provider = await session.get(Provider, provider_id)
    if provider is None:
        raise Invalid(
            "unknown_provider", "No provider with that id.", {"provider_id": str(provider_id)}
        )
    if not provider.active:
        raise Invalid(
            "provider_inactive",
            f"Provider {provider.code} is inactive; it cannot take new people.",
            {"provider_id": str(provider_id)},
        )
    return provider


async def ensure_username_free(session: AsyncSession, username: str) -> None:
    taken = await session.scalar(select(User.id).where(User.username == username))
    if taken is not None:
        raise Conflict(
            "username_taken", f"The username {username!r} is taken.", {"username": username}
        )


async def add_user(
    session: AsyncSession,
    *,
    username: str,
    password_hash: str,
    full_name: str,
    role: Role,
    provider_id: uuid.UUID | None,
    skill_level: SkillLevel | None,
    phone: str | None = None,
) -> User:
    """Check every account rule, then add the user (flushed, not committed)."""
    check_username(username)
    check_shape(role, provider_id, skill_level)
    if provider_id is not None:
        await usable_provider(session, provider_id)
    await ensure_username_free(session, username)
    user = User(
        username=username,
        password_hash=password_hash,
        full_name=full_name,
        phone=phone,
        role=role.value,
        provider_id=provider_id,
        skill_level=skill_level.value if skill_level else None,
        active=True,
    )
    session.add(user)
    await session.flush()
    return user


E = TypeVar("E", Role, SkillLevel)


def _enum(kind: type[E], value: str, code: str) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(v.value for v in kind)
        raise Invalid(code, f"{value!r} is not one of: {allowed}.") from None


async def create_user_cli(
    settings: Settings,
    username: str,
    password: str,
    role: str,
    full_name: str,
    provider_code: str | None,
    skill: str | None,
) -> uuid.UUID:
    """``doorstep create-user``: create one account in its own transaction."""
    role_ = _enum(Role, role, "unknown_role")
    skill_ = _enum(SkillLevel, skill, "unknown_skill") if skill else None
    check_username(username)
    check_password(password)
    hashing = PasswordHashing(settings.password_time_cost, settings.password_memory_kib)
    password_hash = await anyio.to_thread.run_sync(hashing.hash, password)
    db = make_database(settings.resolved_database_url)
    try:
        async with db.writer() as session:
            provider_id = None
            if provider_code:
                provider_id = await session.scalar(
                    select(Provider.id).where(Provider.code == provider_code)
                )
                if provider_id is None:
                    raise Invalid(
                        "unknown_provider", f"No provider with the code {provider_code!r}."
                    )
            user = await add_user(
                session,
                username=username,
                password_hash=password_hash,
                full_name=full_name,
                role=role_,
                provider_id=provider_id,
                skill_level=skill_,
            )
            await session.commit()
            return user.id
    finally:
        await db.dispose()
