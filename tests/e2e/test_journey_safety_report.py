"""Journey "safety report to outcome" with the demo as shipped, on a 360 px phone, in
Chinese and in English: the resident reports a blocked fire lane; the demo security
officer (周保安) finds it on the desk, acknowledges it and sends themself, and — sent —
sees the reporter's name and phone to call back, as the form promised; they close it
with the outcome note closing requires; the resident is told (received, an officer
sent, the outcome) and reads the outcome on the report.

Screenshots: ``test-results/journeys/safety-report-<locale>/``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from journey_kit import Journey, journey_fixtures

pytestmark = pytest.mark.e2e

OUTCOME = "电动车已挪走，通道畅通。"
WORDS = {
    "zh": {"promise": "只有派去处理您报告的治安人员", "received": "已收到",
           "sent": "已派治安人员处理", "closed": "已办结", "officer": "周保安",
           "error": "请填写处理结果", "outcome": f"处理结果：{OUTCOME}"},
    "en": {"promise": "Only the officer sent to deal with your report", "received": "received",
           "sent": "an officer is dealing with it", "closed": "is resolved",
           "officer": "周保安", "error": "Write the outcome",
           "outcome": f"The officer's outcome: {OUTCOME}"},
}


locale, app, journey, _catalogues = journey_fixtures("safety-report")


def _step(page: Any, action: str, *, note: str = "", assignee: str = "") -> None:
    page.locator("#action").select_option(action)
    if assignee:
        page.locator("select[name=assignee_id]").select_option(label=assignee)
    if note:
        page.locator("input[name=note]").fill(note)
    page.locator("form[action$='/action'] button[type=submit]").click()
    page.wait_for_load_state("load")


def test_safety_report_to_outcome(journey: Journey, locale: str) -> None:
    w = WORDS[locale]
    # 1. the resident reports a concern; the form says who will see their name and phone
    resident = journey.sign_in("resident")
    resident.goto("/surveillance/report")
    assert w["promise"] in resident.locator("main").inner_text()
    resident.locator("main form button[type=submit]").click()
    resident.locator(".error-summary").wait_for()
    journey.shot(resident, "report-errors")
    resident.locator("select[name=kind]").select_option("fire_lane_blocked")
    resident.locator("textarea[name=description]").fill("5号楼消防通道被电动车堵住了。")
    resident.locator("input[name=location]").fill("5号楼东侧")
    journey.shot(resident, "report")
    resident.locator("main form button[type=submit]").click()
    resident.wait_for_url(re.compile(r"/surveillance/my-reports/\d+$"))
    iid = int(resident.url.rsplit("/", 1)[1])
    journey.shot(resident, "reported")
    journey.expect_notification(resident, w["received"])

    # 2. the officer acknowledges it, sends themself, calls back, and closes it
    officer = journey.sign_in("security_officer")
    officer.goto("/surveillance/desk")
    journey.shot(officer, "desk")
    officer.locator("main a[href$='/surveillance/incidents']").first.click()
    officer.wait_for_url(re.compile(r"/surveillance/incidents$"))
    officer.locator("main").get_by_role("link", name=re.compile(rf"^#{iid}\b")).click()
    officer.wait_for_url(re.compile(rf"/surveillance/incidents/{iid}$"))
    assert "13" not in officer.locator("#reporter").inner_text()  # masked, no phone yet
    _step(officer, "acknowledge")
    _step(officer, "dispatch", assignee=w["officer"])
    reporter = officer.locator("#reporter")
    assert "*" not in reporter.inner_text() and officer.locator("#reporter-phone").count() == 1
    assert officer.locator("#reporter-phone").get_attribute("href").startswith("tel:")
    journey.shot(officer, "sent-sees-reporter")
    _step(officer, "resolve")  # no outcome note: refused
    assert w["error"] in officer.locator("main").inner_text()
    journey.shot(officer, "outcome-required")
    _step(officer, "resolve", note=OUTCOME)
    assert officer.locator("#incident-status").inner_text() in ("已办结", "Resolved")
    journey.shot(officer, "resolved")

    # 3. the resident is told, and reads the outcome on the report
    journey.expect_notification(resident, w["sent"])
    done = journey.expect_notification(resident, w["closed"])
    assert w["outcome"] in done.inner_text()
    journey.shot(resident, "notified")
    done.get_by_role("link").first.click()
    resident.wait_for_url(re.compile(rf"/surveillance/my-reports/{iid}$"))
    assert resident.locator("#report-outcome").inner_text() == OUTCOME
    journey.shot(resident, "outcome")
