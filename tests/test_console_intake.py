"""Intake at the desk in a real browser (headless Chromium, like
``tests/test_console_browser.py``): a dispatcher takes a call from a known customer
(found by phone), books a repair on their water heater with the shop's order reference,
picks the installer among the candidates; then a new caller: customer, purifier and a
pending installation created from the page. The day plan, the calendar and the
maintenance list render. Outcomes are checked through the API."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from test_console_browser import REASON, TZ, Console, console

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(REASON is not None, reason=f"console browser tests: {REASON}"),
]

__all__ = ["console"]


def test_intake_known_and_new_caller(console: Console) -> None:
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    w = console.world
    console.sign_in("dispatcher")
    console.text_in("main h1", "Dispatcher board")
    console.css("#nav a[href='#/intake']").click()
    console.text_in("main h1", "Take a call")
    Select(console.css("#intake-by")).select_by_value("phone")
    console.css("#intake-q").send_keys("139 1234 5678", Keys.ENTER)
    console.text_in("#intake-matches", "Li Wei")
    console.css("#intake-matches .pick-customer").click()
    console.css("#customer-form")
    assert console.css("#intake-name").get_attribute("value") == "Li Wei"
    Select(console.css("#intake-which-appliance")).select_by_value(str(w["appliance1"]))
    console.text_in("#order-form", "DH-60")
    Select(console.css("#intake-kind")).select_by_value("repair")
    console.css("#intake-external_ref").send_keys("JD-2026-0001")
    tomorrow = (datetime.now(TZ) + timedelta(days=1)).date()
    console.set_value("#intake-date", tomorrow.isoformat())
    console.set_value("#intake-from", "14:00")
    console.set_value("#intake-to", "16:00")
    console.css("#intake-description").send_keys("Leaks at the valve")
    console.css("#order-form button[type=submit]").click()
    console.text_in("#flash", "created")
    console.css("#intake-candidates")
    console.shot("20-intake-candidates")
    console.css(f"#intake-candidates button[data-technician='{w['tech1b']}']").click()
    console.text_in("#intake-assigned", "assigned to")

    jobs = console.api("GET", "/jobs", params={"customer_id": str(w["customer1"])})["items"]
    job = next(j for j in jobs if j["external_ref"] == "JD-2026-0001")
    assert job["kind"] == "repair" and job["appliance_id"] == str(w["appliance1"])
    assert job["technician_id"] == str(w["tech1b"])
    assert datetime.fromisoformat(job["window_start"]) == datetime.combine(
        tomorrow, time(14), tzinfo=TZ
    )
    # the same reference from the same source again is refused, with the API's message
    console.css("#order-form button[type=submit]").click()
    console.text_in("#flash", "external_ref_taken")

    # a new caller
    console.open("/intake")
    console.css("#intake-new").click()
    console.css("#intake-name").send_keys("Chen Jie")
    console.css("#intake-phone").clear()
    console.css("#intake-phone").send_keys("+86 135 0000 7777")
    console.css("#intake-address").send_keys("5 Tianmushan Road")
    console.css("#customer-form button[type=submit]").click()
    console.text_in("#flash", "Chen Jie created")
    Select(console.css("#intake-category")).select_by_value("water_purifier")
    console.css("#intake-model").send_keys("DH-RO600")
    console.css("#appliance-form button[type=submit]").click()
    console.text_in("#flash", "Appliance saved")
    console.text_in("#order-form", "DH-RO600")
    Select(console.css("#intake-kind")).select_by_value("install")
    console.css("#order-form button[type=submit]").click()
    console.text_in("#intake-dispatch", "Dispatch")
    console.shot("21-intake-new-customer")
    found = console.api("GET", "/customers/lookup", params={"phone": "135 0000 7777"})
    (hist,) = found["items"]
    assert hist["appliances"][0]["model"] == "DH-RO600"
    assert hist["jobs"][0]["kind"] == "install"
    assert hist["jobs"][0]["window_start"] is None  # pending

    # the day's plan, the calendar, the maintenance list
    console.open(f"/plan?day={tomorrow.isoformat()}&city={w['hangzhou']}")
    console.css("#plan-propose").click()
    console.text_in("#plan-summary", "proposed")
    console.shot("22-day-plan")
    console.css("#plan-accept").click()
    console.text_in("#flash", "Plan accepted")
    console.open(f"/calendar?technician={w['tech1b']}&view=week")
    console.text_in("#calendar", job["number"])
    console.shot("23-calendar-week")
    console.open("/board")
    console.css("#board-maintenance").click()
    console.text_in("main h1", "Maintenance")
    console.css("#maintenance")
    assert console.fits_width()
    assert console.js_errors() == []
