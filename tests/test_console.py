"""The console's server side: pages served as files with a strict policy, ``/`` sending a
browser there, and ``GET /board`` (sections, order, names, the jobs API's scope)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from world import PASSWORD, assert_error, login, run_db

from server.db.models import Job


def _job(client, headers, world, customer="customer1", **over):
    body = {"customer_id": str(world[customer]), "kind": "install", **over}
    r = client.post("/jobs", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def _window(start: datetime, hours: float = 2) -> dict[str, str]:
    return {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=hours)).isoformat(),
    }


def _midnight() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def test_pages_are_static_files_with_a_strict_policy(client):
    r = client.get("/", follow_redirects=False)
    assert r.status_code in (301, 302, 307) and r.headers["location"] == "/console/"
    page = client.get("/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/main.js">' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    js = client.get("/console/js/pages/board.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert client.get("/console/js/nope.js").status_code == 404
    for name in ("callbacks", "callback", "evidence", "plot", "scorecards", "charts", "alerts"):
        assert client.get(f"/console/js/pages/{name}.js").status_code == 200, name
    # pages are not API operations
    assert not any(
        p.startswith("/console") for p in client.get("/docs/openapi.json").json()["paths"]
    )


@pytest.mark.parametrize("who", ["tech1"])
def test_board_refuses_technicians_and_anonymous(client, world, who):
    assert_error(client.get("/board"), 401, "not_authenticated")
    assert_error(client.get("/board", headers=login(client, who)), 403, "role_forbidden")


def test_board_sections_order_and_names(client, world):
    desk = login(client, "dispatcher")
    midnight = _midnight()
    now = datetime.now(UTC)
    # today: an appointment later today (or early tomorrow UTC when it is late: use day_start)
    today = _job(client, desk, world, **_window(now + timedelta(minutes=30), hours=1))
    upcoming = _job(client, desk, world, **_window(midnight + timedelta(days=3, hours=10)))
    far = _job(client, desk, world, **_window(midnight + timedelta(days=20, hours=10)))
    pending = _job(client, desk, world, customer="customer2")
    urgent_fresh = _job(client, desk, world, priority="urgent")
    urgent_late = _job(client, desk, world, priority="urgent")
    r = client.post(
        f"/jobs/{today['id']}/assign",
        json={"provider_id": str(world["p1"]), "technician_id": str(world["tech1"])},
        headers=desk,
    )
    assert r.status_code == 200, r.text

    async def make_late(s):  # type: ignore[no-untyped-def]
        await s.execute(
            update(Job)
            .where(Job.number == urgent_late["number"])
            .values(contact_due_at=datetime.now(UTC) - timedelta(minutes=5))
        )

    run_db(client.app.state.settings.resolved_database_url, make_late)

    day_start = (now + timedelta(minutes=30)).replace(hour=0, minute=0, second=0, microsecond=0)
    r = client.get("/board", params={"day_start": day_start.isoformat(), "days": 7}, headers=desk)
    assert r.status_code == 200, r.text
    b = r.json()
    ids = {k: [j["id"] for j in b[k]["items"]] for k in ("clocks", "today", "upcoming", "pending")}
    assert ids["clocks"][:2] == [urgent_late["id"], urgent_fresh["id"]]  # overdue first
    assert b["clocks"]["items"][0]["overdue"] == ["contact_overdue"]
    assert today["id"] in ids["today"] and today["id"] not in ids["upcoming"]
    assert upcoming["id"] in ids["upcoming"] and far["id"] not in ids["upcoming"]
    assert pending["id"] in ids["pending"] and urgent_fresh["id"] in ids["pending"]
    assert b["today"]["total"] == len(ids["today"])
    names = b["names"]
    assert names[str(world["customer1"])] == "Li Wei"
    assert names[str(world["tech1"])] == "Tech1"
    assert names[str(world["p1"])] == "Westlake Home Service"
    assert names[str(world["hangzhou"])] == "Hangzhou"
    assert b["addresses"][str(world["customer2"])].startswith("6 Zhongshan Road")

    # filters apply to every section
    only = client.get(
        "/board",
        params={"technician_id": str(world["tech1"]), "day_start": day_start.isoformat()},
        headers=desk,
    ).json()
    assert [j["id"] for j in only["today"]["items"]] == [today["id"]]
    assert only["pending"]["items"] == [] and only["clocks"]["items"] == []


def test_board_is_scoped_like_the_jobs_api(client, world):
    desk = login(client, "dispatcher")
    mine = _job(client, desk, world, provider_id=str(world["p1"]))
    theirs = _job(client, desk, world, customer="customer2", provider_id=str(world["p2"]))
    board = client.get("/board", headers=login(client, "manager1")).json()
    seen = {j["id"] for k in ("clocks", "today", "upcoming", "pending") for j in board[k]["items"]}
    assert mine["id"] in seen and theirs["id"] not in seen
    assert str(world["customer2"]) not in board["names"]
    everyone = client.get("/board", headers=login(client, "auditor")).json()
    assert {mine["id"], theirs["id"]} <= {j["id"] for j in everyone["pending"]["items"]}


def test_board_bad_input(client, world):
    desk = login(client, "dispatcher")
    assert_error(client.get("/board", params={"days": 0}, headers=desk), 400, "invalid_request")
    assert_error(
        client.get("/board", params={"status": "nonsense"}, headers=desk), 400, "invalid_request"
    )
    assert_error(
        client.get("/board", params={"day_start": "yesterday"}, headers=desk),
        400,
        "invalid_request",
    )


# --- the console's languages ---------------------------------------------------------------

STATIC = Path(__file__).resolve().parents[1] / "server" / "console" / "static"
CATALOGS = {loc: STATIC / "i18n" / f"{loc}.json" for loc in ("zh-CN", "en")}
_CALL = re.compile(r"\b[tk]\(\s*\"([^\"]+)\"")
_LITERAL = re.compile(r"\"([a-z]+\.[a-z0-9_]+)\"")
_ATTR = re.compile(r"data-i18n(?:-[a-z-]+)?=\"([^\"]+)\"")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _code(text: str) -> str:
    """JavaScript without its comments (which quote keys as examples)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))


def _catalogs() -> dict[str, dict[str, str]]:
    return {loc: json.loads(path.read_text(encoding="utf-8")) for loc, path in CATALOGS.items()}


def _used_keys(namespaces: set[str]) -> dict[str, str]:
    """Every key the pages use, with a file that uses it: t("…") and k("…") calls, any
    string literal shaped like a key of a known namespace (t(cond ? "a.x" : "a.y")), and
    data-i18n attributes of the HTML."""
    used: dict[str, str] = {}
    for path in sorted((STATIC / "js").rglob("*.js")):
        code = _code(path.read_text(encoding="utf-8"))
        for key in _CALL.findall(code):
            used.setdefault(key, path.name)
        for key in _LITERAL.findall(code):
            if key.split(".")[0] in namespaces:
                used.setdefault(key, path.name)
    for path in sorted(STATIC.rglob("*.html")):
        for key in _ATTR.findall(path.read_text(encoding="utf-8")):
            used.setdefault(key, path.name)
    return used


def test_every_console_key_is_in_every_catalog():
    catalogs = _catalogs()
    zh, en = catalogs["zh-CN"], catalogs["en"]
    assert set(zh) == set(en), (
        f"only in zh-CN: {sorted(set(zh) - set(en))}; only in en: {sorted(set(en) - set(zh))}"
    )
    used = _used_keys({key.split(".")[0] for key in en})
    for loc, catalog in catalogs.items():
        missing = {key: where for key, where in used.items() if key not in catalog}
        assert not missing, f"{CATALOGS[loc].name} lacks {missing}"
        empty = [key for key, text in catalog.items() if not text.strip()]
        assert not empty, f"{CATALOGS[loc].name} has empty entries {empty}"
    unused = sorted(set(en) - set(used))
    assert not unused, f"keys no page uses (remove them from both catalogs): {unused}"
    for key in en:
        assert set(_PLACEHOLDER.findall(zh[key])) == set(_PLACEHOLDER.findall(en[key])), key


def test_catalogs_are_served_and_labels_come_from_the_server(client):
    for loc in CATALOGS:
        r = client.get(f"/console/i18n/{loc}.json")
        assert r.status_code == 200 and r.json()["board.title"], loc
    zh = client.get("/i18n/labels").json()  # no token: the sign-in page needs them too
    assert zh["locale"] == "zh-CN" and zh["locales"] == ["zh-CN", "en"]
    assert zh["labels"]["job_kind"]["repair"] == "维修"
    assert "error" not in zh["labels"] and "sms" not in zh["labels"]
    en = client.get("/i18n/labels", params={"lang": "en"}).json()
    assert en["labels"]["job_status"]["en_route"] == "On the way"
    assert en["labels"]["notification_status"]["dead_letter"] == "Dead letter"
    assert set(en["labels"]) == set(zh["labels"])
    for context, codes in en["labels"].items():
        assert set(codes) == set(zh["labels"][context]), context
    browser = client.get("/i18n/labels", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert browser.json()["locale"] == "en"


def test_a_user_chooses_their_language(client, world):
    auth = login(client, "dispatcher")
    assert client.get("/auth/me", headers=auth).json()["locale"] is None
    r = client.put("/auth/me/locale", json={"locale": "en"}, headers=auth)
    assert r.status_code == 200 and r.json()["locale"] == "en"
    assert client.get("/auth/me", headers=auth).json()["locale"] == "en"
    again = client.post("/auth/login", json={"username": "dispatcher", "password": PASSWORD})
    assert again.json()["user"]["locale"] == "en"  # the console reads it at sign-in
    bad = client.put("/auth/me/locale", json={"locale": "fr"}, headers=auth)
    assert bad.status_code in (400, 422) and bad.json()["code"], bad.text
    r = client.put("/auth/me/locale", json={"locale": None}, headers=auth)
    assert r.status_code == 200 and r.json()["locale"] is None
