"""Wire types of the customer routes: customers, their phones, appliances and history."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from sync.vocabulary import ApplianceCategory

__all__ = [
    "ApplianceCreate",
    "ApplianceOut",
    "AppliancePatch",
    "CustomerCity",
    "CustomerCreate",
    "CustomerHistory",
    "CustomerLookupResult",
    "CustomerOut",
    "CustomerPatch",
    "NamedRef",
    "PhoneIn",
    "PhoneOut",
    "VisitOut",
]

# --- field types ---------------------------------------------------------------------

Name = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=200, examples=["Li Wei"], description="The customer's name."
    ),
]
Address = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=500,
        examples=["Room 1203, 88 Wensan Road, Xihu District"],
        description="Street address, as a technician needs it to find the door.",
    ),
]
PhoneNumber = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=32,
        examples=["+86 139 1234 5678"],
        description=(
            "As the customer gave it. Spaces, dashes and brackets are fine; it must "
            "contain 5 to 20 digits (422 `invalid_phone`)."
        ),
    ),
]
PhoneLabel = Annotated[
    str, msgspec.Meta(min_length=1, max_length=32, examples=["mobile", "home", "daughter"])
]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90, examples=[30.279])]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180, examples=[120.13])]
Notes = Annotated[
    str,
    msgspec.Meta(max_length=2000, examples=["Call before 6 pm; the doorbell does not work."]),
]
CityId = Annotated[
    uuid.UUID,
    msgspec.Meta(
        examples=["0190f1d2-7a3b-7c4d-8e5f-0123456789ab"],
        description="A known city (422 `unknown_city`).",
    ),
]
Category = Annotated[
    ApplianceCategory,
    msgspec.Meta(examples=["water_heater"], description="What kind of appliance."),
]
Brand = Annotated[str, msgspec.Meta(max_length=64, examples=["Haier"])]
Model = Annotated[str, msgspec.Meta(max_length=120, examples=["DH-60"])]
Serial = Annotated[str, msgspec.Meta(min_length=1, max_length=120, examples=["SN-HZ-0001"])]
InstallerId = Annotated[
    uuid.UUID,
    msgspec.Meta(
        examples=["0190f1d2-7a3b-7c4d-8e5f-0123456789ab"],
        description=(
            "The active technician who installed it (422 `unknown_installer`); after-sales "
            "work goes preferably to them. Their provider is recorded with it."
        ),
    ),
]
WarrantyEnd = Annotated[
    date,
    msgspec.Meta(
        examples=["2028-03-01"],
        description=(
            "Last day of warranty; not before the install or purchase date "
            "(422 `invalid_warranty`)."
        ),
    ),
]


# --- inbound -------------------------------------------------------------------------


class PhoneIn(msgspec.Struct, forbid_unknown_fields=True):
    number: PhoneNumber
    label: PhoneLabel = "mobile"


Phones = Annotated[list[PhoneIn], msgspec.Meta(min_length=1, max_length=5)]


class CustomerCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    phones: Phones
    """One to five numbers, the first one being the one to call first."""
    address: Address
    city_id: CityId
    latitude: Latitude | None = None
    """With ``longitude``: both or neither (422 `incomplete_coordinates`)."""
    longitude: Longitude | None = None
    notes: Notes = ""


class CustomerPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields sent change. ``phones``, when sent, replaces the whole list.
    ``latitude``/``longitude`` may be set to null together to forget the position."""

    name: Name | UnsetType = UNSET
    phones: Phones | UnsetType = UNSET
    address: Address | UnsetType = UNSET
    city_id: CityId | UnsetType = UNSET
    latitude: Latitude | UnsetType | None = UNSET
    longitude: Longitude | UnsetType | None = UNSET
    notes: Notes | UnsetType = UNSET


class ApplianceCreate(msgspec.Struct, forbid_unknown_fields=True):
    category: Category
    brand: Brand = ""
    model: Model = ""
    serial: Serial | None = None
    purchase_date: date | None = None
    install_date: date | None = None
    installer_id: InstallerId | None = None
    warranty_end: WarrantyEnd | None = None


class AppliancePatch(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields sent change; nullable fields may be set to null to clear them."""

    category: Category | UnsetType = UNSET
    brand: Brand | UnsetType = UNSET
    model: Model | UnsetType = UNSET
    serial: Serial | UnsetType | None = UNSET
    purchase_date: date | UnsetType | None = UNSET
    install_date: date | UnsetType | None = UNSET
    installer_id: InstallerId | UnsetType | None = UNSET
    warranty_end: WarrantyEnd | UnsetType | None = UNSET


# --- outbound ------------------------------------------------------------------------


class PhoneOut(msgspec.Struct):
    number: PhoneNumber
    label: PhoneLabel


class CustomerCity(msgspec.Struct):
    id: uuid.UUID
    code: Annotated[str, msgspec.Meta(examples=["hangzhou"])]
    name: Annotated[str, msgspec.Meta(examples=["Hangzhou"])]


class NamedRef(msgspec.Struct):
    """Another object, by id and a name a person can read."""

    id: uuid.UUID
    name: Annotated[str, msgspec.Meta(examples=["Westlake Home Service"])]


class CustomerOut(msgspec.Struct):
    id: uuid.UUID
    name: Name
    phones: list[PhoneOut]
    address: Address
    city: CustomerCity
    latitude: float | None
    longitude: float | None
    notes: str
    created_at: datetime
    updated_at: datetime


class ApplianceOut(msgspec.Struct):
    id: uuid.UUID
    customer_id: uuid.UUID
    category: Annotated[str, msgspec.Meta(examples=["water_heater"])]
    brand: str
    model: str
    serial: str | None
    purchase_date: date | None
    install_date: date | None
    installer_id: uuid.UUID | None
    installer_provider_id: uuid.UUID | None
    warranty_end: date | None
    in_warranty: bool
    """Under warranty today (the customer's city's date)."""
    created_at: datetime
    updated_at: datetime


class VisitOut(msgspec.Struct):
    """One job (visit) in a customer's history."""

    id: uuid.UUID
    number: Annotated[str, msgspec.Meta(examples=["HZ-20250301-0042"])]
    kind: Annotated[str, msgspec.Meta(examples=["repair"])]
    status: Annotated[str, msgspec.Meta(examples=["completed"])]
    priority: Annotated[str, msgspec.Meta(examples=["normal"])]
    window_start: datetime | None
    """Appointment window; both empty while the appointment is pending."""
    window_end: datetime | None
    provider: NamedRef | None
    technician: NamedRef | None
    appliance_id: uuid.UUID | None
    previous_job_id: uuid.UUID | None
    created_at: datetime
    completed_at: datetime | None
    unable_reason: Annotated[str | None, msgspec.Meta(examples=["customer_not_home"])]
    appliance_repair_count: int | None
    """For a repair on a known appliance: how many repairs that appliance has had (this
    one included) — a second is reviewed, a third goes to a senior technician. Counted
    among the jobs the caller may see. Empty for other kinds."""


class CallbackSummary(msgspec.Struct):
    """A callback made to this customer, with what they said last (corrections applied)."""

    id: uuid.UUID
    job_id: uuid.UUID
    kind: str
    state: str
    result: str | None
    satisfaction: str | None
    created_at: datetime
    closed_at: datetime | None


class CustomerHistory(msgspec.Struct):
    customer: CustomerOut
    appliances: list[ApplianceOut]
    """Oldest first."""
    jobs: list[VisitOut]
    """Visits, newest first. Provider staff see only their own provider's."""
    callbacks: list[CallbackSummary]
    """Callbacks to this customer, newest first. Only the brand's staff see them."""


class CustomerLookupResult(msgspec.Struct):
    items: list[CustomerHistory]
    """Best matches first (exact, then starting with the query, then containing it)."""
    has_more: bool
    """More customers match than ``limit``: narrow the query."""
