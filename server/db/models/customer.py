"""Customers, their phone numbers and their appliances."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import Base, IdMixin, TimestampMixin


class Customer(IdMixin, TimestampMixin, Base):
    __tablename__ = "customers"

    name: Mapped[str] = mapped_column(String(200), index=True)
    address: Mapped[str] = mapped_column(Text)
    city_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cities.id", ondelete="RESTRICT"), index=True
    )
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    notes: Mapped[str] = mapped_column(Text, default="")

    phones: Mapped[list[CustomerPhone]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="CustomerPhone.position"
    )


class CustomerPhone(IdMixin, Base):
    """``digits`` is the number with everything but digits removed, for lookup."""

    __tablename__ = "customer_phones"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(32))
    digits: Mapped[str] = mapped_column(String(32), index=True)
    label: Mapped[str] = mapped_column(String(32), default="mobile")
    position: Mapped[int] = mapped_column(default=0)


class Appliance(IdMixin, TimestampMixin, Base):
    """An appliance at a customer's home. ``installer_id`` is who installed it: after-sales
    work goes preferably to them."""

    __tablename__ = "appliances"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    category: Mapped[str] = mapped_column(String(32))
    brand: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(120), default="")
    serial: Mapped[str | None] = mapped_column(String(120), index=True)
    purchase_date: Mapped[date | None]
    install_date: Mapped[date | None]
    installer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    installer_provider_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("providers.id", ondelete="SET NULL")
    )
    warranty_end: Mapped[date | None]

    def in_warranty(self, on: date) -> bool:
        return self.warranty_end is not None and on <= self.warranty_end
