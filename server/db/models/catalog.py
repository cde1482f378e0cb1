"""Reference material a phone carries offline: service checklists and knowledge articles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, IdMixin, Json, utcnow


class Checklist(IdMixin, Base):
    """Service standards for one job kind (optionally one appliance category).

    ``items``: ``[{"code", "label", "required"}]``.
    """

    __tablename__ = "checklists"
    __table_args__ = (UniqueConstraint("job_kind", "category"),)

    job_kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32), default="*")
    items: Mapped[list[dict[str, object]]] = mapped_column(Json, default=list)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class KbArticle(IdMixin, Base):
    __tablename__ = "kb_articles"

    category: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
