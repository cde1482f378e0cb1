"""Bearer-token authentication for every route not marked ``opt={"public": True}``."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy import select

from server.auth.principal import Principal
from server.auth.tokens import TokenSigner
from server.db.engine import Database
from server.db.models.user import Device, Role, User
from server.errors import Unauthorized

__all__ = ["AuthMiddleware", "StatusCache"]


@dataclass
class StatusCache:
    """Remembers for a few seconds that a user is active and a device not revoked, so a
    burst of sync requests costs one lookup. A disabled user or revoked device is
    refused within ``ttl`` seconds on every node."""

    ttl: float = 5.0
    _seen: dict[tuple[uuid.UUID, uuid.UUID | None], float] = field(default_factory=dict)

    def fresh(self, key: tuple[uuid.UUID, uuid.UUID | None]) -> bool:
        at = self._seen.get(key)
        return at is not None and time.monotonic() - at < self.ttl

    def remember(self, key: tuple[uuid.UUID, uuid.UUID | None]) -> None:
        if len(self._seen) > 50_000:
            self._seen.clear()
        self._seen[key] = time.monotonic()

    def forget_user(self, user_id: uuid.UUID) -> None:
        for key in [k for k in self._seen if k[0] == user_id]:
            del self._seen[key]


class AuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(
                "not_authenticated", "Send an access token: Authorization: Bearer <token>."
            )
        state = connection.app.state
        signer: TokenSigner = state.signer
        claims = signer.verify(token.strip())
        cache: StatusCache = state.status_cache
        key = (claims.user_id, claims.device_id)
        if not cache.fresh(key):
            db: Database = state.db
            async with db.reader() as session:
                user = await session.get(User, claims.user_id)
                if user is None or not user.active:
                    raise Unauthorized("user_disabled", "This account is disabled.")
                if user.role != claims.role or user.provider_id != claims.provider_id:
                    # Demoted or moved since the token was issued: its powers are stale.
                    raise Unauthorized(
                        "token_expired", "This account has changed; refresh the access token."
                    )
                if claims.device_id is not None:
                    device = await session.scalar(
                        select(Device).where(
                            Device.id == claims.device_id, Device.user_id == user.id
                        )
                    )
                    if device is None or device.revoked_at is not None:
                        raise Unauthorized("device_revoked", "This device has been revoked.")
            cache.remember(key)
        principal = Principal(
            user_id=claims.user_id,
            role=Role(claims.role),
            provider_id=claims.provider_id,
            device_id=claims.device_id,
        )
        return AuthenticationResult(user=principal, auth=claims)
