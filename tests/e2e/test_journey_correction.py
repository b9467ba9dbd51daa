"""Journey "correction request" with the demo as shipped, on a 360 px phone, in Chinese and
in English: the resident (张大爷) finds a wrong value on their record and asks for a
correction with a reason; the community worker (王社工) finds it through the staff menu,
reads it and decides (approves in Chinese, refuses with a reason in English); the resident
is told the outcome in their language, opens the notification, which is then read, and
sees the answer on their record page.

Screenshots: ``test-results/journeys/correction-<locale>/``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from journey_kit import Journey, journey_fixtures

pytestmark = pytest.mark.e2e

NEW_PHONE = "13911112222"
REASON = "我换了手机号，新号码在营业厅登记过。"
REFUSAL = "Please bring the phone contract to the office first."
WORDS = {
    "zh": {"ask": "申请更正", "menu": "菜单", "queue": "信息更正", "sent": "申请已提交",
           "error": "请说明登记信息哪里有误", "decision": "批准", "decide": "提交审核结果",
           "told": "已通知居民", "title": "您的信息更正申请已批准",
           "body": "您在社区登记信息中的电话号码已更正", "outcome": "已批准：登记信息已更正。",
           "record": "我的登记信息"},
    "en": {"ask": "Ask for a correction", "menu": "Menu", "queue": "Corrections",
           "sent": "Request sent", "error": "Say why the register is wrong",
           "decision": "Refuse", "decide": "Send the decision",
           "told": "The resident has been told", "title": "Your correction was refused",
           "body": f"Your request to correct your phone number was refused: {REFUSAL}",
           "outcome": f"Refused: {REFUSAL}", "record": "My record"},
}


locale, app, journey, _catalogues = journey_fixtures("correction")


def _menu_link(page: Any, words: dict[str, str], name: str) -> None:
    """Follow a link of the header menu, opened from its button as on a phone."""
    button = page.locator("#site-menu > summary")
    assert words["menu"] in button.inner_text()
    button.click()
    page.locator("#site-menu").get_by_role("link", name=name, exact=True).click()
    page.wait_for_load_state("load")


def test_correction_request_to_outcome(journey: Journey, locale: str) -> None:
    w = WORDS[locale]
    # 1. the resident opens their record from the menu and asks for a correction
    resident = journey.sign_in("resident")
    _menu_link(resident, w, w["record"])
    assert re.search(r"/registry/me$", resident.url)
    journey.shot(resident, "record")
    resident.locator("main").get_by_role("link", name=w["ask"]).click()
    resident.wait_for_load_state("load")
    resident.locator("#field-phone").check()
    resident.locator("input[name=value]").fill(NEW_PHONE)
    resident.locator("main form button[type=submit]").click()  # no reason: an error
    resident.locator(".error-summary").wait_for()
    assert w["error"] in resident.locator(".error-summary").inner_text()
    assert resident.locator("input[name=value]").input_value() == NEW_PHONE  # input kept
    journey.shot(resident, "ask-error")
    resident.locator("textarea[name=reason]").fill(REASON)
    journey.shot(resident, "ask")
    resident.locator("main form button[type=submit]").click()
    resident.wait_for_load_state("load")
    confirm = resident.locator(".panel-confirm")
    assert w["sent"] in confirm.inner_text()
    number = confirm.locator(".reference-number").inner_text().strip()
    assert number.isdigit()
    journey.shot(resident, "sent")

    # 2. the community worker finds it through the staff menu and decides
    worker = journey.sign_in("community_worker")
    _menu_link(worker, w, w["queue"])
    assert "/registry/corrections" in worker.url
    journey.shot(worker, "queue")
    worker.locator("main .item-list a").filter(has_text=re.compile(rf"\b{number}\b")).click()
    worker.wait_for_load_state("load")
    main = worker.locator("main").inner_text()
    assert NEW_PHONE in main and REASON in main
    worker.get_by_label(w["decision"], exact=False).first.check()
    if locale == "en":
        worker.locator("textarea[name=reason]").fill(REFUSAL)
    journey.shot(worker, "decide")
    worker.locator("main form").get_by_role("button", name=w["decide"]).click()
    worker.wait_for_load_state("load")
    assert w["told"] in worker.locator(".flashes").inner_text()
    journey.shot(worker, "decided")

    # 3. the resident is told the outcome in their language and sees it on their record
    note = journey.expect_notification(resident, w["title"])
    assert w["body"] in note.inner_text()
    journey.shot(resident, "notification")
    note.get_by_role("link").first.click()
    resident.wait_for_load_state("load")
    assert re.search(r"/registry/me$", resident.url)
    requests = resident.locator("main .item-list").inner_text()
    assert w["outcome"] in requests
    if locale == "zh":  # approved: the register has the new number (masked until shown)
        assert "139****2222" in resident.locator("main .summary-list").first.inner_text()
    journey.shot(resident, "outcome")
    # the notification is read now that its page has been opened
    resident.goto("/account/notifications")
    item = resident.locator("main li, main article").filter(has_text=w["title"]).first
    assert "item-unread" not in (item.get_attribute("class") or "")
    journey.shot(resident, "notifications-read")
