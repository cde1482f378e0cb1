"""Password hashing with Argon2id (memory-hard)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["PasswordHashing"]


class PasswordHashing:
    def __init__(self, time_cost: int = 2, memory_kib: int = 19 * 1024) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        # Verified against when the account does not exist, so that a login for an
        # unknown user costs the same time as one for a known user.
        self._dummy = self._hasher.hash("doorstep-no-such-user")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            return (
                self._hasher.verify(stored_hash or self._dummy, password)
                and stored_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False
