"""ORM rows to wire Structs (ORM objects never go on the wire)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.customers.schemas import ApplianceOut, CustomerCity, CustomerOut, PhoneOut
from server.db.models import Appliance, City, Customer

__all__ = ["appliance_out", "customer_out", "local_today"]


def local_today(now: datetime, timezone: str) -> date:
    """Today's date in a city: warranties end on the customer's calendar, not UTC's."""
    try:
        return now.astimezone(ZoneInfo(timezone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return now.date()


def customer_out(customer: Customer, city: City) -> CustomerOut:
    return CustomerOut(
        id=customer.id,
        name=customer.name,
        phones=[PhoneOut(number=p.number, label=p.label) for p in customer.phones],
        address=customer.address,
        city=CustomerCity(id=city.id, code=city.code, name=city.name),
        latitude=customer.latitude,
        longitude=customer.longitude,
        notes=customer.notes,
        created_at=customer.created_at,
        updated_at=customer.updated_at,
    )


def appliance_out(appliance: Appliance, today: date) -> ApplianceOut:
    return ApplianceOut(
        id=appliance.id,
        customer_id=appliance.customer_id,
        category=appliance.category,
        brand=appliance.brand,
        model=appliance.model,
        serial=appliance.serial,
        purchase_date=appliance.purchase_date,
        install_date=appliance.install_date,
        installer_id=appliance.installer_id,
        installer_provider_id=appliance.installer_provider_id,
        warranty_end=appliance.warranty_end,
        in_warranty=appliance.in_warranty(today),
        created_at=appliance.created_at,
        updated_at=appliance.updated_at,
    )
