"""Access tokens (short-lived JWTs, HS256) and refresh tokens (opaque, stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from server.db.models.user import Role
from server.errors import Unauthorized

__all__ = ["AccessClaims", "TokenSigner", "hash_refresh_token", "new_refresh_token"]

ALGORITHM = "HS256"
ISSUER = "doorstep"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    role: str
    provider_id: uuid.UUID | None
    device_id: uuid.UUID | None
    expires_at: datetime


class TokenSigner:
    def __init__(self, key: str, ttl_seconds: int) -> None:
        self._key = key
        self._ttl = ttl_seconds

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
        try:
            # The algorithm list is fixed: a token naming "none" or another algorithm fails.
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "nbf", "sub", "iss"]},
                leeway=5,
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
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise Unauthorized("token_invalid", "The access token is not valid.") from exc


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    # A fast hash is right here: the token is 256 random bits, not a guessable password.
    return hashlib.sha256(token.encode()).hexdigest()
