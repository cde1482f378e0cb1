"""Monthly provider statements: bonuses, fines and net per technician with the jobs
behind each line, as JSON, CSV and a printable page; a provider's staff read only their
own. Arranged with the scorecards' June (figures worked out by hand there)."""

from __future__ import annotations

import csv
import io

from test_scorecards import JUNE, _get, june  # noqa: F401 (the fixture)
from world import assert_error, login


def _statement(client, who: str, provider_id, month: str = "2025-06", **params):
    return client.get(
        f"/providers/{provider_id}/statements/{month}", params=params, headers=login(client, who)
    )


def test_statement_lines_add_up_to_the_scorecard(client, june):  # noqa: F811
    r = _statement(client, "admin", june["p1"])
    assert r.status_code == 200, r.text
    s = r.json()
    assert (s["month"], s["timezone"], s["currency"]) == ("2025-06", "Asia/Shanghai", "CNY")
    assert s["period_from"].startswith("2025-05-31T16:00:00")  # midnight in Hangzhou
    assert (s["bonus"], s["fines"], s["net"]) == (6000, 200000, -194000)
    [card] = [
        p
        for p in _get(client, "admin", "providers", **JUNE)["items"]
        if p["provider_id"] == str(june["p1"])
    ]
    assert (card["bonus"], card["fines"], card["net"]) == (s["bonus"], s["fines"], s["net"])

    techs = {t["technician_name"]: t for t in s["technicians"]}
    assert set(techs) == {"Tech1", "Tech1B"}  # tech1off earned and lost nothing
    tech1 = techs["Tech1"]
    assert (tech1["bonus"], tech1["fines"], tech1["net"]) == (3000, 200000, -197000)
    assert [(x["kind"], x["amount"], x["detail"]) for x in tech1["lines"]] == [
        ("bonus", 1500, "very_satisfied"),  # j1 (j2 was corrected to satisfied)
        ("bonus", 1500, "very_satisfied"),  # j3
        ("fine", -200000, "false_unable"),  # j4 (j5's violation was voided)
    ]
    assert all(x["job_number"].startswith("SC-") and x["job_id"] for x in tech1["lines"])
    assert tech1["lines"][2]["violation_id"]
    assert (techs["Tech1B"]["bonus"], techs["Tech1B"]["net"]) == (3000, 3000)
    p2 = _statement(client, "auditor", june["p2"]).json()
    assert (p2["bonus"], p2["fines"], p2["net"]) == (2000, 0, 2000)
    # Another month holds other claims (tech1's j6 was claimed in May).
    may = _statement(client, "admin", june["p1"], "2025-05").json()
    assert (may["bonus"], may["net"]) == (1500, 1500)


def test_csv_and_printable_page(client, june):  # noqa: F811
    r = _statement(client, "manager1", june["p1"], format="csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 5
    assert sum(int(x["amount"]) for x in rows) == -194000
    assert {x["technician_name"] for x in rows} == {"Tech1", "Tech1B"}

    zh = _statement(client, "manager1", june["p1"], format="html", lang="zh-CN")
    assert zh.status_code == 200 and zh.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in zh.text
    assert "-¥1,940.00" in zh.text and "¥60.00" in zh.text and "罚款" in zh.text
    assert "虚假“无法完成”报告" in zh.text
    en = _statement(client, "admin", june["p1"], format="html", lang="en").text
    assert "Fines" in en and "-¥2,000.00" in en and "unable to complete&#x27; report" in en


def test_scoped_to_the_providers_own_staff(client, june):  # noqa: F811
    for who in ("manager1", "provdispatch1"):
        assert _statement(client, who, june["p1"]).status_code == 200
        assert_error(_statement(client, who, june["p2"]), 404, "provider_not_found")
    assert_error(_statement(client, "manager2", june["p1"]), 404, "provider_not_found")
    assert_error(_statement(client, "tech1", june["p1"]), 403, "role_forbidden")
    for bad in ("2025-13", "2025-6", "june", "1999-01"):
        assert_error(_statement(client, "admin", june["p1"], bad), 422, "invalid_month")
    assert_error(_statement(client, "admin", june["p1"], format="pdf"), 400, "invalid_request")
