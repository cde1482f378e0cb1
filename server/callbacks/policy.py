"""How soon each kind of callback is due and how unreachable customers are retried.

Built from the settings once per app and carried on every database session
(``session.info``), so the rules apply alike when a claim arrives through sync and
when a desk changes a job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from server.settings import Settings

__all__ = ["CallbackPolicy", "policy_of"]

KEY = "callback_policy"


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    not_home_due: timedelta = timedelta(hours=2)
    """A "customer not home" claim is checked within this, and always before the job's
    next appointment starts."""
    unable_due: timedelta = timedelta(hours=24)
    completion_due: timedelta = timedelta(hours=48)
    status_check_due: timedelta = timedelta(hours=12)
    retry_delays: tuple[timedelta, ...] = field(
        default=(timedelta(minutes=30), timedelta(hours=2), timedelta(hours=20))
    )
    """After the n-th unreachable call, wait ``retry_delays[n-1]``; one more unreachable
    call than there are delays closes the task as unreachable."""
    hold: timedelta = timedelta(minutes=30)
    """How long a taken task stays with its auditor without being touched."""

    @property
    def max_attempts(self) -> int:
        return len(self.retry_delays) + 1

    @classmethod
    def from_settings(cls, s: Settings) -> CallbackPolicy:
        delays = tuple(
            timedelta(minutes=int(x)) for x in s.callback_retry_minutes.split(",") if x.strip()
        )
        return cls(
            not_home_due=timedelta(minutes=s.callback_not_home_minutes),
            retry_delays=delays,
            hold=timedelta(minutes=s.callback_hold_minutes),
        )

    def session_info(self) -> dict[str, object]:
        return {KEY: self}


DEFAULT = CallbackPolicy()


def policy_of(session: AsyncSession) -> CallbackPolicy:
    policy = session.info.get(KEY)
    return policy if isinstance(policy, CallbackPolicy) else DEFAULT
