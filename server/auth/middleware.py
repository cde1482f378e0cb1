"""Bearer-token authentication for every route not marked ``opt={"public": True}``."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import Scope

from server.auth.account import ACCOUNT_CHECKED, check_account_now
from server.auth.principal import Principal
from server.auth.tokens import VERIFIED_CACHE, AccessClaims, TokenSigner
from server.db.models.user import Role
from server.errors import Unauthorized

__all__ = ["AuthMiddleware", "StatusCache", "authenticate"]


@dataclass
class StatusCache:
    """Remembers for a few seconds that a user is active and a device not revoked, so a
    burst of desk requests costs one lookup. A disabled user or revoked device is
    refused within ``ttl`` seconds on every node (at once on the node that made the
    change, and at once on every node by routes marked ``ACCOUNT_CHECKED``)."""

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


def _authorization(scope: Scope) -> str:
    """The first Authorization header, read straight from the ASGI scope: parsing every
    header into ``connection.headers`` costs several times more, on every request."""
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            return value.decode("latin-1")
    return ""


def authenticate(scope: Scope, signer: TokenSigner) -> tuple[Principal, AccessClaims]:
    """The caller of a request by its bearer token, or ``Unauthorized``: the one rule,
    for the middleware and for the lean poll route (``server.sync_api.lean``)."""
    scheme, _, token = _authorization(scope).partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "not_authenticated", "Send an access token: Authorization: Bearer <token>."
        )
    token = token.strip()
    claims = signer.verify(token)  # every call: the signature once, the expiry each time
    known = _principals.get(token)
    if known is not None and known[1] is claims:  # the very claims verify remembers
        return known
    principal = Principal(
        user_id=claims.user_id,
        role=Role(claims.role),
        provider_id=claims.provider_id,
        device_id=claims.device_id,
    )
    if len(_principals) >= VERIFIED_CACHE:
        _principals.clear()
    _principals[token] = principal, claims
    return principal, claims


_principals: dict[str, tuple[Principal, AccessClaims]] = {}
"""The caller of each remembered token (a ``Principal`` is built from nothing but the
token's claims), kept only while ``TokenSigner.verify`` answers with the same claims."""


class AuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        state = connection.app.state
        principal, claims = authenticate(connection.scope, state.signer)
        if not connection.route_handler.opt.get(ACCOUNT_CHECKED):
            cache: StatusCache = state.status_cache
            key = (claims.user_id, claims.device_id)
            if not cache.fresh(key):
                await check_account_now(state.db, principal)
                cache.remember(key)
        return AuthenticationResult(user=principal, auth=claims)
