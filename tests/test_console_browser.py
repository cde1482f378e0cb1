"""The console in a real browser (headless Chromium) against a real server process:
a dispatcher assigns and reschedules a job, an auditor finds a fabricated "not home"
claim at the top of the callback queue, reads its evidence, records "contradicted" and
sees the technician's scorecard change, a technician is refused a console, a provider
manager sees only their provider. Outcomes are checked through the API.

The console speaks zh-CN (the brand's default) and en: the desk users of the flows above
chose English (their saved preference); an admin who chose nothing sees the main pages in
Chinese, switches to English and back. Screenshots of every page, in both languages, go
to ``test-artifacts/console/``."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from browser import ARTIFACTS, chromium, unavailable
from servers import ServerProcess
from test_callbacks import fabricated_not_home, genuine_not_home
from test_sync_api import Phone
from world import PASSWORD, World, build_world, run_db

from server.db.models import Notification

REASON = unavailable()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(REASON is not None, reason=f"console browser tests: {REASON}"),
]

TZ = ZoneInfo("Asia/Shanghai")  # the browser's zone; the world's cities are in it too
WAIT = 20  # seconds a page may take to show what a step expects (a bound, not a measure)
CATALOGS = Path(__file__).resolve().parents[1] / "server" / "console" / "static" / "i18n"
ENGLISH_DESK = ("dispatcher", "auditor", "manager1", "tech1")
"""Users whose saved language is English (the flows below read English text)."""


class Console:
    def __init__(self, server: ServerProcess, world: World, driver: Any, url: str) -> None:
        self.server, self.world, self.driver, self.url = server, world, driver, url
        self.http = httpx.Client(base_url=server.url, timeout=10)

    # --- the API, to arrange and to check ---------------------------------------------
    def token(self, who: str) -> dict[str, str]:
        r = self.http.post("/auth/login", json={"username": who, "password": PASSWORD})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def api(self, method: str, path: str, who: str = "dispatcher", **kw: Any) -> Any:
        r = self.http.request(method, path, headers=self.token(who), **kw)
        assert r.is_success, r.text
        return r.json()

    def job(self, customer: str = "customer1", **body: Any) -> dict[str, Any]:
        return self.api(
            "POST",
            "/jobs",
            json={"customer_id": str(self.world[customer]), "kind": "install", **body},
        )

    # --- the browser --------------------------------------------------------------------
    def open(self, hash_: str) -> None:
        self.driver.get(f"{self.server.url}/console/#{hash_}")

    def wait(self, condition: Any) -> Any:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, WAIT).until(condition)
        except TimeoutException:
            shot = self.shot("FAILED")
            main = self.driver.execute_script("return document.body.innerText")
            raise AssertionError(
                f"the page did not get there; screenshot {shot}; url {self.driver.current_url};"
                f" page text:\n{main[:3000]}\nbrowser errors: {self.js_errors()}"
            ) from None

    def css(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.wait(lambda d: d.find_element(By.CSS_SELECTOR, selector))

    def text_in(self, selector: str, text: str) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        self.wait(ec.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text))
        return self.css(selector)

    def sign_in(self, who: str) -> None:
        from selenium.webdriver.common.keys import Keys

        self.open("/login")
        self.driver.execute_script("sessionStorage.clear()")
        self.open("/login")  # a signed-in page may have moved on: back to a fresh sign-in
        self.driver.refresh()
        self.css("#login-form input[name=username]").send_keys(who)
        self.css("#login-form input[name=password]").send_keys(PASSWORD, Keys.ENTER)

    def set_value(self, selector: str, value: str) -> None:
        self.driver.execute_script("arguments[0].value = arguments[1]", self.css(selector), value)

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        width = self.driver.get_window_size()["width"]
        self.driver.set_window_size(width, max(768, min(int(height) + 120, 4000)))
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(width, 768)
        print(f"screenshot: {path}")
        return path

    def js_errors(self) -> list[str]:
        return [
            e["message"]
            for e in self.driver.get_log("browser")
            if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
        ]

    def fits_width(self) -> bool:
        return bool(
            self.driver.execute_script(
                "return document.documentElement.scrollWidth <= window.innerWidth"
            )
        )


@pytest.fixture(scope="module")
def console(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    data = tmp_path_factory.mktemp("console")
    db = data / "doorstep.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite+aiosqlite:///{db}"
    world = build_world(url)
    server = ServerProcess(
        {"DOORSTEP_DATABASE_URL": url, "DOORSTEP_SECRET_KEY": "console-browser-test-" + "k" * 48},
        data,
    )
    server.start()
    try:
        # A tablet in landscape.
        with chromium(width=1024, height=768, tz=str(TZ)) as driver:
            console = Console(server, world, driver, url)
            for who in ENGLISH_DESK:
                console.api("PUT", "/auth/me/locale", who=who, json={"locale": "en"})
            try:
                yield console
            finally:
                console.http.close()
    finally:
        server.stop()


def _local(day: datetime, at: time) -> datetime:
    return datetime.combine(day.date(), at, tzinfo=TZ)


def test_dispatcher_assigns_and_reschedules(console: Console) -> None:
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    w = console.world
    tomorrow = datetime.now(TZ) + timedelta(days=1)
    start = _local(tomorrow, time(10, 0))
    job = console.job(
        kind="repair",
        appliance_id=str(w["appliance1"]),
        window_start=start.isoformat(),
        window_end=(start + timedelta(hours=2)).isoformat(),
        description="No hot water",
    )

    console.sign_in("dispatcher")
    console.text_in("main h1", "Dispatcher board")
    console.text_in("#upcoming", job["number"])
    assert console.fits_width()
    console.shot("01-board-dispatcher")

    console.css(f"#upcoming a[href='#/jobs/{job['id']}']").click()
    console.text_in("main h1", f"Job {job['number']}")
    tech = Select(console.css("#assign-technician"))
    # the candidates, the appliance's installer first
    assert "installer" in tech.options[1].text and "Tech1B" in tech.options[1].text
    tech.select_by_value(str(w["tech1b"]))
    assert console.css("#assign-provider").get_attribute("value") == str(w["p1"])
    console.css("#assign-reason").send_keys("Installed it", Keys.ENTER)
    console.text_in("#flash", "assigned")
    console.shot("02-job-assigned")

    after = console.api("GET", f"/jobs/{job['id']}")
    assert after["status"] == "assigned"
    assert after["technician_id"] == str(w["tech1b"]) and after["provider_id"] == str(w["p1"])

    new_day = tomorrow + timedelta(days=1)
    console.text_in("#appointment-form h3", "Reschedule")
    console.set_value("#appt-date", new_day.date().isoformat())
    console.set_value("#appt-from", "14:00")
    console.set_value("#appt-to", "16:30")
    console.css("#appt-reason").send_keys("Customer asked for the afternoon", Keys.ENTER)
    console.text_in("#flash", "appointment")
    console.shot("03-job-rescheduled")

    moved = console.api("GET", f"/jobs/{job['id']}")
    assert datetime.fromisoformat(moved["window_start"]) == _local(new_day, time(14, 0))
    assert datetime.fromisoformat(moved["window_end"]) == _local(new_day, time(16, 30))
    assert moved["technician_id"] == str(w["tech1b"])
    history = console.api("GET", f"/jobs/{job['id']}/history")
    assert any("Customer asked for the afternoon" in str(e["data"]) for e in history)
    told = console.api("GET", "/notifications", params={"job_id": job["id"]})
    assert told, "moving a booked appointment tells the customer"
    console.text_in("#history", "Customer asked for the afternoon")

    console.css("#report-link").click()
    frame = console.css("#report-frame")
    console.driver.switch_to.frame(frame)
    try:
        console.text_in("h1", f"Service report {job['number']}")
    finally:
        console.driver.switch_to.default_content()
    console.shot("04-service-report")

    console.open("/customers")
    console.css("#lookup-by")
    Select(console.css("#lookup-by")).select_by_value("phone")
    console.css("#lookup-q").send_keys("139 1234 5678", Keys.ENTER)
    console.text_in("#lookup-results", "Li Wei")
    console.text_in("#lookup-results", job["number"])
    assert console.fits_width()
    console.shot("05-customer-lookup")
    assert console.js_errors() == []


def _tech_card(console: Console, tech: str) -> dict[str, Any]:
    day = timedelta(days=1)
    now = datetime.now(TZ)
    cards = console.api(
        "GET",
        "/scorecards/technicians",
        who="auditor",
        params={"from": (now - day).isoformat(), "to": (now + day).isoformat()},
    )
    rows = [r for r in cards["items"] if r["technician_id"] == str(console.world[tech])]
    return rows[0] if rows else {"contradicted": 0, "fines": 0}


def _trace_at(phone: Phone, job_id: str, where: tuple[float, float]) -> None:
    """Six minutes of breadcrumbs standing at ``where``, ending now."""
    import random
    import uuid as uuid_

    import msgspec

    from fixtures.traces import dwell
    from sync.trace_wire import TracePoint, encode_points

    start = datetime.now(UTC) - timedelta(minutes=7)
    points = [
        TracePoint(start + timedelta(seconds=c.t), c.lat, c.lon, c.acc, c.speed)
        for c in dwell(random.Random(3), where, 0.0, 360, interval=30)
    ]
    args = msgspec.to_builtins(encode_points(uuid_.uuid4(), 0, points, last=True))
    res = phone.push([phone.mutation("job.location_trace", job_id, args)])
    assert res["outcomes"][0]["status"] == "applied", res


def test_auditor_contradicts_a_fabricated_not_home_claim(console: Console) -> None:
    from selenium.webdriver.common.by import By

    w, http = console.world, console.http
    desk = console.token("dispatcher")
    phone = Phone(http, "tech1")  # the sync API, as the phone pushes
    genuine = genuine_not_home(http, w, phone, desk)
    fake = fabricated_not_home(http, w, phone, desk)
    _trace_at(phone, fake["id"], (30.3060, 120.1300))  # the phone's trace: a stop 3 km away
    queue = console.api("GET", "/callbacks", who="auditor", params={"kind": "not_home"})
    task = next(t for t in queue["items"] if t["job_id"] == fake["id"])
    before = _tech_card(console, "tech1")

    console.sign_in("auditor")  # an auditor starts at the queue
    console.text_in("main h1", "Callback queue")
    first = console.css("#queue tbody tr")
    assert first.get_attribute("data-task") == task["id"]
    assert fake["number"] in first.text
    assert "m from the address" in first.text  # each factor in words
    assert "before the window opened" in first.text
    assert "%" in first.text  # the probability that the claim is false
    console.text_in("#queue", genuine["number"])
    assert console.fits_width()
    console.shot("09-callback-queue")

    first.find_element(By.CSS_SELECTOR, "a.task-link").click()
    console.text_in("main h1", f"Callback {fake['number']}")
    plot = console.css("#location-plot")
    assert len(plot.find_elements(By.CSS_SELECTOR, "[data-kind=checkin]")) == 1
    assert plot.find_elements(By.CSS_SELECTOR, "[data-kind=customer]")
    rings = {
        int(r.get_attribute("data-radius")) for r in plot.find_elements(By.CSS_SELECTOR, ".ring")
    }
    assert {100, 500, 1000, 3000} <= rings  # the check-in is about 3 km away
    assert plot.find_elements(By.CSS_SELECTOR, "[data-kind=trace] polyline")
    [stop] = plot.find_elements(By.CSS_SELECTOR, "[data-kind=stop]")
    assert float(stop.get_attribute("data-minutes")) >= 5
    console.text_in("#trace-summary", "km from the address")
    console.text_in("#ledger", "Could not complete")
    console.text_in("#checkins", "Outside the fence")
    console.text_in("#ev-verdicts", "rules failed")
    assert console.fits_width()
    console.shot("10-callback-evidence")

    console.css("#take-form button").click()
    console.css("#outcome-form-contradicted").click()
    console.css("#outcome-form-comment").send_keys("I was home all afternoon, nobody came.")
    console.css("#outcome-form button[type=submit]").click()
    console.text_in("#flash", "violation was recorded")
    console.text_in("#violations", "False not home")
    console.text_in("#outcomes", "Contradicted")
    console.shot("11-callback-contradicted")

    done = console.api("GET", f"/callbacks/{task['id']}", who="auditor")
    assert done["result"] == "contradicted" and len(done["violations"]) == 1
    after = _tech_card(console, "tech1")
    assert after["contradicted"] == before["contradicted"] + 1
    assert after["fines"] == before["fines"] + 200000

    console.css("#nav a[href='#/scorecards']").click()
    console.text_in("main h1", "Scorecards")
    row = console.css(f"#scorecards tr[data-row^='{w['tech1']}']")
    assert row.find_element(By.CSS_SELECTOR, "[data-field=contradicted]").text == str(
        after["contradicted"]
    )
    assert "2,000" in row.find_element(By.CSS_SELECTOR, "[data-field=fines]").text
    console.text_in("#violation-list", fake["number"])
    assert console.css("#chart-rate .bar") and console.css("#chart-trend")
    console.driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(ARTIFACTS)}
    )
    console.css("#csv-form button").click()
    link = console.css("#csv-link")
    assert link.get_attribute("href").startswith("blob:")
    console.wait(lambda d: list(ARTIFACTS.glob("scorecards-technicians-*.csv")))
    csv = next(ARTIFACTS.glob("scorecards-technicians-*.csv")).read_text()
    assert csv.startswith("rank,technician_id") and str(w["tech1"]) in csv
    console.shot("12-scorecards")
    assert console.js_errors() == []


def test_technician_gets_no_console(console: Console) -> None:
    console.open("/board")
    console.driver.execute_script("sessionStorage.clear()")
    console.driver.refresh()
    # not signed in: the board sends the browser to sign in, and back afterwards
    console.wait(lambda d: "#/login?next=%2Fboard" in d.current_url)
    console.sign_in("tech1")
    error = console.text_in("#login-error", "no console")
    assert "technicians work from the Doorstep app" in error.text
    assert console.driver.execute_script("return sessionStorage.length") == 0
    assert "#/login" in console.driver.current_url
    console.shot("06-login-technician-refused")
    # and the desk API still answers a technician as it always did
    r = console.http.get("/board", headers=console.token("tech1"))
    assert r.status_code == 403


def test_provider_manager_sees_only_their_provider(console: Console) -> None:
    w = console.world
    mine = console.job(provider_id=str(w["p1"]), description="for p1")
    theirs = console.job(customer="customer2", provider_id=str(w["p2"]), description="for p2")

    console.sign_in("manager1")
    console.text_in("#pending", mine["number"])
    board = console.css("main").text
    assert theirs["number"] not in board
    assert "Purple Mountain Repairs" not in board  # p2's name, not even in the filter
    console.shot("07-board-provider-manager")

    console.open(f"/jobs/{theirs['id']}")
    console.text_in("main [role=alert]", "No job with that id")
    console.shot("08-other-providers-job")

    console.open(f"/jobs/{mine['id']}")
    console.text_in("main h1", mine["number"])
    assert console.driver.find_elements("css selector", "#assign-form")
    assert not console.driver.find_elements("css selector", "#cancel-form")  # call center only

    # Scorecards: their own provider only; no callback workbench (the API says 403).
    assert not console.driver.find_elements("css selector", "#nav a[href='#/callbacks']")
    console.css("#nav a[href='#/scorecards']").click()
    console.text_in("main h1", "Scorecards")
    console.css("#scorecards")
    page = console.css("main").text
    assert "Purple Mountain Repairs" not in page
    rows = console.driver.find_elements("css selector", "#scorecards tr[data-row]")
    assert all(f"/{w['p1']}" in r.get_attribute("data-row") for r in rows)
    console.open("/scorecards?by=providers")
    console.text_in("main .summary", "providers with claims")
    rows = console.driver.find_elements("css selector", "#scorecards tr[data-row]")
    assert [r.get_attribute("data-row") for r in rows] in ([], [str(w["p1"])])
    console.shot("13-scorecards-provider-manager")
    console.open("/callbacks")
    console.text_in("main h1", "Not for your role")
    r = console.http.get("/callbacks", headers=console.token("manager1"))
    assert r.status_code == 403
    assert console.js_errors() == []


def _raw_keys(text: str) -> list[str]:
    """Catalog keys shown as they are: a key a page uses but no catalog has."""
    keys = set(json.loads((CATALOGS / "en.json").read_text(encoding="utf-8")))
    spaces = {k.split(".")[0] for k in keys}
    return [
        m.group(0) for m in re.finditer(r"\b([a-z]+)\.[a-z0-9_]+\b", text) if m.group(1) in spaces
    ]


def test_the_main_pages_in_chinese_then_english(console: Console) -> None:
    """An admin who never chose a language gets zh-CN: headings, labels of codes, money
    in ¥; the switch changes the page and saves the choice; both sets of screenshots."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    w = console.world
    start = _local(datetime.now(TZ) + timedelta(days=1), time(14, 0))
    job = console.job(
        kind="repair",
        appliance_id=str(w["appliance1"]),
        window_start=start.isoformat(),
        window_end=(start + timedelta(hours=2)).isoformat(),
        description="不出热水",
    )

    async def dead_letter(s: Any) -> uuid.UUID:
        n = Notification(
            template="appointment_booked",
            recipient="+8613912345678",
            body="【上门服务】您的维修服务已预约。",
            params={},
            job_id=uuid.UUID(job["id"]),
            status="dead_letter",
            attempts=6,
            error="gateway answered 500",
            failed_at=datetime.now(TZ),
        )
        s.add(n)
        await s.flush()
        return n.id

    letter = run_db(console.url, dead_letter)
    console.api("PUT", "/auth/me/locale", who="admin", json={"locale": None})
    console.open("/login")
    console.driver.execute_script("localStorage.clear(); sessionStorage.clear()")
    console.driver.refresh()
    console.text_in("main h1", "登录")
    assert console.driver.execute_script("return document.documentElement.lang") == "zh-CN"
    console.shot("zh-00-login")
    console.sign_in("admin")

    pages = [
        ("/board", "调度看板", "zh-01-board"),
        (f"/jobs/{job['id']}", f"工单 {job['number']}", "zh-02-job"),
        ("/customers?phone=13912345678", "客户", "zh-03-customers"),
        ("/callbacks", "回访队列", "zh-04-callbacks"),
        ("/scorecards", "绩效", "zh-05-scorecards"),
        ("/dead-letters", "未送达的短信", "zh-06-dead-letters"),
        ("/alerts", "时限预警", "zh-08-alerts"),
        ("/intake", "受理来电", "zh-09-intake"),
        ("/plan", "日计划", "zh-10-plan"),
        ("/calendar", "技师日程", "zh-11-calendar"),
        ("/maintenance", "保养", "zh-12-maintenance"),
        ("/audit-trail", "操作记录", "zh-13-audit-trail"),
    ]
    for path, heading, shot in pages:
        console.open(path)
        console.text_in("main h1", heading)
        console.wait(lambda d: d.find_element(By.ID, "main").get_attribute("aria-busy") is None)
        text = console.css("body").text
        assert not _raw_keys(text), (path, _raw_keys(text))
        console.shot(shot)
    console.open(f"/jobs/{job['id']}")
    console.text_in("main h1", job["number"])
    facts = console.css(".facts").text
    assert "维修" in facts and "repair" not in facts, facts  # labels, not codes
    console.open("/board")
    console.text_in("#upcoming", job["number"])
    assert "维修" in console.css("#upcoming").text
    assert "14:00" in console.css("#upcoming").text  # the city's time
    console.open("/dead-letters")
    row = console.css(f"#dead-letters tr[data-notification='{letter}']")
    assert "预约确认" in row.text and "发送终止" in row.text
    row.find_element(By.CSS_SELECTOR, ".retry-form button").click()
    console.text_in("#flash", "已重新排队")

    async def status(s: Any) -> str | None:
        n = await s.get(Notification, letter)
        return n.status if n is not None else None

    assert run_db(console.url, status) == "queued"
    console.shot("zh-07-dead-letter-retried")

    # The switch: English at once, saved for the user, <html lang> follows.
    Select(console.css("#lang-switch")).select_by_value("en")
    console.text_in("main h1", "Undelivered messages")
    assert console.driver.execute_script("return document.documentElement.lang") == "en"
    assert console.api("GET", "/auth/me", who="admin")["locale"] == "en"
    for path, heading, shot in [
        ("/board", "Dispatcher board", "en-01-board"),
        (f"/jobs/{job['id']}", f"Job {job['number']}", "en-02-job"),
        ("/callbacks", "Callback queue", "en-04-callbacks"),
        ("/scorecards", "Scorecards", "en-05-scorecards"),
        ("/dead-letters", "Undelivered messages", "en-06-dead-letters"),
        ("/alerts", "SLA alerts", "en-08-alerts"),
        ("/intake", "Take a call", "en-09-intake"),
        ("/plan", "Day plan", "en-10-plan"),
        ("/calendar", "Technician calendar", "en-11-calendar"),
        ("/maintenance", "Maintenance", "en-12-maintenance"),
        ("/audit-trail", "Audit trail", "en-13-audit-trail"),
    ]:
        console.open(path)
        console.text_in("main h1", heading)
        console.wait(lambda d: d.find_element(By.ID, "main").get_attribute("aria-busy") is None)
        assert not _raw_keys(console.css("body").text), path
        console.shot(shot)
    console.text_in("#nav", "Undelivered SMS")

    # Signed in again elsewhere, the saved choice wins over this browser's.
    console.driver.execute_script("localStorage.setItem('doorstep.locale', 'zh-CN')")
    console.sign_in("admin")
    console.text_in("main h1", "Dispatcher board")
    Select(console.css("#lang-switch")).select_by_value("zh-CN")
    console.text_in("main h1", "调度看板")
    console.api("PUT", "/auth/me/locale", who="admin", json={"locale": None})
    assert console.js_errors() == []


def test_dispatcher_sees_and_acknowledges_sla_alerts(console: Console) -> None:
    from world import run_db

    from server import wiring
    from server.dispatch.escalation import escalate

    wiring.install()
    w = console.world
    job = console.api(
        "POST",
        "/jobs",
        json={
            "customer_id": str(w["customer1"]),
            "kind": "repair",
            "appliance_id": str(w["appliance1"]),
            "priority": "urgent",
            "provider_id": str(w["p1"]),
            "technician_id": str(w["tech1"]),
        },
    )
    due = datetime.fromisoformat(job["contact_due_at"])
    url = console.server.env["DOORSTEP_DATABASE_URL"]
    run_db(url, lambda s: escalate(s, due + timedelta(minutes=1)))
    console.sign_in("dispatcher")
    console.text_in("main h1", "Dispatcher board")
    console.open("/alerts")
    console.text_in("main h1", "SLA alerts")
    table = console.text_in("#alerts", job["number"])
    assert "contact clock ran out" in table.text
    console.shot("08-sla-alerts")
    console.css(f"#alerts button[aria-label='Acknowledge {job['number']}']").click()
    console.text_in("#flash", "acknowledged")
    alerts = console.api("GET", "/dispatch/alerts", params={"open": "false"})["items"]
    mine = [a for a in alerts if a["job_id"] == job["id"]]
    assert mine and all(a["acknowledged_at"] for a in mine if a["kind"] == "contact_breached")
    assert not console.js_errors()


def _only_customers(driver: Any) -> bool:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        text = driver.find_element("css selector", "#trail").text
    except (NoSuchElementException, StaleElementReferenceException):
        return False  # being drawn again
    return "customer changed" in text and "Tech Bee" not in text


def test_auditor_reads_the_audit_trail_and_exports_it(console: Console) -> None:
    from selenium.webdriver.support.ui import Select

    w = console.world
    console.api("PATCH", f"/customers/{w['customer2']}", json={"notes": "Dog in the yard"})
    console.api("PATCH", f"/users/{w['tech1b']}", who="manager1", json={"full_name": "Tech Bee"})

    console.sign_in("auditor")
    console.css("#nav a[href='#/audit-trail']").click()
    console.text_in("main h1", "Audit trail")
    console.text_in("#trail", "Dog in the yard")
    assert "Tech Bee" in console.css("#trail").text
    Select(console.css("#trail-filters select[name=entity]")).select_by_value("customer")
    console.css("#trail-filters button[type=submit]").click()
    console.wait(lambda d: "entity=customer" in d.current_url)
    console.wait(lambda d: _only_customers(d))
    assert "Dispatcher" in console.css("#trail").text  # who, by name
    console.css("#csv-form button").click()
    link = console.css("#csv-form-link")
    assert link.get_attribute("download").startswith("audit-events-")
    assert console.fits_width()
    console.shot("20-audit-trail-auditor")

    # a provider's manager reads their own people's actions only
    console.sign_in("manager1")
    console.text_in("main h1", "Dispatcher board")
    console.css("#nav a[href='#/audit-trail']").click()
    console.text_in("#trail", "Tech Bee")
    assert "Dog in the yard" not in console.css("#trail").text
    console.shot("21-audit-trail-provider-manager")
    assert console.js_errors() == []
