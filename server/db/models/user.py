"""People who log in, the phones they enrol, and the state of their sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import Base, IdMixin, utcnow
from server.db.models.provider import Provider


class Role(StrEnum):
    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    AUDITOR = "auditor"
    PROVIDER_MANAGER = "provider_manager"
    TECHNICIAN = "technician"


class SkillLevel(StrEnum):
    JUNIOR = "junior"
    INTERMEDIATE = "intermediate"
    SENIOR = "senior"


class User(IdMixin, Base):
    """``provider_id`` set: the user works for that provider and sees only its data.
    Dispatchers without a provider are the brand's call center and see everything."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    provider_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("providers.id", ondelete="RESTRICT"), index=True
    )
    skill_level: Mapped[str | None] = mapped_column(String(16))
    locale: Mapped[str | None] = mapped_column(String(16))
    """``zh-CN`` or ``en``; None: the browser's language, else the brand's default."""
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    provider: Mapped[Provider | None] = relationship(lazy="raise")


class Device(IdMixin, Base):
    """A phone enrolled to one user. ``public_key``: raw Ed25519 key that signs mutations;
    ``signature_alg``: what its signatures cover (``sync.signing``), fixed at enrolment
    (a new key or algorithm is a new enrolment)."""

    __tablename__ = "devices"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    label: Mapped[str] = mapped_column(String(120), default="")
    platform: Mapped[str] = mapped_column(String(32), default="")
    app_version: Mapped[str] = mapped_column(String(32), default="")
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    signature_alg: Mapped[str | None] = mapped_column(String(32))
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class RefreshToken(IdMixin, Base):
    """One issued refresh token. Tokens of one login form a family; presenting a token
    already used revokes the family (it was stolen, or the phone was cloned)."""

    __tablename__ = "refresh_tokens"

    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE")
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginAttempt(IdMixin, Base):
    """Failed logins, counted per account and per client address for throttling."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_remote_addr_at", "remote_addr", "at"),
    )

    username: Mapped[str] = mapped_column(String(64))
    remote_addr: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
