"""SLA escalation with an injected clock: a warning (phone poked, provider's dispatchers
alerted) before a clock runs out, the call center alerted and the job marked breached
when it does, an urgent job re-dispatched, each alert once; alerts listed by scope and
acknowledged."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from world import assert_error, login, run_db

from server.db.models import Notification


def _round(database_url: str, now: datetime):  # type: ignore[no-untyped-def]
    from server.dispatch.escalation import escalate

    return run_db(database_url, lambda s: escalate(s, now))


def _urgent(client, desk, world):  # type: ignore[no-untyped-def]
    r = client.post(
        "/jobs",
        json={
            "customer_id": str(world["customer1"]),
            "kind": "repair",
            "appliance_id": str(world["appliance1"]),
            "priority": "urgent",
            "provider_id": str(world["p1"]),
            "technician_id": str(world["tech1"]),
        },
        headers=desk,
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_warnings_breaches_and_redispatch(client, world, database_url):  # type: ignore[no-untyped-def]
    admin, desk = login(client, "admin"), login(client, "dispatcher")
    r = client.put(
        f"/cities/{world['hangzhou']}/dispatch",
        json={"mode": "manual", "redispatch_urgent": True},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    job = _urgent(client, desk, world)
    contact_due = datetime.fromisoformat(job["contact_due_at"])
    onsite_due = datetime.fromisoformat(job["onsite_due_at"])

    assert _round(database_url, contact_due - timedelta(minutes=11)).alerts == []
    warned = _round(database_url, contact_due - timedelta(minutes=9))
    assert len(warned.alerts) == 1 and warned.poked == {world["tech1"]}
    again = _round(database_url, contact_due - timedelta(minutes=8))
    assert again.alerts == [] and again.poked == set()  # raised once

    provider_desk = login(client, "provdispatch1")
    mine = client.get("/dispatch/alerts", headers=provider_desk).json()
    assert [a["kind"] for a in mine["items"]] == ["contact_due_soon"]
    assert (
        mine["items"][0]["audience"] == "provider" and job["number"] in mine["items"][0]["message"]
    )
    assert client.get("/dispatch/alerts", headers=login(client, "manager2")).json()["total"] == 0

    breached = _round(database_url, contact_due + timedelta(minutes=1))
    assert breached.breached == [uuid_of(job)]
    after = client.get(f"/jobs/{job['id']}/history", headers=desk).json()
    [event] = [e for e in after if e["kind"] == "sla_breached"]
    assert event["data"]["clock"] == "contact" and event["source"] == "system"
    center = client.get("/dispatch/alerts", headers=desk, params={"audience": "call_center"}).json()
    assert [a["kind"] for a in center["items"]] == ["contact_breached"]
    # the provider's staff do not see the call center's alerts
    assert [
        a["kind"] for a in client.get("/dispatch/alerts", headers=provider_desk).json()["items"]
    ] == ["contact_due_soon"]

    # the on-site clock: warned, then run out with nobody there: re-dispatched
    assert _round(database_url, onsite_due - timedelta(minutes=29)).alerts
    moved = _round(database_url, onsite_due + timedelta(minutes=1))
    assert moved.redispatched == {uuid_of(job): world["tech1b"]}
    now_job = client.get(f"/jobs/{job['id']}", headers=desk).json()
    assert now_job["technician_id"] == str(world["tech1b"])
    choices = client.get(f"/jobs/{job['id']}/dispatch", headers=desk).json()
    assert choices[0]["trigger"] == "redispatch" and choices[0]["state"] == "applied"
    everything = client.get("/dispatch/alerts", headers=desk).json()["items"]
    assert {a["kind"] for a in everything} == {
        "contact_due_soon",
        "contact_breached",
        "onsite_due_soon",
        "onsite_breached",
    }
    [out] = [a for a in everything if a["kind"] == "onsite_breached"]
    assert out["data"]["redispatched_to"] == str(world["tech1b"])

    # the outbox carries them to the people's phones
    sms = run_db(
        database_url,
        lambda s: s.scalars(select(Notification).where(Notification.template.like("sla_%"))),
    )
    assert {n.template for n in sms} >= {"sla_contact_due_soon", "sla_contact_breached"}

    # acknowledging: scoped, idempotent
    alert = mine["items"][0]
    assert_error(
        client.post(
            f"/dispatch/alerts/{alert['id']}/acknowledge", headers=login(client, "manager2")
        ),
        404,
        "dispatch_alert_not_found",
    )
    r = client.post(f"/dispatch/alerts/{alert['id']}/acknowledge", headers=provider_desk)
    assert r.status_code == 200 and r.json()["acknowledged_at"]
    again_ack = client.post(f"/dispatch/alerts/{alert['id']}/acknowledge", headers=provider_desk)
    assert again_ack.json()["acknowledged_at"] == r.json()["acknowledged_at"]
    left = client.get("/dispatch/alerts", headers=provider_desk).json()["items"]
    assert [a["kind"] for a in left] == ["onsite_due_soon"]  # the other provider alert


def test_contact_made_in_time_raises_nothing(client, world, database_url):  # type: ignore[no-untyped-def]
    desk = login(client, "dispatcher")
    job = _urgent(client, desk, world)
    r = client.post(f"/jobs/{job['id']}/contacted", json={}, headers=desk)
    assert r.status_code == 200, r.text
    contact_due = datetime.fromisoformat(job["contact_due_at"])
    assert _round(database_url, contact_due + timedelta(minutes=5)).alerts == []


def uuid_of(job):  # type: ignore[no-untyped-def]
    import uuid

    return uuid.UUID(job["id"])
