"""Arguments of the field-evidence mutations (calls, check-out, photos, the completion
report, the customer's sign-off). Unknown fields are refused, like every mutation's
(``unknown_argument``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from sync.trace_wire import LocationTraceArgs
from sync.wire import CheckInArgs, Latitude, Longitude

__all__ = [
    "EVIDENCE_ARGS",
    "CallAttemptArgs",
    "ChargeLine",
    "CheckOutArgs",
    "LocationTraceArgs",
    "PartLine",
    "PhotoArgs",
    "ReportArgs",
    "SignOffArgs",
]

Sha256 = Annotated[
    str,
    msgspec.Meta(
        pattern="^[0-9a-f]{64}$",
        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    ),
]
PhotoKind = Literal["before", "after", "serial_plate", "door", "other"]


class CallAttemptArgs(msgspec.Struct, forbid_unknown_fields=True):
    call_id: uuid.UUID
    started_at: datetime
    outcome: Literal["answered", "no_answer", "busy", "unreachable_number"]
    duration_s: Annotated[int, msgspec.Meta(ge=0, le=86_400)] = 0
    channel: Literal["call", "sms"] = "call"


class CheckOutArgs(CheckInArgs):
    """A departure fix; ``checkin_id`` is this check-out's own UUID."""


class PhotoArgs(msgspec.Struct, forbid_unknown_fields=True):
    photo_id: uuid.UUID
    sha256: Sha256
    """The blob's hash; the blob may be uploaded before or after this mutation."""
    kind: PhotoKind
    content_type: Literal["image/jpeg", "image/png", "image/webp"] = "image/jpeg"


class PartLine(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    code: Annotated[str, msgspec.Meta(max_length=64)] = ""
    unit_price: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Minor units (fen); 0 when the part is free (under warranty)."""


class ChargeLine(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[
        str, msgspec.Meta(min_length=1, max_length=64, examples=["visit_fee", "labour"])
    ]
    amount: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]
    """Minor units (fen)."""
    label: Annotated[str, msgspec.Meta(max_length=200)] = ""


class ReportArgs(msgspec.Struct, forbid_unknown_fields=True):
    report_id: uuid.UUID
    work_done: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    parts: list[PartLine] = []
    charges: list[ChargeLine] = []
    checklist: dict[str, bool] = {}
    """Checklist item code → done."""
    photos: dict[PhotoKind, list[uuid.UUID]] = {}


class SignOffArgs(msgspec.Struct, forbid_unknown_fields=True):
    sign_off_id: uuid.UUID
    signer_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    report_sha256: Sha256
    """The hash of the report the customer approves, computed by the phone: lowercase
    hex SHA-256 of the RFC 8785 (JCS) bytes of that ``job.report``'s args without
    ``report_id``, every field present (docs/protocol.md). A later report on the job
    leaves this sign-off unsigned for it."""
    signed_at: datetime | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    signature_sha256: Sha256 | None = None
    """The signature as an uploaded image, or:"""
    strokes: list[list[tuple[float, float, float]]] | None = None
    """Pen strokes, each a list of ``(x, y, t_ms)`` points."""


EVIDENCE_ARGS: dict[str, type[msgspec.Struct]] = {
    "job.call_attempt": CallAttemptArgs,
    "job.check_out": CheckOutArgs,
    "job.location_trace": LocationTraceArgs,
    "job.photo": PhotoArgs,
    "job.report": ReportArgs,
    "job.sign_off": SignOffArgs,
}
