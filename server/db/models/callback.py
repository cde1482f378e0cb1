"""The callback audit: the tasks auditors work, what customers told them (never edited:
a correction is a new entry), the violations that follow, and customers' SMS replies."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, IdMixin, Json, utcnow


class CallbackTask(IdMixin, Base):
    """One call an auditor owes a customer about one job.

    ``kind``: ``not_home`` (the technician says nobody was home), ``unable`` (could not
    be completed for another reason), ``completion`` (completed: confirm and ask how
    satisfied), ``status_check`` (still open at the end of its appointment day).
    ``basis`` names what made the task (the job version after the claim, or the day
    of a status check), so the same claim never makes two tasks.

    While ``holder_id`` is set and ``held_until`` has not passed, only that auditor
    works the task. An unreachable customer sets ``next_attempt_at``: the task leaves
    the queue until then.
    """

    __tablename__ = "callback_tasks"
    __table_args__ = (
        UniqueConstraint("job_id", "kind", "basis"),
        Index("ix_callback_tasks_queue", "state", "risk_score", "due_at"),
        Index("ix_callback_tasks_not_home_queue", "state", "kind", "risk_probability", "due_at"),
        Index("ix_callback_tasks_technician", "technician_id", "created_at"),
        Index("ix_callback_tasks_provider", "provider_id", "created_at"),
    )

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    basis: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="open")
    """``open`` (to be called), ``done`` (an outcome settled it), ``cancelled`` (no longer
    needed: a status check on a job that was then finished)."""
    claim_event_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("job_events.id", ondelete="SET NULL")
    )
    unable_reason: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None]
    """When the server received the claim."""
    claimed_device_time: Mapped[datetime | None]
    """When the phone says the claim was made."""
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    """The appointment the claim was about (the job may be rebooked since)."""
    technician_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    provider_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("providers.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    """Calls that did not reach the customer."""
    risk_score: Mapped[int] = mapped_column(default=0)
    risk_factors: Mapped[list[dict[str, object]]] = mapped_column(Json, default=list)
    """``[{"code", "points", "detail"}]``: why the score is what it is."""
    risk_computed_at: Mapped[datetime | None]
    risk_probability: Mapped[float | None]
    """The risk model's probability that the claim is false (``risk_score`` is it in
    percent, rounded)."""
    risk_model: Mapped[str | None] = mapped_column(String(64))
    """The version of the weight set that scored the task (``RiskModel.version``)."""
    holder_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    held_until: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(String(24))
    """The outcome that settled it: ``confirmed``, ``contradicted``, ``rescheduled``,
    ``unreachable`` (after the last attempt), or ``superseded``."""
    customer_reply: Mapped[str | None] = mapped_column(String(16))
    """What the customer's latest SMS reply means: ``was_home``, ``was_away``,
    ``unclear``."""


class CallbackOutcome(IdMixin, Base):
    """What an auditor recorded after calling. Never edited: ``corrects_id`` points at the
    entry this one replaces; an entry can be corrected once (correct the correction to
    change it again)."""

    __tablename__ = "callback_outcomes"
    __table_args__ = (
        UniqueConstraint("corrects_id"),
        Index("ix_callback_outcomes_task", "task_id", "recorded_at"),
    )

    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("callback_tasks.id", ondelete="CASCADE"))
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(24))
    """``confirmed``, ``contradicted``, ``unreachable``, ``rescheduled``."""
    satisfaction: Mapped[str | None] = mapped_column(String(24))
    """``very_satisfied``, ``satisfied``, ``dissatisfied``; only the first counts as success."""
    comment: Mapped[str] = mapped_column(String(2000), default="")
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    corrects_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("callback_outcomes.id", ondelete="RESTRICT")
    )


class Violation(IdMixin, Base):
    """A claim the customer contradicted: counted against the technician and the provider,
    with the fine of the job's city policy. Voided (never deleted) when the outcome that
    made it is corrected."""

    __tablename__ = "violations"
    __table_args__ = (
        Index("ix_violations_technician", "technician_id", "recorded_at"),
        Index("ix_violations_provider", "provider_id", "recorded_at"),
    )

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("callback_tasks.id", ondelete="CASCADE"))
    outcome_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("callback_outcomes.id", ondelete="RESTRICT"), unique=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    """``false_not_home``, ``false_completion``, ``false_unable``."""
    technician_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    provider_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("providers.id", ondelete="SET NULL")
    )
    fine_amount: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    voided_at: Mapped[datetime | None]
    voided_by_outcome_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("callback_outcomes.id", ondelete="RESTRICT")
    )


class CustomerReply(IdMixin, Base):
    """A customer's SMS answer to a confirmation message, as the gateway delivered it.
    ``message_id`` is the gateway's: a redelivery is recognised and stored once."""

    __tablename__ = "customer_replies"

    message_id: Mapped[str] = mapped_column(String(128), unique=True)
    task_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("callback_tasks.id", ondelete="CASCADE"), index=True
    )
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    notification_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(String(1000))
    meaning: Mapped[str] = mapped_column(String(16))
    """``was_home``, ``was_away``, ``unclear``."""
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class RiskModel(Base):
    """A versioned weight set of the risk model (``evidence.risk``), learnt from the
    brand's callback outcomes by ``doorstep risk fit``. At most one is active; with none
    the shipped defaults score."""

    __tablename__ = "risk_models"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    intercepts: Mapped[dict[str, object]] = mapped_column(Json, default=dict)
    weights: Mapped[dict[str, object]] = mapped_column(Json, default=dict)
    metrics: Mapped[dict[str, object]] = mapped_column(Json, default=dict)
    """What the fit measured: cross-validated ROC AUC, precision at N, calibration."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(default=False)
    activated_at: Mapped[datetime | None]
