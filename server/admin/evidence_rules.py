"""``/evidence-rules`` (what each claim must carry) and ``/jobs/{id}/verdicts`` (how a
claim fared against them)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, get, put
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from evidence import verdicts
from evidence.rules import DEFAULT_RULES, TRACE_SAMPLING, current_rules, trace_sampling
from evidence.verdicts import RULE_CODES
from server.auth.guards import ANY_ROLE, STAFF, allow
from server.auth.scope import ensure_job_visible
from server.context import RequestContext
from server.db.models import EvidenceRuleSet, Job
from server.db.models.user import Role
from server.errors import Invalid
from server.jobs import hooks
from sync.vocabulary import CLOSED_STATUSES

__all__ = ["EvidenceRulesController", "TraceSamplingController", "VerdictController"]

ClaimType = Literal["customer_not_home", "completed"]


class Rule(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(examples=["min_time_on_site"])]
    label: Annotated[str, msgspec.Meta(max_length=200)] = ""
    minutes: Annotated[float, msgspec.Meta(ge=0, le=600)] | None = None
    """For ``min_time_on_site``."""
    count: Annotated[int, msgspec.Meta(ge=0, le=20)] | None = None
    """For ``min_call_attempts``."""


class RulesIn(msgspec.Struct, forbid_unknown_fields=True):
    rules: Annotated[list[Rule], msgspec.Meta(max_length=20)]


class RuleSetOut(msgspec.Struct):
    claim_type: str
    version: int
    rules: list[dict[str, Any]]


class VerdictOut(msgspec.Struct):
    claim_type: str
    passed: bool
    computed_at: datetime
    rules_version: int
    verdicts: list[dict[str, Any]]
    """Per rule: ``{"code", "passed", "detail"}``."""


class EvidenceRulesController(Controller):
    path = "/evidence-rules"
    tags = ["evidence"]

    @get("/", guards=[allow(ANY_ROLE)])
    async def list_rules(self, db: AsyncSession) -> list[RuleSetOut]:
        """The evidence each claim needs (also shipped in every job packet)."""
        rules, versions = await current_rules(db)
        return [
            RuleSetOut(claim_type=k, version=versions.get(k, 0), rules=v) for k, v in rules.items()
        ]

    @put("/{claim_type:str}", guards=[allow(Role.ADMIN)], status_code=HTTP_200_OK)
    async def set_rules(
        self, db: AsyncSession, ctx: RequestContext, claim_type: str, data: RulesIn
    ) -> RuleSetOut:
        """Replace a claim's rules. Known codes: ``geofence_pass``, ``min_time_on_site``
        (``minutes``), ``min_call_attempts`` (``count``), ``door_photo_on_site``,
        ``after_photo``, ``customer_sign_off``, ``required_checklist``. Every open job's
        packet is re-sent with the new rules."""
        if claim_type not in DEFAULT_RULES:
            raise Invalid(
                "unknown_claim_type",
                f"No claim is called {claim_type!r}.",
                {"known": sorted(DEFAULT_RULES)},
            )
        unknown = sorted({r.code for r in data.rules} - RULE_CODES)
        if unknown:
            raise Invalid("unknown_rule", "Some rule codes are not known.", {"unknown": unknown})
        row = await db.get(EvidenceRuleSet, claim_type, with_for_update=True)
        if row is None:
            row = EvidenceRuleSet(claim_type=claim_type, version=0)
            db.add(row)
        row.rules = [msgspec.to_builtins(r) for r in data.rules]
        row.version += 1
        row.updated_at = ctx.now
        await db.flush()
        await hooks.packets_stale(db, Job.status.not_in(list(CLOSED_STATUSES)))
        return RuleSetOut(claim_type=claim_type, version=row.version, rules=list(row.rules))


class TraceSamplingIn(msgspec.Struct, forbid_unknown_fields=True):
    """The location trace the brand wants phones to record (each job packet's
    ``location_trace``; docs/protocol/location-trace.md)."""

    enabled: bool = True
    interval_s: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 10
    min_distance_m: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 20
    stationary_interval_s: Annotated[int, msgspec.Meta(ge=5, le=3600)] = 60
    chunk_every_s: Annotated[int, msgspec.Meta(ge=30, le=86_400)] = 300
    max_points_per_chunk: Annotated[int, msgspec.Meta(ge=10, le=500)] = 500


class TraceSamplingController(Controller):
    path = "/trace-sampling"
    tags = ["evidence"]

    @get("/", guards=[allow(ANY_ROLE)])
    async def get_sampling(self, db: AsyncSession) -> TraceSamplingIn:
        """The trace sampling shipped in every job packet (the defaults until set)."""
        return msgspec.convert(await trace_sampling(db), TraceSamplingIn)

    @put("/", guards=[allow(Role.ADMIN)], status_code=HTTP_200_OK)
    async def set_sampling(
        self, db: AsyncSession, ctx: RequestContext, data: TraceSamplingIn
    ) -> TraceSamplingIn:
        """Set how phones record their location trace (``enabled: false``: not at all).
        Every open job's packet is re-sent with it."""
        row = await db.get(EvidenceRuleSet, TRACE_SAMPLING, with_for_update=True)
        if row is None:
            row = EvidenceRuleSet(claim_type=TRACE_SAMPLING, version=0)
            db.add(row)
        row.rules = [msgspec.to_builtins(data)]
        row.version += 1
        row.updated_at = ctx.now
        await db.flush()
        await hooks.packets_stale(db, Job.status.not_in(list(CLOSED_STATUSES)))
        return data


class VerdictController(Controller):
    path = "/jobs"
    tags = ["evidence"]

    @get("/{job_id:uuid}/verdicts", guards=[allow(*STAFF)])
    async def verdicts(
        self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID
    ) -> list[VerdictOut]:
        """The latest re-check of each claim on the job against its evidence rules.
        Missing evidence never rejects a claim: it shows here as a failed rule."""
        ensure_job_visible(ctx.principal, await db.get(Job, job_id), job_id)
        return [
            VerdictOut(
                claim_type=r.claim_type,
                passed=r.passed,
                computed_at=r.computed_at,
                rules_version=r.rules_version,
                verdicts=list(r.verdicts),
            )
            for r in await verdicts.latest(db, job_id)
        ]
