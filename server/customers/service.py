"""Customer rules: create, read, update, and the lookup by name, phone or address.

Visibility comes from ``server.auth.scope``: a customer the caller may not see answers
404, exactly as if it did not exist — for reads and writes alike.

Lookup is built for a call center that looks people up all day: one query finds the
matching customers (scoped, ranked, limited), and their history is then loaded with a
fixed handful of set-based queries however many customers and jobs there are
(``server.customers.history``).
"""

from __future__ import annotations

import unicodedata
import uuid

from msgspec import UNSET
from sqlalchemy import ColumnElement, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from server.auth.principal import Principal
from server.auth.scope import customer_filter, require_desk
from server.context import RequestContext
from server.customers.convert import customer_out
from server.customers.history import load_histories
from server.customers.schemas import (
    CustomerCreate,
    CustomerHistory,
    CustomerLookupResult,
    CustomerOut,
    CustomerPatch,
    PhoneIn,
)
from server.db.models import City, Customer, CustomerPhone, Job
from server.errors import Invalid, NotFound
from server.jobs import hooks

__all__ = [
    "MIN_PHONE_LOOKUP_DIGITS",
    "create_customer",
    "customer_history",
    "get_customer",
    "lookup_customers",
    "phone_digits",
    "update_customer",
    "visible_customer",
]

MIN_PHONE_DIGITS = 5
MAX_PHONE_DIGITS = 20
MIN_PHONE_LOOKUP_DIGITS = 4
LIKE_ESCAPE = "\\"

# --- conversions -----------------------------------------------------------------------


def phone_digits(number: str) -> str:
    """The digits of a phone number as ASCII (``+86 139-1234 5678`` → ``8613912345678``).

    Any script's decimal digits count — full-width ones (U+FF10-U+FF19) from a Chinese input method
    included — so a number is found however it was typed."""
    return "".join(str(unicodedata.decimal(c)) for c in number if c.isdecimal())


# --- checks ----------------------------------------------------------------------------


def _phones(phones: list[PhoneIn]) -> list[CustomerPhone]:
    rows: list[CustomerPhone] = []
    seen: set[str] = set()
    for i, phone in enumerate(phones):
        number = phone.number.strip()
        digits = phone_digits(number)
        if not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS:
            raise Invalid(
                "invalid_phone",
                f"A phone number must have {MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS} digits.",
                {"index": i, "number": phone.number, "digits": len(digits)},
            )
        if digits in seen:
            raise Invalid(
                "duplicate_phone",
                "The same phone number is given twice.",
                {"index": i, "number": phone.number},
            )
        seen.add(digits)
        rows.append(
            CustomerPhone(number=number, digits=digits, label=phone.label.strip(), position=i)
        )
    return rows


def _text(field: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise Invalid("blank_field", f"The {field} must not be blank.", {"field": field})
    return value


def _check_coordinates(latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        raise Invalid(
            "incomplete_coordinates",
            "Give both latitude and longitude, or neither.",
            {"latitude": latitude, "longitude": longitude},
        )


async def _city(session: AsyncSession, city_id: uuid.UUID) -> City:
    city = await session.get(City, city_id)
    if city is None:
        raise Invalid("unknown_city", "No city with that id.", {"city_id": str(city_id)})
    return city


async def visible_customer(
    session: AsyncSession, p: Principal, customer_id: uuid.UUID
) -> tuple[Customer, City]:
    """The customer and its city, if the caller may see it; else 404."""
    row = (
        await session.execute(
            select(Customer, City)
            .join(City, City.id == Customer.city_id)
            .where(Customer.id == customer_id, customer_filter(p))
        )
    ).first()
    if row is None:
        raise NotFound("customer", customer_id)
    return row[0], row[1]


# --- commands --------------------------------------------------------------------------


async def create_customer(
    session: AsyncSession, ctx: RequestContext, data: CustomerCreate
) -> CustomerOut:
    require_desk(ctx.principal)
    name = _text("name", data.name)
    address = _text("address", data.address)
    phones = _phones(data.phones)
    _check_coordinates(data.latitude, data.longitude)
    city = await _city(session, data.city_id)
    customer = Customer(
        name=name,
        address=address,
        city_id=city.id,
        latitude=data.latitude,
        longitude=data.longitude,
        notes=data.notes.strip(),
        phones=phones,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    session.add(customer)
    await session.flush()
    return customer_out(customer, city)


async def update_customer(
    session: AsyncSession, ctx: RequestContext, customer_id: uuid.UUID, data: CustomerPatch
) -> CustomerOut:
    require_desk(ctx.principal)
    customer, city = await visible_customer(session, ctx.principal, customer_id)
    # Check everything before changing anything.
    name = _text("name", data.name) if data.name is not UNSET else UNSET
    address = _text("address", data.address) if data.address is not UNSET else UNSET
    phones = _phones(data.phones) if data.phones is not UNSET else UNSET
    latitude = customer.latitude if data.latitude is UNSET else data.latitude
    longitude = customer.longitude if data.longitude is UNSET else data.longitude
    _check_coordinates(latitude, longitude)
    if data.city_id is not UNSET and data.city_id != customer.city_id:
        city = await _city(session, data.city_id)

    if name is not UNSET:
        customer.name = name
    if address is not UNSET:
        customer.address = address
    if data.notes is not UNSET:
        customer.notes = data.notes.strip()
    if phones is not UNSET:
        customer.phones = phones
    customer.city_id = city.id
    customer.latitude = latitude
    customer.longitude = longitude
    if any(getattr(data, f) is not UNSET for f in data.__struct_fields__):
        customer.updated_at = ctx.now
    await session.flush()
    await hooks.packets_stale(session, Job.customer_id == customer.id)
    return customer_out(customer, city)


# --- queries ---------------------------------------------------------------------------


async def get_customer(
    session: AsyncSession, ctx: RequestContext, customer_id: uuid.UUID
) -> CustomerOut:
    require_desk(ctx.principal)
    customer, city = await visible_customer(session, ctx.principal, customer_id)
    return customer_out(customer, city)


async def customer_history(
    session: AsyncSession, ctx: RequestContext, customer_id: uuid.UUID
) -> CustomerHistory:
    require_desk(ctx.principal)
    customer, city = await visible_customer(session, ctx.principal, customer_id)
    (history,) = await load_histories(session, ctx, [(customer, city)])
    return history


def _escape_like(value: str) -> str:
    """User input as a literal inside a LIKE pattern: ``%`` and ``_`` match themselves."""
    return (
        value.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def _text_match(
    column: ColumnElement[str] | InstrumentedAttribute[str], query: str
) -> tuple[ColumnElement[bool], ColumnElement[int]]:
    """Case-insensitive substring match, and a rank: 0 equal, 1 starts with, 2 contains.

    Both sides are lowered by the database, so the match is the same whatever the
    database's idea of case (SQLite lowers ASCII only, PostgreSQL all of Unicode).
    ``lower(col) LIKE '%…%'`` is the form a trigram index on ``lower(col)`` serves."""
    lowered = func.lower(column)
    escaped = _escape_like(query)
    matches = lowered.like(func.lower(literal(f"%{escaped}%")), escape=LIKE_ESCAPE)
    rank = case(
        (lowered == func.lower(literal(query)), 0),
        (lowered.like(func.lower(literal(f"{escaped}%")), escape=LIKE_ESCAPE), 1),
        else_=2,
    )
    return matches, rank


def _lookup_key(name: str | None, phone: str | None, address: str | None) -> tuple[str, str]:
    given = {
        key: value.strip()
        for key, value in (("name", name), ("phone", phone), ("address", address))
        if value is not None and value.strip()
    }
    if len(given) != 1:
        raise Invalid(
            "one_lookup_key",
            "Look a customer up by exactly one of name, phone or address.",
            {"given": sorted(given)},
        )
    ((key, value),) = given.items()
    return key, value


async def lookup_customers(
    session: AsyncSession,
    ctx: RequestContext,
    *,
    name: str | None = None,
    phone: str | None = None,
    address: str | None = None,
    limit: int = 20,
) -> CustomerLookupResult:
    p = ctx.principal
    require_desk(p)
    key, value = _lookup_key(name, phone, address)

    stmt = select(Customer, City).join(City, City.id == Customer.city_id)
    if key == "phone":
        digits = phone_digits(value)
        if len(digits) < MIN_PHONE_LOOKUP_DIGITS:
            raise Invalid(
                "phone_too_short",
                f"Give at least {MIN_PHONE_LOOKUP_DIGITS} digits of the phone number.",
                {"digits": len(digits), "min_digits": MIN_PHONE_LOOKUP_DIGITS},
            )
        # Digits only: nothing in the pattern needs escaping. One row per customer, with
        # the best rank of its numbers: 0 the whole number, 1 the number without its
        # country or area prefix, 2 its start, 3 anywhere in it.
        col = CustomerPhone.digits
        phone_rank = case(
            (col == digits, 0),
            (col.endswith(digits), 1),
            (col.startswith(digits), 2),
            else_=3,
        )
        matched = (
            select(CustomerPhone.customer_id, func.min(phone_rank).label("rank"))
            .where(col.contains(digits))
            .group_by(CustomerPhone.customer_id)
            .subquery()
        )
        rank: ColumnElement[int] = matched.c.rank
        stmt = stmt.join(matched, matched.c.customer_id == Customer.id)
    else:
        column = Customer.name if key == "name" else Customer.address
        where, rank = _text_match(column, value)
        stmt = stmt.where(where)

    rows = (
        await session.execute(
            stmt.where(customer_filter(p))
            .order_by(rank, Customer.name, Customer.id)
            .limit(limit + 1)
        )
    ).all()
    found = [(row[0], row[1]) for row in rows[:limit]]
    items = await load_histories(session, ctx, found)
    return CustomerLookupResult(items=items, has_more=len(rows) > limit)
