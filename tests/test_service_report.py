"""The service report: one document per visit for desks (JSON and a printable page) and
a signed, expiring link that shows customers their copy without the audit parts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from s3 import STORES
from sqlalchemy import select
from test_sync_api import Phone, make_job
from world import assert_error, login, run_db

from server.db.models import ClaimVerdict
from server.db.models.evidence import CompletionReport
from server.reports.routes import make_link_token


@pytest.fixture
def desk(client: Any, world: Any) -> dict[str, str]:
    return login(client, "dispatcher")


def _sha(url: str, report_id: str) -> str:
    async def work(s: Any) -> str:
        row = await s.get(CompletionReport, uuid.UUID(report_id))
        assert row is not None
        return str(row.sha256)

    return run_db(url, work)


def _verdict(url: str, job_id: str) -> None:
    async def work(s: Any) -> None:
        s.add(
            ClaimVerdict(
                job_id=uuid.UUID(job_id),
                claim_type="completed",
                passed=False,
                verdicts=[{"code": "secret_rule_xyz", "passed": False, "detail": "x"}],
            )
        )

    run_db(url, work)


def visited(
    client: Any, world: Any, desk: dict[str, str], url: str, work_done: str = "Replaced it."
) -> dict[str, Any]:
    """A job with a check-in, check-out, a report with charges and a sign-off bound to
    that report's hash."""
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    fix = {"latitude": 30.2791, "longitude": 120.1301, "accuracy_m": 8}
    report_id = str(uuid.uuid4())
    res = phone.push(
        [
            phone.mutation(
                "job.check_in",
                job["id"],
                {"checkin_id": str(uuid.uuid4()), "fix_time": t0.isoformat(), **fix},
            ),
            phone.mutation(
                "job.report",
                job["id"],
                {
                    "report_id": report_id,
                    "work_done": work_done,
                    "parts": [
                        {"name": "Igniter", "code": "IG-2", "quantity": 2, "unit_price": 150}
                    ],
                    "charges": [
                        {"code": "visit_fee", "amount": 3000, "label": "Visit"},
                        {"code": "labour", "amount": 5000},
                    ],
                    "checklist": {"shoe_covers": True},
                },
            ),
            phone.mutation(
                "job.check_out",
                job["id"],
                {
                    "checkin_id": str(uuid.uuid4()),
                    "fix_time": (t0 + timedelta(minutes=45)).isoformat(),
                    **fix,
                },
            ),
        ]
    )
    assert [o["status"] for o in res["outcomes"]] == ["applied"] * 3, res
    sha = _sha(url, report_id)
    signed = phone.push(
        [
            phone.mutation(
                "job.sign_off",
                job["id"],
                {
                    "sign_off_id": str(uuid.uuid4()),
                    "signer_name": "Li Wei",
                    "signed_at": (t0 + timedelta(minutes=44)).isoformat(),
                    "report_sha256": sha,
                    "strokes": [[[0, 0, 0], [10, 5, 120]]],
                },
            )
        ]
    )
    assert signed["outcomes"][0]["status"] == "applied", signed
    return {"job": job, "phone": phone, "sha": sha}


def _link(client: Any, desk: dict[str, str], job_id: str) -> str:
    r = client.post(f"/jobs/{job_id}/service-report/link", headers=desk)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["url"].startswith("/service-reports/")
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    return str(body["url"])


def test_json_report_has_work_charges_times_and_signature(
    client: Any, world: Any, desk: dict[str, str], database_url: str
) -> None:
    v = visited(client, world, desk, database_url)
    r = client.get(f"/jobs/{v['job']['id']}/service-report", headers=desk)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["number"] == v["job"]["number"] and body["customer_name"] == "Li Wei"
    assert "phone" not in r.text and "+86 139" not in r.text  # no customer phone numbers
    assert body["appliance"]["serial"] == "SN-HZ-0001"
    assert body["technician_name"] == "Tech1"
    assert body["provider_name"] == "Westlake Home Service"
    assert body["times"]["time_on_site_s"] == 45 * 60
    report = body["report"]
    assert report["work_done"] == "Replaced it." and report["sha256"] == v["sha"]
    assert report["charges_total"] == 8000 and report["parts_total"] == 300
    assert report["checklist"] == {"shoe_covers": True}
    assert body["sign_off"]["signer_name"] == "Li Wei"
    assert body["sign_off"]["signed"] is True and body["sign_off"]["stale"] is False

    page = client.get(f"/jobs/{v['job']['id']}/service-report.html?lang=en", headers=desk)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Signed by Li Wei on" in page.text and "@media print" in page.text
    # the pen strokes, rendered to an image
    assert f'src="/jobs/{v["job"]["id"]}/signature"' in page.text
    png = client.get(f"/jobs/{v['job']['id']}/signature", headers=desk)
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    img = Image.open(__import__("io").BytesIO(png.content))
    assert img.size == (600, 200) and img.getextrema()[0] == 0  # ink on the page


def test_later_report_makes_signature_stale_and_html_says_so(
    client: Any, world: Any, desk: dict[str, str], database_url: str
) -> None:
    v = visited(client, world, desk, database_url)
    phone: Phone = v["phone"]
    res = phone.push(
        [
            phone.mutation(
                "job.report",
                v["job"]["id"],
                {"report_id": str(uuid.uuid4()), "work_done": "Also the thermostat."},
            )
        ]
    )
    assert res["outcomes"][0]["status"] == "applied"
    body = client.get(f"/jobs/{v['job']['id']}/service-report", headers=desk).json()
    assert body["report"]["work_done"] == "Also the thermostat."
    assert body["sign_off"]["signed"] is False and body["sign_off"]["stale"] is True
    page = client.get(f"/jobs/{v['job']['id']}/service-report.html?lang=en", headers=desk).text
    assert "NOT SIGNED — the report changed after signing" in page
    assert "Signed by" not in page.split("NOT SIGNED")[0]


def test_html_escapes_what_the_phone_typed(
    client: Any, world: Any, desk: dict[str, str], database_url: str
) -> None:
    v = visited(client, world, desk, database_url, work_done='<script>alert("x")</script>')
    page = client.get(f"/jobs/{v['job']['id']}/service-report.html?lang=en", headers=desk).text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_customer_link_is_public_and_hides_audit_parts(
    client: Any, world: Any, desk: dict[str, str], database_url: str
) -> None:
    v = visited(client, world, desk, database_url)
    _verdict(database_url, v["job"]["id"])
    staff = client.get(f"/jobs/{v['job']['id']}/service-report.html?lang=en", headers=desk).text
    assert "secret_rule_xyz" in staff and "Findings" in staff

    url = _link(client, desk, v["job"]["id"])
    page = client.get(url, headers={"Accept-Language": "en-GB,en;q=0.8"})  # no Authorization
    assert page.status_code == 200, page.text
    assert "Replaced it." in page.text and "Signed by Li Wei" in page.text
    assert "¥80.00" in page.text  # the charges total
    assert "secret_rule_xyz" not in page.text
    assert "Verdicts" not in page.text and "Findings" not in page.text
    assert client.get(f"{url}/signature").status_code == 200  # the customer's own signature


def test_bad_or_expired_link_is_404(
    client: Any, world: Any, desk: dict[str, str], database_url: str
) -> None:
    v = visited(client, world, desk, database_url)
    url = _link(client, desk, v["job"]["id"])
    token = url.rsplit("/", 1)[1]
    job_hex, expiry, mac = token.split(".")
    for bad in (
        f"{job_hex}.{int(expiry) + 86400}.{mac}",  # expiry pushed out
        f"{uuid.uuid4().hex}.{expiry}.{mac}",  # another job
        f"{job_hex}.{expiry}.{mac[:-2]}AA",  # forged mac
        "nonsense",
    ):
        assert_error(client.get(f"/service-reports/{bad}"), 404, "report_link_invalid")

    key = client.app.state.settings.signing_key()
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = make_link_token(key, uuid.UUID(v["job"]["id"]), past)
    assert_error(client.get(f"/service-reports/{expired}"), 404, "report_link_invalid")


def test_who_may_see_it(client: Any, world: Any, desk: dict[str, str], database_url: str) -> None:
    v = visited(client, world, desk, database_url)
    job_id = v["job"]["id"]
    tech = login(client, "tech1")
    assert_error(client.get(f"/jobs/{job_id}/service-report", headers=tech), 403, "role_forbidden")
    assert_error(
        client.post(f"/jobs/{job_id}/service-report/link", headers=tech), 403, "role_forbidden"
    )
    other = login(client, "manager2")
    for path in ("service-report", "service-report.html"):
        assert_error(client.get(f"/jobs/{job_id}/{path}", headers=other), 404, "job_not_found")
    assert_error(
        client.post(f"/jobs/{job_id}/service-report/link", headers=other), 404, "job_not_found"
    )
    own = login(client, "manager1")
    assert client.get(f"/jobs/{job_id}/service-report", headers=own).status_code == 200

    async def count(s: Any) -> int:
        return len(list(await s.scalars(select(CompletionReport.id))))

    assert run_db(database_url, count) == 1  # reading never writes


@pytest.mark.parametrize("settings", STORES, indirect=True)
def test_customer_link_shows_the_visit_photos_and_nothing_else(client, world):
    from test_sync_api import Phone
    from test_sync_api import make_job as make_sync_job

    from client_sdk.uploads import upload_blob
    from fixtures.photos import make_jpeg

    desk = login(client, "dispatcher")
    job = make_sync_job(client, desk, world)
    other = make_sync_job(client, desk, world)
    phone = Phone(client, "tech1")
    shas = []
    for seed, job_id in ((11, job["id"]), (12, other["id"])):
        data = make_jpeg(
            width=320, height=240, seed=seed, taken_at=None, latitude=None, longitude=None
        )
        sha = upload_blob(client, data, "image/jpeg", headers=phone.headers, sleep=lambda _s: None)
        phone.push(
            [
                phone.mutation(
                    "job.photo",
                    job_id,
                    {"photo_id": str(uuid.uuid4()), "sha256": sha, "kind": "after"},
                )
            ]
        )
        shas.append(sha)
    link = client.post(f"/jobs/{job['id']}/service-report/link", headers=desk).json()["url"]
    page = client.get(link)
    assert page.status_code == 200 and f"{link}/photos/{shas[0]}" in page.text
    img = client.get(f"{link}/photos/{shas[0]}")
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert img.content[:2] == b"\xff\xd8"
    # another job's photo is not reachable through this job's link
    assert client.get(f"{link}/photos/{shas[1]}").status_code == 404


def test_customer_copy_is_chinese_by_default_with_local_times(
    client: Any, world: Any, desk: dict[str, str], database_url: str
) -> None:
    v = visited(client, world, desk, database_url)
    page = client.get(_link(client, desk, v["job"]["id"])).text
    assert '<html lang="zh-CN">' in page and "服务报告" in page
    assert "UTC" not in page and "¥80.00" in page


def test_service_report_pdf_renders_a_page_with_content(
    client: Any, world: Any, desk: dict[str, str], database_url: str
) -> None:
    from server.reports.pdf import available

    if not available():
        pytest.skip("WeasyPrint cannot load Pango here (apt-get install libpango-1.0-0)")
    pdfium = pytest.importorskip("pypdfium2")
    v = visited(client, world, desk, database_url)
    for url, headers in (
        (f"/jobs/{v['job']['id']}/service-report.pdf", desk),
        (_link(client, desk, v["job"]["id"]) + "/report.pdf", {}),
    ):
        res = client.get(url, headers=headers)
        assert res.status_code == 200, res.text
        assert res.headers["content-type"].startswith("application/pdf")
        assert res.content.startswith(b"%PDF")
        doc = pdfium.PdfDocument(res.content)
        image = doc[0].render(scale=1).to_pil().convert("L")
        # Text was laid out: a good share of the page is not white.
        dark = sum(image.histogram()[:128])
        assert dark > 1000, dark
        artifacts = Path(__file__).resolve().parent.parent / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        image.save(
            artifacts
            / ("service-report-pdf-customer.png" if not headers else "service-report-pdf-desk.png")
        )
