"""Appliance rules. An appliance is scoped through the customer who owns it: whoever may
see the customer may see its appliances; anything else answers 404."""

from __future__ import annotations

import uuid
from datetime import date

from msgspec import UNSET
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.principal import Principal
from server.auth.scope import customer_filter, require_desk, user_filter
from server.context import RequestContext
from server.customers.convert import appliance_out, local_today
from server.customers.schemas import ApplianceCreate, ApplianceOut, AppliancePatch
from server.customers.service import visible_customer
from server.db.models import Appliance, City, Customer, Job, Role, User
from server.errors import Invalid, NotFound
from server.jobs import hooks

__all__ = [
    "create_appliance",
    "get_appliance",
    "list_appliances",
    "update_appliance",
]


async def _visible_appliance(
    session: AsyncSession, p: Principal, appliance_id: uuid.UUID
) -> tuple[Appliance, str]:
    """The appliance and its customer's city timezone, if the caller may see the customer."""
    row = (
        await session.execute(
            select(Appliance, City.timezone)
            .join(Customer, Customer.id == Appliance.customer_id)
            .join(City, City.id == Customer.city_id)
            .where(Appliance.id == appliance_id, customer_filter(p))
        )
    ).first()
    if row is None:
        raise NotFound("appliance", appliance_id)
    return row[0], row[1]


async def _installer(session: AsyncSession, p: Principal, installer_id: uuid.UUID) -> User:
    """An active technician the caller may see (provider staff: their own provider's)."""
    user = await session.scalar(
        select(User).where(
            User.id == installer_id,
            User.role == Role.TECHNICIAN,
            User.active.is_(True),
            user_filter(p),
        )
    )
    if user is None:
        raise Invalid(
            "unknown_installer",
            "The installer must be an active technician.",
            {"installer_id": str(installer_id)},
        )
    return user


def _check_warranty(
    warranty_end: date | None, install_date: date | None, purchase_date: date | None
) -> None:
    if warranty_end is None:
        return
    for field, start in (("install_date", install_date), ("purchase_date", purchase_date)):
        if start is not None and warranty_end < start:
            raise Invalid(
                "invalid_warranty",
                f"The warranty cannot end before the {field.replace('_', ' ')}.",
                {"warranty_end": warranty_end.isoformat(), field: start.isoformat()},
            )


async def create_appliance(
    session: AsyncSession, ctx: RequestContext, customer_id: uuid.UUID, data: ApplianceCreate
) -> ApplianceOut:
    require_desk(ctx.principal)
    customer, city = await visible_customer(session, ctx.principal, customer_id)
    _check_warranty(data.warranty_end, data.install_date, data.purchase_date)
    installer = (
        await _installer(session, ctx.principal, data.installer_id)
        if data.installer_id is not None
        else None
    )
    appliance = Appliance(
        customer_id=customer.id,
        category=data.category.value,
        brand=data.brand.strip(),
        model=data.model.strip(),
        serial=(data.serial.strip() or None) if data.serial is not None else None,
        purchase_date=data.purchase_date,
        install_date=data.install_date,
        installer_id=installer.id if installer is not None else None,
        installer_provider_id=installer.provider_id if installer is not None else None,
        warranty_end=data.warranty_end,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    session.add(appliance)
    await session.flush()
    return appliance_out(appliance, local_today(ctx.now, city.timezone))


async def list_appliances(
    session: AsyncSession, ctx: RequestContext, customer_id: uuid.UUID
) -> list[ApplianceOut]:
    require_desk(ctx.principal)
    customer, city = await visible_customer(session, ctx.principal, customer_id)
    today = local_today(ctx.now, city.timezone)
    rows = await session.scalars(
        select(Appliance)
        .where(Appliance.customer_id == customer.id)
        .order_by(Appliance.created_at, Appliance.id)
    )
    return [appliance_out(a, today) for a in rows]


async def get_appliance(
    session: AsyncSession, ctx: RequestContext, appliance_id: uuid.UUID
) -> ApplianceOut:
    require_desk(ctx.principal)
    appliance, timezone = await _visible_appliance(session, ctx.principal, appliance_id)
    return appliance_out(appliance, local_today(ctx.now, timezone))


async def update_appliance(
    session: AsyncSession, ctx: RequestContext, appliance_id: uuid.UUID, data: AppliancePatch
) -> ApplianceOut:
    require_desk(ctx.principal)
    appliance, timezone = await _visible_appliance(session, ctx.principal, appliance_id)
    # Check the result as a whole before changing anything.
    install_date = appliance.install_date if data.install_date is UNSET else data.install_date
    purchase_date = appliance.purchase_date if data.purchase_date is UNSET else data.purchase_date
    warranty_end = appliance.warranty_end if data.warranty_end is UNSET else data.warranty_end
    _check_warranty(warranty_end, install_date, purchase_date)
    if data.installer_id is not UNSET:
        installer = (
            await _installer(session, ctx.principal, data.installer_id)
            if data.installer_id is not None
            else None
        )
        appliance.installer_id = installer.id if installer is not None else None
        appliance.installer_provider_id = installer.provider_id if installer is not None else None

    if data.category is not UNSET:
        appliance.category = data.category.value
    if data.brand is not UNSET:
        appliance.brand = data.brand.strip()
    if data.model is not UNSET:
        appliance.model = data.model.strip()
    if data.serial is not UNSET:
        appliance.serial = (data.serial.strip() or None) if data.serial is not None else None
    appliance.install_date = install_date
    appliance.purchase_date = purchase_date
    appliance.warranty_end = warranty_end
    if any(getattr(data, f) is not UNSET for f in data.__struct_fields__):
        appliance.updated_at = ctx.now
    await session.flush()
    await hooks.packets_stale(session, Job.appliance_id == appliance.id)
    return appliance_out(appliance, local_today(ctx.now, timezone))
