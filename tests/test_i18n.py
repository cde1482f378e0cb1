"""Locales: every catalog has every key, codes read as labels, errors follow
Accept-Language with a stable code, and times are local to the city."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from world import login

from server.i18n import LOCALES, catalog, format_money, label, negotiate, window

ROOT = Path(__file__).resolve().parent.parent


def _raised_codes() -> set[str]:
    """Every error code the server raises, read from the source."""
    codes: set[str] = set()
    raising = re.compile(
        r"\b(Invalid|Forbidden|Conflict|Unauthorized|RateLimited|DoorstepError|"
        r"BlobTooLarge|UnsupportedType|ChunkTooLarge|UploadTimeout|ImageRejected|"
        r"super\(\)\.__init__)\(\s*\"([a-z][a-z0-9_]+)\""
    )
    for folder in ("server", "sync"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            codes.update(m.group(2) for m in raising.finditer(text))
            codes.update(
                f"{m.group(1)}_not_found"
                for m in re.finditer(r"\bNotFound\(\s*\"([a-z][a-z0-9_]+)\"", text)
            )
    return codes


def test_every_locale_has_every_key() -> None:
    keys = {loc: {k for k in catalog(loc) if k[0] != "error"} for loc in LOCALES}
    for loc in LOCALES:
        for other in LOCALES:
            missing = keys[other] - keys[loc]
            assert not missing, f"{loc} lacks {sorted(missing)[:10]}"


def test_every_raised_error_code_has_a_chinese_message() -> None:
    zh = {k[1] for k in catalog("zh-CN") if k[0] == "error"}
    missing = _raised_codes() - zh
    assert not missing, f"zh-CN lacks error messages for {sorted(missing)}"


def test_every_vocabulary_code_has_a_label() -> None:
    from evidence.risk import DEFAULT
    from server.db.models.user import Role, SkillLevel
    from sync.vocabulary import ApplianceCategory, JobKind, JobStatus, UnableReason

    groups: dict[str, Any] = {
        "job_kind": JobKind,
        "job_status": JobStatus,
        "appliance_category": ApplianceCategory,
        "unable_reason": UnableReason,
        "role": Role,
        "skill_level": SkillLevel,
    }
    for loc in LOCALES:
        for context, enum in groups.items():
            for member in enum:
                assert (context, str(member)) in catalog(loc), (loc, context, member)
        for key in DEFAULT.weights:
            code = key.removesuffix(":*")
            assert ("risk_factor", code) in catalog(loc), (loc, "risk_factor", code)
    assert label("zh-CN", "appliance_category", "water_heater") == "热水器"
    assert label("en", "job_kind", "repair") == "Repair"
    assert label("en", "job_kind", "brand_new_kind") == "brand_new_kind"


def test_every_code_the_evidence_page_shows_has_a_label() -> None:
    """The evidence and job pages label these codes by context (``label(code, ctx)`` in
    the console): a code added on the phone's side without a label would read as
    itself in Chinese."""
    from typing import get_args, get_type_hints

    from sync.evidence_wire import CallAttemptArgs
    from sync.mutations import HANDLERS
    from sync.wire import Status

    hints = get_type_hints(CallAttemptArgs)
    groups: dict[str, set[str]] = {
        "mutation": {name.removeprefix("job.") for name in HANDLERS},
        "ledger_outcome": set(get_args(Status)),
        "geofence": {"pass", "fail", "too_inaccurate", "no_fix"},
        "checkin_kind": {"check_in", "check_out"},
        "call_channel": set(get_args(hints["channel"])),
        "call_outcome": set(get_args(hints["outcome"])),
        "fact_flag": {"after_reassignment", "after_cancellation", "after_completion"},
        "job_event": {
            "created",
            "assigned",
            "reassigned",
            "appointment_set",
            "rescheduled",
            "appointment_cleared",
            "cancelled",
            "closed",
            "reopened",
            "callback_outcome",
            "installer_recorded",
            "sla_breached",
            "reschedule_requested",
            "note",
            "check_in",
            "check_out",
            "call_attempt",
            "photo",
            "report",
            "sign_off",
        },
    }
    for loc in LOCALES:
        for context, codes in groups.items():
            for code in codes:
                assert (context, code) in catalog(loc), (loc, context, code)
    assert label("zh-CN", "call_outcome", "no_answer") == "无人接听"


def test_negotiation_money_and_local_windows() -> None:
    assert negotiate("en-US,en;q=0.9") == "en"
    assert negotiate("fr, zh-TW;q=0.5") == "zh-CN"
    assert negotiate(None) == "zh-CN"
    assert negotiate("de;q=x,,;;") == "zh-CN"
    assert negotiate("zh;q=0.2, en;q=0.8") == "en"
    assert format_money(123450, "CNY", "zh-CN") == "¥1,234.50"
    assert format_money(-500, "CNY", "en") == "-¥5.00"
    start = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)  # 14:00 in Hangzhou
    end = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    assert window(start, end, "Asia/Shanghai", "zh-CN") == "12月2日周三 14:00\u201316:00"
    assert window(start, end, "Asia/Shanghai", "en") == "Wed, Dec 2 14:00\u201316:00"


def test_error_messages_follow_accept_language(client: Any, world: Any) -> None:
    auth = login(client, "dispatcher")
    missing = f"/jobs/{uuid.uuid4()}"
    en = client.get(missing, headers=auth).json()
    zh = client.get(missing, headers={**auth, "Accept-Language": "zh-CN,zh;q=0.9"}).json()
    assert en["code"] == zh["code"] == "job_not_found"
    assert en["message"].startswith("No job")
    assert zh["message"] == "找不到该工单。"
    # No token: the framework's own 401 is localised too.
    assert (
        client.get("/jobs", headers={"Accept-Language": "zh"})
        .json()["message"]
        .startswith("未登录")
    )
