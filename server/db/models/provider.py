"""Cities, the service companies ("providers") and the cities each covers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import Base, IdMixin, Json, utcnow

provider_cities = Table(
    "provider_cities",
    Base.metadata,
    Column("provider_id", ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True),
    Column("city_id", ForeignKey("cities.id", ondelete="CASCADE"), primary_key=True),
)


class City(IdMixin, Base):
    __tablename__ = "cities"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    latitude: Mapped[float]
    longitude: Mapped[float]


class Provider(IdMixin, Base):
    __tablename__ = "providers"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    cities: Mapped[list[City]] = relationship(secondary=provider_cities, lazy="selectin")


class FeePolicy(IdMixin, Base):
    """What a customer may be charged in one city, and the money rules of callbacks.

    Amounts are integers in the currency's minor unit (cents, fen).
    ``items``: ``[{"code", "label", "max_amount", "allowed_in_warranty"}]``.
    """

    __tablename__ = "fee_policies"
    __table_args__ = (UniqueConstraint("city_id"),)

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    visit_fee: Mapped[int] = mapped_column(default=0)
    visit_fee_in_warranty: Mapped[bool] = mapped_column(default=False)
    items: Mapped[list[dict[str, object]]] = mapped_column(Json, default=list)
    very_satisfied_bonus: Mapped[int] = mapped_column(default=1000)
    false_report_fine: Mapped[int] = mapped_column(default=200000)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
