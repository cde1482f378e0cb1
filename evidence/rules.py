"""What evidence each claim needs. Shipped in every job packet so the phone can ask for
it offline; the server re-checks the same rules after sync. Missing evidence never
rejects a claim — it raises its risk."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import EvidenceRuleSet

__all__ = ["DEFAULT_RULES", "current_rules"]

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


async def current_rules(
    session: AsyncSession,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """The rules per claim type and their versions (configured rows override defaults)."""
    rules = {k: list(v) for k, v in DEFAULT_RULES.items()}
    versions = dict.fromkeys(rules, 0)
    for row in await session.scalars(select(EvidenceRuleSet)):
        rules[row.claim_type] = list(row.rules)  # type: ignore[arg-type]
        versions[row.claim_type] = row.version
    return rules, versions
