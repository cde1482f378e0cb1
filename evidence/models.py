"""The risk model's weight sets: the shipped defaults, the versions ``doorstep risk fit``
saved, and the one an admin activated (the server scores with it from then on)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from evidence.risk import DEFAULT, WeightSet
from server.db.models import RiskModel

__all__ = ["activate", "active_weights", "save", "weights_of"]


def weights_of(row: RiskModel) -> WeightSet:
    return WeightSet(
        version=row.version,
        intercepts={str(k): float(v) for k, v in row.intercepts.items()},  # type: ignore[arg-type]
        weights={str(k): float(v) for k, v in row.weights.items()},  # type: ignore[arg-type]
    )


async def active_weights(session: AsyncSession) -> WeightSet:
    row = await session.scalar(select(RiskModel).where(RiskModel.active.is_(True)).limit(1))
    return weights_of(row) if row is not None else DEFAULT


async def save(
    session: AsyncSession, weights: WeightSet, metrics: dict[str, object], now: datetime
) -> RiskModel:
    row = RiskModel(
        version=weights.version,
        intercepts=dict(weights.intercepts),
        weights=dict(weights.weights),
        metrics=metrics,
        created_at=now,
        active=False,
    )
    session.add(row)
    await session.flush()
    return row


async def activate(session: AsyncSession, version: str | None, now: datetime) -> RiskModel | None:
    """Make ``version`` the active weight set (``None``: back to the shipped defaults)."""
    row = None
    if version is not None:
        row = await session.get(RiskModel, version)
        if row is None:
            raise LookupError(version)
    await session.execute(update(RiskModel).values(active=False))
    if row is not None:
        row.active, row.activated_at = True, now
    await session.flush()
    return row
