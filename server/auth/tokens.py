"""Access tokens (short-lived JWTs, HS256) and refresh tokens (opaque, stored hashed)."""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from server.db.models.user import Role
from server.errors import Unauthorized

__all__ = ["AccessClaims", "TokenSigner", "hash_refresh_token", "new_refresh_token"]

ALGORITHM = "HS256"
ISSUER = "doorstep"
LEEWAY = 5
"""Seconds of clock skew allowed on ``exp`` and ``nbf``."""
VERIFIED_CACHE = 8192
"""Verified tokens remembered per process (each a few hundred bytes)."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    role: str
    provider_id: uuid.UUID | None
    device_id: uuid.UUID | None
    expires_at: datetime
    exp: int
    """``expires_at`` as the token's own integer timestamp."""


class TokenSigner:
    """Issues and verifies access tokens.

    A phone sends the same token on every request until it expires, so ``verify``
    remembers the tokens whose signature and claims it has checked (a bounded LRU keyed
    by the whole token string, which is what the signature covers): a repeat costs a
    dictionary look-up and the expiry check, which runs on every call. Only verified
    tokens are remembered, so forged ones cannot fill it. Whether the user is still
    active is not a property of the token and is never cached here
    (``server.auth.account``)."""

    def __init__(
        self, key: str, ttl_seconds: int, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key
        self._ttl = ttl_seconds
        self._clock = clock
        self._verified = functools.lru_cache(maxsize=VERIFIED_CACHE)(self._decode)

    def issue(
        self,
        *,
        user_id: uuid.UUID,
        role: str,
        provider_id: uuid.UUID | None,
        device_id: uuid.UUID | None = None,
        now: datetime | None = None,
    ) -> tuple[str, datetime]:
        now = now or datetime.now(UTC)
        exp = now + timedelta(seconds=self._ttl)
        claims: dict[str, object] = {
            "iss": ISSUER,
            "sub": str(user_id),
            "role": role,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(exp.timestamp()),
            "jti": secrets.token_hex(8),
            "typ": "access",
        }
        if provider_id:
            claims["pid"] = str(provider_id)
        if device_id:
            claims["did"] = str(device_id)
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), exp

    def verify(self, token: str) -> AccessClaims:
        claims = self._verified(token)
        if claims.exp <= self._clock() - LEEWAY:  # PyJWT's own rule, checked every time
            raise Unauthorized("token_expired", "The access token has expired; refresh it.")
        return claims

    def _decode(self, token: str) -> AccessClaims:
        """The full check: signature, algorithm, issuer, ``exp``, ``nbf``, claim types.
        Raises (and so is not remembered) for any token that fails it."""
        try:
            # The algorithm list is fixed: a token naming "none" or another algorithm fails.
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "nbf", "sub", "iss"]},
                leeway=LEEWAY,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized(
                "token_expired", "The access token has expired; refresh it."
            ) from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthorized("token_invalid", "The access token is not valid yet.") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("token_invalid", "The access token is not valid.") from exc
        if claims.get("typ") != "access":
            raise Unauthorized("token_invalid", "The access token is not valid.")
        try:
            return AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                role=Role(claims["role"]).value,
                provider_id=uuid.UUID(claims["pid"]) if claims.get("pid") else None,
                device_id=uuid.UUID(claims["did"]) if claims.get("did") else None,
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
                exp=int(claims["exp"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise Unauthorized("token_invalid", "The access token is not valid.") from exc


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    # A fast hash is right here: the token is 256 random bits, not a guessable password.
    return hashlib.sha256(token.encode()).hexdigest()
