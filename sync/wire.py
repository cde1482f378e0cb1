"""The sync protocol's wire types (the contract: docs/protocol.md). Shared by the server and the phone
client; msgspec Structs, snake_case JSON."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from sync.vocabulary import UnableReason

__all__ = [
    "MAX_MUTATIONS_PER_PUSH",
    "MUTATION_ARGS",
    "SCHEMA_VERSION",
    "CheckInArgs",
    "CompleteArgs",
    "EmptyArgs",
    "EnRouteArgs",
    "EnrollRequest",
    "EnrollResponse",
    "MutationDoc",
    "MutationEnvelope",
    "MutationOutcome",
    "MutationProbe",
    "NoteArgs",
    "Op",
    "PauseArgs",
    "PullResponse",
    "PushRequest",
    "PushRequestDoc",
    "PushResponse",
    "RequestRescheduleArgs",
    "SetSerialArgs",
    "UnableArgs",
]

SCHEMA_VERSION = 1
MAX_MUTATIONS_PER_PUSH = 200

Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90, examples=[30.2741])]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180, examples=[120.1551])]


# --- pull --------------------------------------------------------------------------


class Op(msgspec.Struct, omit_defaults=True):
    op: Literal["put", "remove"]
    type: Annotated[str, msgspec.Meta(examples=["job_packet"])]
    """``job_packet`` or ``kb_article``."""
    id: uuid.UUID
    version: int
    """The bucket version at which this document was written."""
    doc: dict[str, Any] | None = None
    """The whole document for a ``put``."""


class PullResponse(msgspec.Struct):
    ops: list[Op]
    cursor: str
    """Opaque; send it back as ``cursor`` on the next pull."""
    has_more: bool
    """Pull again at once with the new cursor."""
    reset: bool
    """The cursor can no longer be served: push what is pending, drop every document of
    this bucket, and pull again without a cursor."""
    last_applied_mid: int
    """The device's last applied mutation, read in the same snapshot as ``ops``."""
    bucket_version: int
    server_time: datetime


# --- push --------------------------------------------------------------------------


class MutationEnvelope(msgspec.Struct):
    """One mutation. Unknown fields are ignored (newer phones, older servers)."""

    mid: Annotated[int, msgspec.Meta(ge=1, examples=[17])]
    """Per-device sequence number: 1, 2, 3… with no gaps."""
    id: uuid.UUID
    """The phone's UUID for this mutation."""
    name: Annotated[str, msgspec.Meta(max_length=64, examples=["job.check_in"])]
    job_id: uuid.UUID | None = None
    args: msgspec.Raw = msgspec.Raw(b"{}")
    device_time: datetime | None = None
    """The phone's clock when the technician acted (kept as evidence)."""
    base_version: int | None = None
    """The job ``version`` the phone had when the technician acted."""
    signature: str | None = None
    """Base64 Ed25519 signature, by the device key registered at enrolment, of the RFC
    8785 (JCS) bytes of this mutation object without ``signature``. Required from a
    device enrolled with a key (else ``rejected`` ``signature_required``)."""


class MutationProbe(msgspec.Struct):
    """What the server must read of a mutation to answer it at all: its number (and
    its id, kept as it came). A mutation without a readable ``mid`` refuses the push."""

    mid: Annotated[int, msgspec.Meta(ge=1)]
    id: Any = None


class PushRequest(msgspec.Struct, forbid_unknown_fields=True):
    device_id: uuid.UUID
    schema_version: Annotated[int, msgspec.Meta(examples=[1])]
    """One of ``sync.validation.SUPPORTED_SCHEMA_VERSIONS``; another one rejects every
    mutation of the push with ``unsupported_schema_version``."""
    device_time: datetime | None
    """The phone's clock when it sent this push (for the clock-skew estimate)."""
    mutations: Annotated[list[msgspec.Raw], msgspec.Meta(max_length=MAX_MUTATIONS_PER_PUSH)]
    """Mutation objects (``MutationEnvelope``), in ``mid`` order, consecutive."""


class MutationDoc(MutationEnvelope):
    """A mutation as documented for phone developers (``args`` per ``name``: see the
    ``*Args`` schemas)."""

    args: dict[str, Any] = {}  # type: ignore[assignment]


class PushRequestDoc(msgspec.Struct):
    """The push body as documented; the server reads each mutation's exact bytes."""

    device_id: uuid.UUID
    schema_version: Annotated[int, msgspec.Meta(ge=1, examples=[1])]
    device_time: datetime | None
    mutations: Annotated[list[MutationDoc], msgspec.Meta(max_length=MAX_MUTATIONS_PER_PUSH)]


Status = Literal["applied", "resolved", "duplicate", "rejected"]


class MutationOutcome(msgspec.Struct, omit_defaults=True):
    mid: int
    id: uuid.UUID
    status: Status
    code: str | None = None
    """Stable reason for ``rejected`` (``job_reassigned``, ``illegal_transition``…) or
    what ``resolved`` merged (``rescheduled_meanwhile``…)."""
    message: str | None = None
    flags: list[str] = []
    first_status: Status | None = None
    """For a ``duplicate``: what became of the mutation the first time."""
    first_id: uuid.UUID | None = None
    """For ``mid_reused``: the id of the mutation first received under this ``mid``."""
    field: str | None = None
    """For a rejection about one value: where it is (``args.started_at``…)."""
    details: dict[str, Any] = {}
    """More about a rejection (``supported`` schema versions, the allowed range…)."""


class PushResponse(msgspec.Struct):
    outcomes: list[MutationOutcome]
    last_applied_mid: int
    server_time: datetime
    retry_after: int | None = None
    """Set when the server stopped early on a transient failure: resend the mutations
    without an outcome after this many seconds."""


# --- devices -----------------------------------------------------------------------


class EnrollRequest(msgspec.Struct, forbid_unknown_fields=True):
    label: Annotated[str, msgspec.Meta(max_length=120, examples=["Pixel 7 (Li Wei)"])] = ""
    platform: Annotated[str, msgspec.Meta(max_length=32, examples=["android"])] = ""
    app_version: Annotated[str, msgspec.Meta(max_length=32, examples=["1.4.2"])] = ""
    public_key: str | None = None
    """Base64 of the raw 32-byte Ed25519 public key that will sign mutations. A device
    enrolled with a key must sign every mutation it pushes."""
    signature_alg: Literal["ed25519-jcs"] = "ed25519-jcs"
    """What the signatures cover: ``ed25519-jcs`` is Ed25519 over the RFC 8785 (JCS)
    bytes of the mutation without ``signature`` (docs/protocol.md). The only value
    today; a later algorithm will be a new value here."""


class EnrollResponse(msgspec.Struct):
    device_id: uuid.UUID
    enrolled_at: datetime
    last_applied_mid: int
    signature_alg: Literal["ed25519-jcs", "ed25519-sorted-json"] | None = None
    """The device's signature algorithm; ``null`` for a device without a key."""


# --- mutation arguments --------------------------------------------------------------


class EmptyArgs(msgspec.Struct, forbid_unknown_fields=True):
    pass


class EnRouteArgs(msgspec.Struct, forbid_unknown_fields=True):
    eta: datetime | None = None


class CheckInArgs(msgspec.Struct, forbid_unknown_fields=True):
    checkin_id: uuid.UUID
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    accuracy_m: Annotated[float, msgspec.Meta(ge=0)] | None = None
    fix_time: datetime | None = None
    location_provider: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    """``gps``, ``network``, ``fused``…"""
    mock_location: bool = False


class NoteArgs(msgspec.Struct, forbid_unknown_fields=True):
    note_id: uuid.UUID
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class PauseArgs(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""


class CompleteArgs(msgspec.Struct, forbid_unknown_fields=True):
    summary: Annotated[str, msgspec.Meta(max_length=4000)] = ""


class UnableArgs(msgspec.Struct, forbid_unknown_fields=True):
    reason: UnableReason
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class RequestRescheduleArgs(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""
    preferred_start: datetime | None = None
    preferred_end: datetime | None = None


class SetSerialArgs(msgspec.Struct, forbid_unknown_fields=True):
    appliance_id: uuid.UUID
    serial: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]


MUTATION_ARGS: dict[str, type[msgspec.Struct]] = {
    "job.acknowledge": EmptyArgs,
    "job.en_route": EnRouteArgs,
    "job.check_in": CheckInArgs,
    "job.start_work": EmptyArgs,
    "job.note": NoteArgs,
    "job.pause": PauseArgs,
    "job.complete": CompleteArgs,
    "job.unable_to_complete": UnableArgs,
    "job.request_reschedule": RequestRescheduleArgs,
    "appliance.set_serial": SetSerialArgs,
}
"""Every mutation a phone may send, and the shape of its ``args``."""
