"""``/cities`` and ``/providers``: the map of where the brand works and who serves it.

Everyone reads cities; the brand's staff read every provider, provider staff only their
own; admins write both.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, patch, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.admin import service
from server.admin.schemas import (
    CityIn,
    CityOut,
    ProviderIn,
    ProviderOut,
    ProviderPatch,
    city_out,
    provider_out,
)
from server.auth.guards import ANY_ROLE, STAFF, allow
from server.context import RequestContext
from server.db.models import Role

__all__ = ["CityController", "ProviderController"]

ADMIN = allow(Role.ADMIN)


class CityController(Controller):
    path = "/cities"
    tags = ["cities"]

    @get(guards=[allow(ANY_ROLE)])
    async def list_cities(self, db: AsyncSession, ctx: RequestContext) -> list[CityOut]:
        """Every city, by name. Any signed-in role."""
        return [city_out(c) for c in await service.list_cities(db, ctx)]

    @post(guards=[ADMIN])
    async def create_city(self, db: AsyncSession, ctx: RequestContext, data: CityIn) -> CityOut:
        """Add a city. Admins only.

        The code is unique (409 `city_exists`); the time zone is an IANA name
        (422 `unknown_timezone`)."""
        return city_out(await service.create_city(db, ctx, data))


class ProviderController(Controller):
    path = "/providers"
    tags = ["providers"]

    @get(guards=[allow(STAFF)])
    async def list_providers(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        active: Annotated[
            bool | None, Parameter(description="Only active (or inactive) providers.")
        ] = None,
    ) -> list[ProviderOut]:
        """Providers, by code, with the cities they serve.

        Admins, auditors and call-center dispatchers see every provider; provider
        managers and provider dispatchers only their own."""
        return [provider_out(p) for p in await service.list_providers(db, ctx, active)]

    @get("/{provider_id:uuid}", guards=[allow(STAFF)])
    async def get_provider(
        self, db: AsyncSession, ctx: RequestContext, provider_id: uuid.UUID
    ) -> ProviderOut:
        """One provider. A provider that is not the caller's to see answers 404
        `provider_not_found`."""
        return provider_out(await service.get_provider(db, ctx, provider_id))

    @post(guards=[ADMIN])
    async def create_provider(
        self, db: AsyncSession, ctx: RequestContext, data: ProviderIn
    ) -> ProviderOut:
        """Add a provider serving the given cities. Admins only.

        The code is unique (409 `provider_exists`); every city must exist
        (422 `unknown_city`)."""
        return provider_out(await service.create_provider(db, ctx, data))

    @patch("/{provider_id:uuid}", guards=[ADMIN])
    async def update_provider(
        self, db: AsyncSession, ctx: RequestContext, provider_id: uuid.UUID, data: ProviderPatch
    ) -> ProviderOut:
        """Change a provider's name, phone, active flag or cities (replaced whole).
        Admins only.

        An inactive provider takes no new people (422 `provider_inactive` when one is
        created for it); its existing accounts stay as they are."""
        return provider_out(await service.update_provider(db, ctx, provider_id, data))
