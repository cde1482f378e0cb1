"""Login, refresh-token rotation with reuse detection, logout, and login throttling."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import anyio
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.passwords import PasswordHashing
from server.auth.schemas import Me, TokenPair
from server.auth.tokens import TokenSigner, hash_refresh_token, new_refresh_token
from server.db.base import utcnow
from server.db.engine import Database
from server.db.models.user import Device, LoginAttempt, RefreshToken, User
from server.errors import Forbidden, RateLimited, Unauthorized
from server.settings import Settings

__all__ = ["AuthService", "me_of"]

BAD_LOGIN = Unauthorized("invalid_credentials", "Wrong username or password.")


def me_of(user: User) -> Me:
    return Me(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        role=user.role,
        provider_id=user.provider_id,
        skill_level=user.skill_level,
        locale=user.locale,
    )


class AuthService:
    """Owns its transactions rather than using the request's: security records (failed
    attempts, a revoked family) must be committed even though the request then answers
    with an error, and the password check must not hold SQLite's write lock."""

    def __init__(
        self, db: Database, settings: Settings, signer: TokenSigner, passwords: PasswordHashing
    ) -> None:
        self.db = db
        self.settings = settings
        self.signer = signer
        self.passwords = passwords

    # --- login --------------------------------------------------------------------

    async def login(
        self, username: str, password: str, remote_addr: str, device_id: uuid.UUID | None
    ) -> TokenPair:
        now = utcnow()
        async with self.db.reader() as session:
            await self._check_throttle(session, username, remote_addr, now)
            user = await session.scalar(select(User).where(User.username == username))
        # Argon2 is deliberately slow: keep it off the event loop and outside any lock.
        ok = await anyio.to_thread.run_sync(
            self.passwords.verify, user.password_hash if user else None, password
        )
        if not ok or user is None:
            async with self.db.writer() as session:
                session.add(LoginAttempt(username=username, remote_addr=remote_addr, at=now))
                await session.commit()
            raise BAD_LOGIN
        if not user.active:
            raise Forbidden("user_disabled", "This account is disabled.")
        async with self.db.writer() as session:
            if device_id is not None:
                await self._check_device(session, user.id, device_id)
            await session.execute(delete(LoginAttempt).where(LoginAttempt.username == username))
            pair = await self._issue(
                session, user, family_id=uuid.uuid4(), device_id=device_id, now=now
            )
            await session.commit()
        return pair

    async def _check_device(
        self, session: AsyncSession, user_id: uuid.UUID, device_id: uuid.UUID
    ) -> None:
        device = await session.get(Device, device_id)
        if device is None or device.user_id != user_id:
            raise Forbidden("device_not_enrolled", "That device is not enrolled to this user.")
        if device.revoked_at is not None:
            raise Unauthorized("device_revoked", "This device has been revoked.")

    async def _check_throttle(
        self, session: AsyncSession, username: str, remote_addr: str, now: datetime
    ) -> None:
        since = now - timedelta(seconds=self.settings.login_window)
        limits = (
            (LoginAttempt.username == username, self.settings.login_max_failures, "account"),
            (
                LoginAttempt.remote_addr == remote_addr,
                self.settings.login_max_failures * 4,
                "address",
            ),
        )
        for where, limit, what in limits:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(LoginAttempt.at)).where(
                        where, LoginAttempt.at > since
                    )
                )
            ).one()
            if count >= limit:
                retry = self.settings.login_window
                if oldest is not None:
                    oldest_at = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
                    retry = max(1, int((oldest_at - since).total_seconds()) + 1)
                raise RateLimited(
                    "login_throttled",
                    f"Too many failed logins for this {what}; try again in {retry} seconds.",
                    retry,
                )

    # --- refresh and logout -------------------------------------------------------

    async def refresh(self, token: str) -> TokenPair:
        async with self.db.writer() as session:
            pair = await self._refresh(session, token)
            await session.commit()
        return pair

    async def _refresh(self, session: AsyncSession, token: str) -> TokenPair:
        now = utcnow()
        row = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token))
        )
        if row is None or row.revoked_at is not None:
            raise Unauthorized("refresh_invalid", "This refresh token is not valid; log in again.")
        if row.used_at is not None:
            await self._revoke_family(session, row.family_id, now)
            raise Unauthorized(
                "refresh_reused",
                "This refresh token was already used; every session of this login is ended.",
            )
        if row.expires_at <= now:
            raise Unauthorized("refresh_expired", "This refresh token has expired; log in again.")
        user = await session.get(User, row.user_id)
        if user is None or not user.active:
            raise Unauthorized("user_disabled", "This account is disabled.")
        if row.device_id is not None:
            await self._check_device(session, user.id, row.device_id)
        # Mark used with a guarded update: of two concurrent refreshes only one wins.
        won = await session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
        )
        if won.rowcount != 1:  # type: ignore[attr-defined]
            await self._revoke_family(session, row.family_id, now)
            raise Unauthorized("refresh_reused", "This refresh token was already used.")
        return await self._issue(
            session, user, family_id=row.family_id, device_id=row.device_id, now=now
        )

    async def logout(self, token: str) -> None:
        async with self.db.writer() as session:
            await self._logout(session, token)
            await session.commit()

    async def _logout(self, session: AsyncSession, token: str) -> None:
        row = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token))
        )
        if row is not None:
            await session.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )

    async def _revoke_family(
        self, session: AsyncSession, family_id: uuid.UUID, now: datetime
    ) -> None:
        """Revoke and commit at once: the caller is about to answer with an error."""
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await session.commit()

    async def _issue(
        self,
        session: AsyncSession,
        user: User,
        *,
        family_id: uuid.UUID,
        device_id: uuid.UUID | None,
        now: datetime,
    ) -> TokenPair:
        access, exp = self.signer.issue(
            user_id=user.id,
            role=user.role,
            provider_id=user.provider_id,
            device_id=device_id,
            now=now,
        )
        refresh = new_refresh_token()
        refresh_exp = now + timedelta(seconds=self.settings.refresh_token_ttl)
        session.add(
            RefreshToken(
                family_id=family_id,
                user_id=user.id,
                device_id=device_id,
                token_hash=hash_refresh_token(refresh),
                issued_at=now,
                expires_at=refresh_exp,
            )
        )
        await session.flush()
        return TokenPair(
            access_token=access,
            token_type="bearer",
            expires_in=int((exp - now).total_seconds()),
            expires_at=exp,
            refresh_token=refresh,
            refresh_expires_at=refresh_exp,
            user=me_of(user),
        )
