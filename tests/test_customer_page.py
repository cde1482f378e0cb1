"""The customer's page behind the signed link of the booking message: no account, the
appointment in local time, the technician's first name and level (never a phone), a
reschedule request for dispatchers, the not-home answer landing like an SMS reply, the
report and a satisfaction answer kept apart from the auditor's; expiring, revocable,
rate-limited, CSRF-safe, and no other job's page behind any token."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from test_callbacks import _completed, _sms, _task_of, genuine_not_home
from test_sync_api import Phone, make_job
from world import assert_error, login, run_db

from server.customer_page import links
from server.db.models import CustomerLink, CustomerReply
from server.i18n import label, window

GATEWAY_SECRET = "gateway-secret-for-tests"


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.replace(sms_gateway_secret=GATEWAY_SECRET, public_url="https://svc.example")


ZH = {"Accept-Language": "zh-CN,zh;q=0.9", "Accept": "text/html"}
EN = {"Accept-Language": "en-US,en;q=0.8", "Accept": "text/html"}


def _tomorrow_at(hour_local: int) -> datetime:
    """Tomorrow at ``hour_local`` in Hangzhou (UTC+8), as UTC."""
    day = (datetime.now(UTC) + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, hour_local - 8, tzinfo=UTC)


def _book(client, world, desk) -> tuple[dict, str, datetime]:
    job = make_job(client, desk, world, window_start=None, window_end=None)
    start = _tomorrow_at(14)
    r = client.put(
        f"/jobs/{job['id']}/appointment",
        headers=desk,
        json={
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=2)).isoformat(),
        },
    )
    assert r.status_code == 200, r.text
    [note] = client.get("/notifications", params={"job_id": job["id"]}, headers=desk).json()
    assert note["template"] == "appointment_booked"
    found = re.search(r"https://svc\.example/c/(\S+)", note["body"])
    assert found, note["body"]
    return job, found.group(1), start


def _desk_link(client, desk, job_id: str) -> str:
    r = client.post(f"/jobs/{job_id}/customer-links", headers=desk)
    assert r.status_code == 201, r.text
    return r.json()["url"].rsplit("/c/", 1)[1]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _page(client, token: str, headers=ZH):
    r = client.get(f"/c/{token}", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    return r.text


def test_the_booking_message_links_to_a_local_time_page_in_both_languages(client, world):
    desk = login(client, "dispatcher")
    job, token, start = _book(client, world, desk)
    zh = _page(client, token)
    assert '<html lang="zh-CN">' in zh and 'name="viewport"' in zh
    assert window(start, start + timedelta(hours=2), "Asia/Shanghai", "zh-CN") in zh
    assert "14:00\u201316:00" in zh  # the city's time, not UTC
    assert f"Tech1 · {label('zh-CN', 'skill_level', 'senior')}" in zh
    assert "申请改约" in zh
    for phone in ("138 0000 0000", "13800000000", "139 1234 5678"):
        assert phone not in zh  # neither the technician's nor the customer's number
    en = _page(client, token, EN)
    assert '<html lang="en">' in en and "Tech1 · Senior" in en
    assert window(start, start + timedelta(hours=2), "Asia/Shanghai", "en") in en
    # zh-CN is the default for a browser that says nothing we speak; ?lang= overrides.
    assert '<html lang="zh-CN">' in _page(client, token, {"Accept-Language": "fr"})
    assert '<html lang="en">' in client.get(f"/c/{token}?lang=en").text
    r = client.get(f"/c/{token}")
    assert "script-src" not in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    links_ = client.get(f"/jobs/{job['id']}/customer-links", headers=desk).json()
    assert [(x["reason"], x["url"]) for x in links_] == [("booking", None)]


def test_a_reschedule_request_reaches_the_dispatchers(client, world):
    desk = login(client, "dispatcher")
    job, token, _ = _book(client, world, desk)
    csrf = _csrf(_page(client, token))
    # Without the page's form token, or with another link's, nothing happens.
    other = _desk_link(client, desk, make_job(client, desk, world)["id"])
    r = client.post(f"/c/{token}/reschedule", data={"note": "x"})
    assert_error(r, 400, "invalid_form")
    r = client.post(f"/c/{token}/reschedule", data={"csrf": _csrf(_page(client, other))})
    assert_error(r, 403, "form_expired")
    r = client.post(
        f"/c/{token}/reschedule",
        data={"csrf": csrf, "note": "Saturday morning please", "lang": "en"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/c/{token}?done=reschedule&lang=en"
    after = client.get(f"/jobs/{job['id']}", headers=desk).json()
    assert after["reschedule_requested_at"] is not None
    [last] = client.get(f"/jobs/{job['id']}/history", headers=desk).json()[-1:]
    assert last["kind"] == "reschedule_requested"
    assert (last["actor_role"], last["source"]) == ("customer", "customer_page")
    assert last["data"]["reason"] == "Saturday morning please"
    asked = client.get("/jobs", headers=desk, params={"reschedule_requested": "true"}).json()
    assert [j["id"] for j in asked["items"]] == [job["id"]]
    answers = client.get(f"/jobs/{job['id']}/customer-answers", headers=desk).json()
    assert [(a["kind"], a["value"]) for a in answers] == [("reschedule", "requested")]
    assert (
        "Your request has reached our dispatchers"
        in client.get(r.headers["location"], headers=EN).text
    )
    assert_error(
        client.post(f"/c/{token}/reschedule", data={"csrf": csrf, "bogus": "1"}),
        400,
        "invalid_form",
    )


def test_not_home_answer_lands_like_an_sms_reply_and_moves_the_risk(client, world):
    desk, auditor = login(client, "dispatcher"), login(client, "auditor")
    phone = Phone(client, "tech1")
    by_page = genuine_not_home(client, world, phone, desk)
    before = _task_of(client, auditor, by_page["id"])
    token = _desk_link(client, desk, by_page["id"])
    html = _page(client, token)
    assert "我在家 / 没人来过" in html and "我当时不在家" in html
    r = client.post(
        f"/c/{token}/not-home",
        data={"csrf": _csrf(html), "answer": "was_home"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    after = client.get(f"/callbacks/{before['id']}", headers=auditor).json()
    assert after["customer_reply"] == "was_home"
    assert [x["meaning"] for x in after["replies"]] == ["was_home"]
    assert after["risk_score"] > before["risk_score"]
    assert "customer_says_home" in {f["code"] for f in after["risk_factors"]}
    # The answered page shows the answer instead of the buttons.
    answered = _page(client, token)
    assert 'name="answer" value="was_home"' not in answered and "我在家" in answered

    # The same claim answered by SMS reads the same on the callback.
    by_sms = genuine_not_home(client, world, phone, desk)
    task = _task_of(client, auditor, by_sms["id"])
    _sms(client, {"message_id": "gw-9", "sender": "+86 139 1234 5678", "text": "HOME"})
    sms_after = client.get(f"/callbacks/{task['id']}", headers=auditor).json()
    assert sms_after["customer_reply"] == after["customer_reply"]

    def says_home(task: dict) -> float:
        [f] = [f for f in task["risk_factors"] if f["code"] == "customer_says_home"]
        return f["contribution"]

    assert says_home(sms_after) == says_home(after) > 0

    # No claim on a job: the buttons are not there and a forged post is refused.
    plain = make_job(client, desk, world)
    plain_token = _desk_link(client, desk, plain["id"])
    plain_html = _page(client, plain_token)
    assert "not-home" not in plain_html
    assert_error(
        client.post(
            f"/c/{plain_token}/not-home", data={"csrf": _csrf(plain_html), "answer": "was_home"}
        ),
        409,
        "no_not_home_claim",
    )


def test_after_completion_the_report_and_a_satisfaction_kept_apart(client, world):
    desk, auditor = login(client, "dispatcher"), login(client, "auditor")
    job = _completed(client, world, desk, Phone(client, "tech1"))
    token = _desk_link(client, desk, job["id"])
    html = _page(client, token, EN)
    report = re.search(r'href="(/service-reports/[^"]+)"', html)
    assert report, html
    assert client.get(report.group(1).replace("&amp;", "&")).status_code == 200
    r = client.post(
        f"/c/{token}/satisfaction",
        data={"csrf": _csrf(html), "answer": "dissatisfied"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert "Thank you for your answer." in client.get(r.headers["location"], headers=EN).text
    task = _task_of(client, auditor, job["id"])
    client.post(f"/callbacks/{task['id']}/take", headers=auditor)
    r = client.post(
        f"/callbacks/{task['id']}/outcomes",
        headers=auditor,
        json={"outcome": "confirmed", "satisfaction": "very_satisfied"},
    )
    assert r.status_code == 201, r.text
    detail = client.get(f"/callbacks/{task['id']}", headers=auditor).json()
    assert detail["outcomes"][0]["satisfaction"] == "very_satisfied"
    assert detail["customer_satisfaction"] == "dissatisfied"
    loop = client.get(f"/jobs/{job['id']}/loop", headers=desk).json()
    assert (loop["callback_satisfaction"], loop["customer_satisfaction"]) == (
        "very_satisfied",
        "dissatisfied",
    )
    # A job not completed yet gets no satisfaction question, and a forged post is refused.
    open_job = make_job(client, desk, world)
    open_token = _desk_link(client, desk, open_job["id"])
    assert_error(
        client.post(
            f"/c/{open_token}/satisfaction",
            data={"csrf": _csrf(_page(client, open_token)), "answer": "satisfied"},
        ),
        409,
        "visit_not_completed",
    )


def test_tampered_foreign_expired_and_revoked_links(app, client, world, database_url):
    desk = login(client, "dispatcher")
    job, token, _ = _book(client, world, desk)
    link_hex, expiry, mac = token.split(".")
    # Another link id under this MAC, a service-report token, garbage: 404 with a code.
    forged = f"{uuid.uuid4().hex}.{expiry}.{mac}"
    report = client.post(f"/jobs/{job['id']}/service-report/link", headers=desk).json()["url"]
    for bad in (forged, report.rsplit("/", 1)[1], "x", f"{link_hex}.{int(expiry) + 9}.{mac}"):
        assert_error(client.get(f"/c/{bad}"), 404, "customer_link_invalid")
    assert_error(client.get(f"/service-reports/{token}"), 404, "report_link_invalid")
    # A browser gets a page saying so, with the code for support.
    r = client.get(f"/c/{forged}", headers=ZH)
    assert r.status_code == 404 and r.headers["x-error-code"] == "customer_link_invalid"
    assert "此链接无效或已过期" in r.text

    # Expired: a link whose time is up.
    key = app.state.settings.signing_key()

    async def expired(s):
        link = CustomerLink(
            id=uuid.uuid4(),
            job_id=uuid.UUID(job["id"]),
            reason="desk",
            created_at=datetime.now(UTC) - timedelta(days=31),
            expires_at=(datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0),
        )
        s.add(link)
        await s.commit()
        return links.make_token(key, link)

    old = run_db(database_url, expired)
    assert_error(client.get(f"/c/{old}"), 410, "customer_link_expired")
    assert_error(client.post(f"/c/{old}/reschedule", data={}), 410, "customer_link_expired")

    # Revoked: from then on 410, forms too; provider staff of another provider cannot.
    rows = client.get(f"/jobs/{job['id']}/customer-links", headers=desk).json()
    [row] = [x for x in rows if x["reason"] == "booking"]
    revoke = f"/jobs/{job['id']}/customer-links/{row['id']}/revoke"
    assert_error(client.post(revoke, headers=login(client, "manager2")), 404, "job_not_found")
    r = client.post(revoke, headers=desk)
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert_error(client.get(f"/c/{token}"), 410, "customer_link_revoked")
    r = client.get(f"/c/{token}", headers=EN)
    assert r.status_code == 410 and r.headers["x-error-code"] == "customer_link_revoked"
    assert_error(
        client.post(f"/c/{token}/reschedule", data={"csrf": "x"}), 410, "customer_link_revoked"
    )
    other_job = make_job(client, desk, world)
    assert_error(
        client.post(f"/jobs/{other_job['id']}/customer-links/{row['id']}/revoke", headers=desk),
        404,
        "customer_link_not_found",
    )
    assert run_db(database_url, lambda s: s.scalar(select(CustomerReply.id).limit(1))) is None


def test_the_page_is_rate_limited_per_link(app, client, world):
    desk = login(client, "dispatcher")
    _, token, _ = _book(client, world, desk)
    app.state.limiter.settings = app.state.settings.replace(rate_limit_customer_page=3)
    answers = [client.get(f"/c/{token}").status_code for _ in range(4)]
    assert answers[:3] == [200, 200, 200]
    r = client.get(f"/c/{token}")
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) >= 1
