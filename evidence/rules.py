"""What evidence each claim needs. Shipped in every job packet so the phone can ask for
it offline; the server re-checks the same rules after sync. Missing evidence never
rejects a claim — it raises its risk."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import EvidenceRuleSet

__all__ = [
    "DEFAULT_RULES",
    "DEFAULT_TRACE_SAMPLING",
    "TRACE_SAMPLING",
    "current_rules",
    "packet_rules",
    "trace_sampling",
]

DEFAULT_RULES: dict[str, list[dict[str, Any]]] = {
    "customer_not_home": [
        {"code": "geofence_pass", "label": "Checked in near the customer's address"},
        {"code": "min_time_on_site", "label": "At least 10 minutes on site", "minutes": 10},
        {
            "code": "min_call_attempts",
            "label": "At least 2 calls to the customer during the visit",
            "count": 2,
        },
        {"code": "door_photo_on_site", "label": "A photo of the door taken on site"},
    ],
    "completed": [
        {"code": "after_photo", "label": "A photo of the finished work"},
        {"code": "customer_sign_off", "label": "The customer's signature"},
        {"code": "required_checklist", "label": "Every required checklist item answered"},
    ],
}


TRACE_SAMPLING = "location_trace"
"""The ``EvidenceRuleSet`` row (its one rule) holding the brand's trace sampling; not a
claim type."""
DEFAULT_TRACE_SAMPLING: dict[str, Any] = {
    "enabled": True,
    "interval_s": 10,
    "min_distance_m": 20,
    "stationary_interval_s": 60,
    "chunk_every_s": 300,
    "max_points_per_chunk": 500,
}
"""What every job packet's ``location_trace`` says unless the brand set its own: a
point every 10 s while moving (20 m or more), one a minute while standing still — a
visit of 15 minutes with 20 minutes of driving is about 150 points, 4 kB of JSON."""


async def trace_sampling(session: AsyncSession) -> dict[str, Any]:
    """The trace sampling shipped in packets: the defaults, with the brand's row over them."""
    row = await session.get(EvidenceRuleSet, TRACE_SAMPLING)
    own = dict(row.rules[0]) if row is not None and row.rules else {}
    return {
        **DEFAULT_TRACE_SAMPLING,
        **{k: v for k, v in own.items() if k in DEFAULT_TRACE_SAMPLING},
    }


async def current_rules(
    session: AsyncSession,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """The rules per claim type and their versions (configured rows override defaults)."""
    rules = {k: list(v) for k, v in DEFAULT_RULES.items()}
    versions = dict.fromkeys(rules, 0)
    for row in await session.scalars(
        select(EvidenceRuleSet).where(EvidenceRuleSet.claim_type != TRACE_SAMPLING)
    ):
        rules[row.claim_type] = list(row.rules)  # type: ignore[arg-type]
        versions[row.claim_type] = row.version
    return rules, versions


async def packet_rules(
    session: AsyncSession,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """``current_rules``' rules and ``trace_sampling`` in one query (every packet built
    ships both)."""
    rules = {k: list(v) for k, v in DEFAULT_RULES.items()}
    own: dict[str, Any] = {}
    for row in await session.scalars(select(EvidenceRuleSet)):
        if row.claim_type == TRACE_SAMPLING:
            own = dict(row.rules[0]) if row.rules else {}
        else:
            rules[row.claim_type] = list(row.rules)  # type: ignore[arg-type]
    sampling = {
        **DEFAULT_TRACE_SAMPLING,
        **{k: v for k, v in own.items() if k in DEFAULT_TRACE_SAMPLING},
    }
    return rules, sampling
