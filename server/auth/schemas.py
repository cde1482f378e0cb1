"""Wire types of the auth routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

__all__ = ["LocaleIn", "LoginRequest", "LogoutRequest", "Me", "RefreshRequest", "TokenPair"]

Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["tech1"])]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=256, examples=["doorstep-demo"])]


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: Password
    device_id: uuid.UUID | None = None
    """An enrolled device of this user: its tokens are bound to it, and revoking the
    device ends them."""


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class LogoutRequest(RefreshRequest, forbid_unknown_fields=True):
    pass


class Me(msgspec.Struct):
    id: uuid.UUID
    username: str
    full_name: str
    role: str
    provider_id: uuid.UUID | None
    skill_level: str | None
    locale: str | None = None
    """The language the user chose (``zh-CN`` or ``en``); None: not chosen, the
    console shows the brand's default (``zh-CN``)."""


class LocaleIn(msgspec.Struct, forbid_unknown_fields=True):
    locale: Literal["zh-CN", "en"] | None
    """``zh-CN`` or ``en``; null forgets the choice (the brand's default again)."""


class TokenPair(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    """Seconds until the access token expires."""
    expires_at: datetime
    refresh_token: str
    """Single use: each refresh returns a new one. Presenting a used one ends the login
    everywhere."""
    refresh_expires_at: datetime
    user: Me
