"""The audit trail's recorder: every create, change and delete a desk user makes to the
audited models, written in the same transaction as the change.

One place, not a call in every service: a request's write session carries its
``RequestContext`` (``attach``, done by ``server.dependencies``), and two session
events do the rest —

- ``after_flush`` reads the unit of work's attribute history (still there after the
  flush, before it is reset) of every audited object the flush inserted, updated or
  deleted, and folds it into the request's pending events (a create followed by
  changes in the same request stays one ``create``; a field changed back is no change);
- ``before_commit`` flushes what is left, then adds one ``AuditEvent`` per object,
  stamped with the request's clock (``ctx.now``), the actor and where they called from.

A change made with a bulk ``UPDATE``/``DELETE`` statement bypasses the unit of work and
so this recorder: services change audited models through the ORM (checked by
``tests/test_audit_trail.py`` for every audited kind). Phones (technicians, by sync) and
the server's own jobs are not desk actions and are not recorded. Secrets (password
hashes, token hashes, keys) are recorded as ``"[redacted]"``: a reader sees that they
changed, never their value.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import NO_VALUE
from sqlalchemy.orm.state import InstanceState

from server.context import RequestContext
from server.db.models import (
    Appliance,
    AuditEvent,
    Checklist,
    City,
    Customer,
    CustomerPhone,
    Device,
    EvidenceRuleSet,
    FeePolicy,
    Job,
    KbArticle,
    Provider,
    User,
)
from server.db.models.user import Role

__all__ = ["AUDITED", "REDACTED", "attach", "install", "is_secret", "plain"]

AUDITED: dict[type[Any], str] = {
    Customer: "customer",
    CustomerPhone: "customer_phone",
    Appliance: "appliance",
    Job: "job",
    FeePolicy: "fee_policy",
    EvidenceRuleSet: "evidence_rules",
    Checklist: "checklist",
    KbArticle: "kb_article",
    User: "user",
    Device: "device",
    City: "city",
    Provider: "provider",
}
"""Audited model → the ``entity`` its events carry."""

DESK_ROLES = frozenset({Role.ADMIN, Role.DISPATCHER, Role.AUDITOR, Role.PROVIDER_MANAGER})
IGNORED = frozenset({"updated_at"})
"""Bookkeeping that changes with every write and tells a reader nothing."""
REDACTED = "[redacted]"
_SECRET = re.compile(r"password|secret|token|hash|(^|_)key($|_)", re.IGNORECASE)
_INFO = "doorstep.audit"


def is_secret(name: str) -> bool:
    return bool(_SECRET.search(name))


@dataclass
class _Pending:
    entity: str
    entity_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass
class _Trail:
    ctx: RequestContext
    method: str
    path: str
    user_agent: str | None
    pending: dict[tuple[str, str], _Pending] = field(default_factory=dict)


def attach(session: Any, ctx: RequestContext, *, method: str, path: str) -> None:
    """Record the desk actions of ``ctx``'s caller made through ``session`` (a sync or
    async session). Callers that are not desk users (technicians) are left out."""
    if ctx.principal.role not in DESK_ROLES or ctx.source != "api":
        return
    agent = ctx.user_agent
    session.info[_INFO] = _Trail(ctx, method[:8], path[:400], agent[:400] if agent else None)


def plain(value: Any) -> Any:
    """A JSON-able form of a column's value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return str(value)


def _shown(name: str, value: Any) -> Any:
    if is_secret(name):
        return None if value is None else REDACTED
    return plain(value)


def _ident(state: InstanceState[Any]) -> str:
    """The primary key as text (read from the object: a row inserted by this flush has
    its key but no identity yet)."""
    mapper = state.mapper
    values = [state.dict.get(mapper.get_property_by_column(c).key) for c in mapper.primary_key]
    return "/".join(str(v) for v in values)


def _snapshot(state: InstanceState[Any]) -> dict[str, Any]:
    """Every loaded column of the object (nothing is loaded to make it)."""
    out: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        value = state.dict.get(attr.key, NO_VALUE)
        if value is not NO_VALUE and attr.key not in IGNORED:
            out[attr.key] = _shown(attr.key, value)
    for rel in state.mapper.relationships:
        if rel.secondary is not None and rel.key in state.dict:
            out[rel.key] = sorted(_ids(state.dict[rel.key]))
    return out


def _ids(objects: Any) -> list[str]:
    return [_ident(inspect(o)) for o in objects or ()]


def _changes(state: InstanceState[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        if attr.key in IGNORED:
            continue
        hist = state.attrs[attr.key].history
        if not hist.added and not hist.deleted:
            continue
        old = hist.deleted[0] if hist.deleted else None
        new = hist.added[0] if hist.added else None
        if plain(old) == plain(new):
            continue
        before[attr.key] = _shown(attr.key, old)
        after[attr.key] = _shown(attr.key, new)
    for rel in state.mapper.relationships:
        if rel.secondary is None:
            continue
        hist = state.attrs[rel.key].history
        if hist.added or hist.deleted:
            kept = _ids(hist.unchanged)
            before[rel.key] = sorted(kept + _ids(hist.deleted))
            after[rel.key] = sorted(kept + _ids(hist.added))
    return before, after


def _fold(trail: _Trail, entity: str, ident: str, action: str, before: Any, after: Any) -> None:
    key = (entity, ident)
    seen = trail.pending.get(key)
    if seen is None:
        trail.pending[key] = _Pending(entity, ident, action, before, after)
        return
    if action == "delete":
        if seen.action == "create":
            del trail.pending[key]  # made and removed within one request: nothing happened
            return
        first = dict(before or {})
        first.update(seen.before or {})  # the values from before this request
        trail.pending[key] = _Pending(entity, ident, "delete", first, None)
        return
    # an update after a create or an update
    merged_after = dict(seen.after or {})
    merged_after.update(after or {})
    if seen.action == "create":
        seen.after = merged_after
        return
    merged_before = dict(before or {})
    merged_before.update(seen.before or {})
    for k in [k for k in merged_after if merged_before.get(k) == merged_after[k]]:
        merged_after.pop(k)
        merged_before.pop(k, None)
    seen.before, seen.after = merged_before, merged_after


def _after_flush(session: Session, flush_context: Any) -> None:
    trail: _Trail | None = session.info.get(_INFO)
    if trail is None:
        return
    new = session.new
    # The unit of work's own list: it has the orphans a cascade deleted (a customer's
    # replaced phone numbers), which ``session.deleted`` does not.
    for state, (isdelete, listonly) in list(flush_context.states.items()):
        entity = AUDITED.get(state.class_)
        if entity is None or listonly:
            continue
        ident = _ident(state)
        if isdelete:
            _fold(trail, entity, ident, "delete", _snapshot(state), None)
        elif state.obj() in new:
            _fold(trail, entity, ident, "create", None, _snapshot(state))
        else:
            before, after = _changes(state)
            if before or after:
                _fold(trail, entity, ident, "update", before, after)


def _before_commit(session: Session) -> None:
    trail: _Trail | None = session.info.get(_INFO)
    if trail is None:
        return
    session.flush()  # changes not flushed yet are folded in now
    events = [p for p in trail.pending.values() if p.action != "update" or p.after]
    trail.pending.clear()
    if not events:
        return
    p = trail.ctx.principal
    name = session.execute(select(User.full_name).where(User.id == p.user_id)).scalar()
    session.add_all(
        AuditEvent(
            at=trail.ctx.now,
            actor_id=p.user_id,
            actor_name=name,
            actor_role=p.role.value,
            actor_provider_id=p.provider_id,
            remote_addr=trail.ctx.remote_addr,
            user_agent=trail.user_agent,
            method=trail.method,
            path=trail.path,
            action=e.action,
            entity=e.entity,
            entity_id=e.entity_id[:64],
            before=e.before,
            after=e.after,
        )
        for e in events
    )


def _after_soft_rollback(session: Session, previous: Any) -> None:
    trail: _Trail | None = session.info.get(_INFO)
    if trail is not None and not previous.nested:
        trail.pending.clear()


_installed = False


def install() -> None:
    """Listen on every session (idempotent); sessions without a trail cost a dict lookup."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_soft_rollback", _after_soft_rollback)
    _installed = True
