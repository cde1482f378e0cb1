"""Wire types of the admin routes: cities, providers, users, devices, fee policies,
checklists and knowledge articles.

Amounts are integers in the currency's minor unit (fen, cents). Fields a ``PATCH`` may
leave out are ``UNSET``; ``null`` clears the ones that may be empty.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from server.db.models import (
    Checklist,
    City,
    Device,
    FeePolicy,
    KbArticle,
    Provider,
    Role,
    SkillLevel,
    User,
)
from server.users.service import MIN_PASSWORD_LENGTH, USERNAME_PATTERN

__all__ = [
    "ChecklistIn",
    "ChecklistItem",
    "ChecklistOut",
    "CityIn",
    "CityOut",
    "CityRef",
    "DeviceOut",
    "FeeItem",
    "FeePolicyIn",
    "FeePolicyOut",
    "KbArticleIn",
    "KbArticleOut",
    "ProviderIn",
    "ProviderOut",
    "ProviderPatch",
    "UserIn",
    "UserOut",
    "UserPage",
    "UserPatch",
    "checklist_out",
    "city_out",
    "device_out",
    "fee_policy_out",
    "kb_article_out",
    "provider_out",
    "user_out",
]

MAX_AMOUNT = 1_000_000_000
"""Ten million in major units: far above any fee, and inside a 32-bit integer column."""

Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
Phone = Annotated[str, msgspec.Meta(min_length=1, max_length=32, examples=["+86 571 8765 4321"])]
Amount = Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT, examples=[3000])]
ItemCode = Annotated[
    str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", examples=["shoe_covers"])
]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["Wear shoe covers"])]

# --- cities -------------------------------------------------------------------------


class CityIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[Slug, msgspec.Meta(examples=["hangzhou"])]
    """Stable short name, unique: lower-case letters, digits, ``_`` and ``-``."""
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120, examples=["Hangzhou"])]
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["Asia/Shanghai"])]
    """An IANA time zone: appointment windows are shown in it."""
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90, examples=[30.2741])]
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180, examples=[120.1551])]


class CityOut(msgspec.Struct):
    id: uuid.UUID
    code: str
    name: str
    timezone: str
    latitude: float
    longitude: float


class CityRef(msgspec.Struct):
    id: uuid.UUID
    code: str
    name: str


# --- providers ----------------------------------------------------------------------

ProviderName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, examples=["Westlake Home Service"])
]
CityIds = Annotated[list[uuid.UUID], msgspec.Meta(max_length=1000)]


class ProviderIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[Slug, msgspec.Meta(examples=["westlake"])]
    name: ProviderName
    city_ids: CityIds
    """The cities the provider serves (may be empty while it is being set up)."""
    phone: Phone | None = None


class ProviderPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: ProviderName | UnsetType = UNSET
    phone: Phone | UnsetType | None = UNSET
    """``null`` removes the phone number."""
    active: bool | UnsetType = UNSET
    """An inactive provider takes no new people."""
    city_ids: CityIds | UnsetType = UNSET
    """Replaces the cities served."""


class ProviderOut(msgspec.Struct):
    id: uuid.UUID
    code: str
    name: str
    phone: str | None
    active: bool
    created_at: datetime
    cities: list[CityRef]


# --- users and devices --------------------------------------------------------------

Username = Annotated[str, msgspec.Meta(pattern=USERNAME_PATTERN, examples=["wang.lei"])]
NewPassword = Annotated[
    str,
    msgspec.Meta(
        min_length=MIN_PASSWORD_LENGTH, max_length=256, examples=["blue kettle on the stove"]
    ),
]
FullName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["Wang Lei"])]
RoleField = Annotated[Role, msgspec.Meta(examples=["technician"])]
Skill = Annotated[SkillLevel, msgspec.Meta(examples=["intermediate"])]


class UserIn(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    """3 to 64 characters: lower-case letters, digits, ``.``, ``_`` and ``-``."""
    password: NewPassword
    full_name: FullName
    role: RoleField
    phone: Phone | None = None
    provider_id: uuid.UUID | None = None
    """Required for technicians and provider managers, forbidden for admins and auditors;
    a dispatcher with one is that provider's dispatcher, without one the call center.
    A provider manager may leave it out: it defaults to their own provider."""
    skill_level: Skill | None = None
    """Required for technicians, forbidden for everyone else."""


class UserPatch(msgspec.Struct, forbid_unknown_fields=True):
    """A provider manager may change only ``full_name``, ``phone``, ``skill_level`` and
    ``active``."""

    full_name: FullName | UnsetType = UNSET
    phone: Phone | UnsetType | None = UNSET
    skill_level: Skill | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET
    """``false`` disables the account: its sessions end at once."""
    role: RoleField | UnsetType = UNSET
    provider_id: uuid.UUID | UnsetType | None = UNSET
    password: NewPassword | UnsetType = UNSET
    """A new password; the user's sessions end."""


class UserOut(msgspec.Struct):
    id: uuid.UUID
    username: str
    full_name: str
    phone: str | None
    role: str
    provider_id: uuid.UUID | None
    skill_level: str | None
    active: bool
    created_at: datetime


class UserPage(msgspec.Struct):
    items: list[UserOut]
    total: int
    """How many users match the filters, across all pages."""
    limit: int
    offset: int


class DeviceOut(msgspec.Struct):
    id: uuid.UUID
    user_id: uuid.UUID
    label: str
    platform: str
    app_version: str
    has_key: bool
    """Whether the device enrolled a signing key."""
    enrolled_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None


# --- fee policies -------------------------------------------------------------------


class FeeItem(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[ItemCode, msgspec.Meta(examples=["labour"])]
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["Labour"])]
    max_amount: Annotated[Amount, msgspec.Meta(examples=[10000])]
    """The most a customer may be charged for this item."""
    allowed_in_warranty: bool
    """Whether the item may be charged while the appliance is under warranty."""


class FeePolicyIn(msgspec.Struct, forbid_unknown_fields=True):
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", examples=["CNY"])]
    visit_fee: Amount
    visit_fee_in_warranty: bool
    """Whether the visit fee may be charged while the appliance is under warranty."""
    items: Annotated[list[FeeItem], msgspec.Meta(max_length=200)]
    """Chargeable items; codes are unique."""
    very_satisfied_bonus: Annotated[Amount, msgspec.Meta(examples=[1000])]
    """Paid to the technician per job the customer calls very satisfied."""
    false_report_fine: Annotated[Amount, msgspec.Meta(examples=[200000])]
    """Charged for a report the callback proves false."""


class FeePolicyOut(msgspec.Struct):
    city_id: uuid.UUID
    currency: str
    visit_fee: int
    visit_fee_in_warranty: bool
    items: list[FeeItem]
    very_satisfied_bonus: int
    false_report_fine: int
    updated_at: datetime


# --- checklists and knowledge articles ----------------------------------------------


class ChecklistItem(msgspec.Struct, forbid_unknown_fields=True):
    code: ItemCode
    label: Label
    required: bool = True
    """A required item must be ticked before the visit can be completed."""


class ChecklistIn(msgspec.Struct, forbid_unknown_fields=True):
    items: Annotated[list[ChecklistItem], msgspec.Meta(max_length=100)]
    """Codes are unique."""


class ChecklistOut(msgspec.Struct):
    id: uuid.UUID
    job_kind: str
    category: str
    """An appliance category, or ``*`` for every category."""
    items: list[ChecklistItem]
    version: int
    """Grows with every replacement, so phones can tell theirs is stale."""
    updated_at: datetime


class KbArticleIn(msgspec.Struct, forbid_unknown_fields=True):
    category: Annotated[Slug, msgspec.Meta(examples=["water_heater"])]
    title: Annotated[
        str, msgspec.Meta(min_length=1, max_length=200, examples=["Descaling a water heater"])
    ]
    body: Annotated[
        str, msgspec.Meta(min_length=1, max_length=100_000, examples=["1. Turn off the power…"])
    ]


class KbArticleOut(msgspec.Struct):
    id: uuid.UUID
    category: str
    title: str
    body: str
    version: int
    updated_at: datetime


# --- from the database ----------------------------------------------------------------


def city_out(city: City) -> CityOut:
    return CityOut(
        id=city.id,
        code=city.code,
        name=city.name,
        timezone=city.timezone,
        latitude=city.latitude,
        longitude=city.longitude,
    )


def provider_out(provider: Provider) -> ProviderOut:
    return ProviderOut(
        id=provider.id,
        code=provider.code,
        name=provider.name,
        phone=provider.phone,
        active=provider.active,
        created_at=provider.created_at,
        cities=[
            CityRef(id=c.id, code=c.code, name=c.name)
            for c in sorted(provider.cities, key=lambda c: c.code)
        ],
    )


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        phone=user.phone,
        role=user.role,
        provider_id=user.provider_id,
        skill_level=user.skill_level,
        active=user.active,
        created_at=user.created_at,
    )


def device_out(device: Device) -> DeviceOut:
    return DeviceOut(
        id=device.id,
        user_id=device.user_id,
        label=device.label,
        platform=device.platform,
        app_version=device.app_version,
        has_key=device.public_key is not None,
        enrolled_at=device.enrolled_at,
        last_seen_at=device.last_seen_at,
        revoked_at=device.revoked_at,
    )


def fee_policy_out(policy: FeePolicy) -> FeePolicyOut:
    return FeePolicyOut(
        city_id=policy.city_id,
        currency=policy.currency,
        visit_fee=policy.visit_fee,
        visit_fee_in_warranty=policy.visit_fee_in_warranty,
        items=msgspec.convert(policy.items, list[FeeItem]),
        very_satisfied_bonus=policy.very_satisfied_bonus,
        false_report_fine=policy.false_report_fine,
        updated_at=policy.updated_at,
    )


def checklist_out(checklist: Checklist) -> ChecklistOut:
    return ChecklistOut(
        id=checklist.id,
        job_kind=checklist.job_kind,
        category=checklist.category,
        items=msgspec.convert(checklist.items, list[ChecklistItem]),
        version=checklist.version,
        updated_at=checklist.updated_at,
    )


def kb_article_out(article: KbArticle) -> KbArticleOut:
    return KbArticleOut(
        id=article.id,
        category=article.category,
        title=article.title,
        body=article.body,
        version=article.version,
        updated_at=article.updated_at,
    )
