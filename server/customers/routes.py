"""``/customers`` and ``/appliances``: customer records, lookup with history, appliances.

Reading is for desk staff (admins, auditors, dispatchers, provider managers — provider
staff only see customers with a job at their provider). Writing is for dispatchers and
admins. Technicians work through sync and get 403 here.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, patch, post
from litestar.openapi.spec import Example
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import DESK, allow
from server.context import RequestContext
from server.customers import appliances, service
from server.customers.schemas import (
    ApplianceCreate,
    ApplianceOut,
    AppliancePatch,
    CustomerCreate,
    CustomerHistory,
    CustomerLookupResult,
    CustomerOut,
    CustomerPatch,
)
from server.db.models import Role

__all__ = ["ApplianceController", "CustomerController"]

READERS = allow(DESK)
WRITERS = allow(Role.ADMIN, Role.DISPATCHER)


class CustomerController(Controller):
    path = "/customers"
    tags = ["customers"]

    @post("/", guards=[WRITERS])
    async def create(
        self, db: AsyncSession, ctx: RequestContext, data: CustomerCreate
    ) -> CustomerOut:
        """Create a customer with one to five phone numbers.

        Dispatchers and admins. Each phone number must have 5 to 20 digits
        (422 `invalid_phone`); the city must exist (422 `unknown_city`); latitude and
        longitude come together or not at all (422 `incomplete_coordinates`). A provider
        dispatcher sees the new customer once it has a job at their provider."""
        return await service.create_customer(db, ctx, data)

    @get("/lookup", guards=[READERS])
    async def lookup(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        name: Annotated[
            str | None,
            Parameter(
                description="Part of the name, any case.",
                max_length=200,
                examples=[Example(value="li wei")],
            ),
        ] = None,
        phone: Annotated[
            str | None,
            Parameter(
                description="At least 4 digits of a number; spaces, dashes and `+` are ignored.",
                max_length=64,
                examples=[Example(value="1234 5678")],
            ),
        ] = None,
        address: Annotated[
            str | None,
            Parameter(
                description="Part of the address, any case.",
                max_length=500,
                examples=[Example(value="wensan road")],
            ),
        ] = None,
        limit: Annotated[
            int, Parameter(ge=1, le=50, description="At most this many customers.")
        ] = 20,
    ) -> CustomerLookupResult:
        """Find customers by exactly one of `name`, `phone` or `address` (422
        `one_lookup_key` otherwise), each with their whole history: appliances, visits
        (newest first) and callbacks.

        Matching is partial and case-insensitive; `%` and `_` match themselves. A phone
        query needs at least 4 digits (422 `phone_too_short`). Best matches come first:
        the whole value, then values starting with it, then values containing it.
        Provider staff find only customers with a job at their provider, and see only
        their provider's visits."""
        return await service.lookup_customers(
            db, ctx, name=name, phone=phone, address=address, limit=limit
        )

    @get("/{customer_id:uuid}", guards=[READERS])
    async def get_customer(
        self, db: AsyncSession, ctx: RequestContext, customer_id: uuid.UUID
    ) -> CustomerOut:
        """One customer with their phone numbers and city."""
        return await service.get_customer(db, ctx, customer_id)

    @patch("/{customer_id:uuid}", guards=[WRITERS])
    async def update(
        self, db: AsyncSession, ctx: RequestContext, customer_id: uuid.UUID, data: CustomerPatch
    ) -> CustomerOut:
        """Change some of a customer's fields; `phones`, when sent, replaces the list.

        Dispatchers and admins; provider dispatchers only for customers they can see.
        The same rules as on creation apply to the result."""
        return await service.update_customer(db, ctx, customer_id, data)

    @get("/{customer_id:uuid}/history", guards=[READERS])
    async def history(
        self, db: AsyncSession, ctx: RequestContext, customer_id: uuid.UUID
    ) -> CustomerHistory:
        """A customer's whole history: appliances, visits (newest first) and callbacks.

        Provider staff see only their own provider's visits."""
        return await service.customer_history(db, ctx, customer_id)

    @post("/{customer_id:uuid}/appliances", guards=[WRITERS])
    async def create_appliance(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        customer_id: uuid.UUID,
        data: ApplianceCreate,
    ) -> ApplianceOut:
        """Record an appliance at a customer's home.

        Dispatchers and admins. The installer must be an active technician
        (422 `unknown_installer`; provider dispatchers may name only their own); their
        provider is recorded with them. The warranty cannot end before the install or
        purchase date (422 `invalid_warranty`)."""
        return await appliances.create_appliance(db, ctx, customer_id, data)

    @get("/{customer_id:uuid}/appliances", guards=[READERS])
    async def list_appliances(
        self, db: AsyncSession, ctx: RequestContext, customer_id: uuid.UUID
    ) -> list[ApplianceOut]:
        """A customer's appliances, oldest first."""
        return await appliances.list_appliances(db, ctx, customer_id)


class ApplianceController(Controller):
    path = "/appliances"
    tags = ["customers"]

    @get("/{appliance_id:uuid}", guards=[READERS])
    async def get_appliance(
        self, db: AsyncSession, ctx: RequestContext, appliance_id: uuid.UUID
    ) -> ApplianceOut:
        """One appliance, visible to whoever may see its customer."""
        return await appliances.get_appliance(db, ctx, appliance_id)

    @patch("/{appliance_id:uuid}", guards=[WRITERS])
    async def update(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        appliance_id: uuid.UUID,
        data: AppliancePatch,
    ) -> ApplianceOut:
        """Change some of an appliance's fields; nullable ones may be set to null.

        Dispatchers and admins; provider dispatchers only for customers they can see.
        The same rules as on creation apply to the result."""
        return await appliances.update_appliance(db, ctx, appliance_id, data)
