"""Journey "public service to decision, with one round of 补正" with the demo as shipped,
on a 360 px phone, in Chinese and in English.

The resident (张大爷, 72) applies for the home-care and meal subsidy (居家养老补贴/助餐):
answers, the check-your-answers page, the receipt with the reference number. The
community worker asks for material once and completely (一次性告知), ticking the service's
own document and describing one more; the resident is told what is missing, opens the
notification (which marks it read), uploads a file into each item's own slot, sees each
ticked and resubmits with the one button. The worker accepts and passes the community
check; the street office (`street`, the street officer) passes the street review and
approves. The resident is told the outcome and reads it on the application.

Screenshots: ``test-results/journeys/public-service-<locale>/``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from journey_kit import Journey, journey_fixtures

pytestmark = pytest.mark.e2e

SERVICE = "home_care_subsidy"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200

WORDS = {
    "zh": {"service": "居家养老补贴/助餐", "level": "中度", "doc": "照护评估报告",
           "other": "收入证明", "received": "申请已收到", "material": "请补正材料",
           "approved": "已批准：居家养老补贴/助餐", "state_approved": "已批准",
           "uploaded": "已上传", "staff_hint": "勾选全部所缺材料"},
    "en": {"service": "Home-care and meal subsidy", "level": "Moderate",
           "doc": "Care assessment report", "other": "Proof of income",
           "received": "Application received", "material": "Material needed",
           "approved": "Approved: Home-care and meal subsidy", "state_approved": "Approved",
           "uploaded": "Uploaded", "staff_hint": "tick everything that is missing"},
}


locale, app, journey, _catalogues = journey_fixtures("public-service")


def act(page: Any, action: str) -> None:
    """Press a workflow button on the case page and wait for the page it leads back to."""
    page.locator(f"main button[name=action][value={action}]").click()
    page.wait_for_load_state("load")
    page.locator(".flash-success").wait_for()


def test_public_service_to_decision_with_one_round_of_material(journey: Journey,
                                                                locale: str) -> None:
    w = WORDS[locale]
    # 1. the resident applies: answers, check your answers, the receipt
    resident = journey.sign_in("resident")
    resident.goto(f"/gov-services/services/{SERVICE}/apply")
    journey.shot(resident, "apply")
    resident.locator("select[name=f_care_level]").select_option("2")
    resident.locator("input[name=f_monthly_income]").fill("1800")
    resident.locator("main form button[type=submit]").click()
    resident.locator("#check-answers").wait_for()
    answers = resident.locator("#check-answers").inner_text()
    assert w["level"] in answers and "1800" in answers  # the label, never the code "2"
    journey.shot(resident, "check-answers")
    resident.locator("#send-application").click()
    resident.wait_for_url(re.compile(r"/gov-services/applications/\d+/receipt$"))
    app_id = int(resident.url.rsplit("/", 2)[1])
    reference = resident.locator("#receipt-reference").inner_text().strip()
    assert reference.startswith("GS") and reference.endswith(f"{app_id:06d}")
    journey.shot(resident, "receipt")
    journey.expect_notification(resident, w["received"])
    case = f"/gov-services/applications/{app_id}"

    # 2. the community worker asks for material once, completely: two items
    worker = journey.sign_in("community_worker")
    worker.goto("/gov-services/queue")
    journey.shot(worker, "queue")
    worker.locator("main").get_by_role("link", name=re.compile(re.escape(reference))).click()
    worker.wait_for_url(re.compile(rf"{case}$"))
    assert w["staff_hint"] in worker.locator("#missing-fieldset").inner_text()
    worker.locator("#missing-assessment").check()
    worker.locator("textarea#missing").fill(w["other"])
    journey.shot(worker, "ask-for-material")
    act(worker, "request_material")
    items = worker.locator("#material-items li")
    assert items.count() == 2
    journey.shot(worker, "material-asked")

    # 3. the resident is told what is missing, opens it, uploads each item, resubmits
    note = journey.expect_notification(resident, w["material"])
    text = note.inner_text()
    assert w["doc"] in text and w["other"] in text, text  # the message lists every item
    journey.shot(resident, "notified-material")
    note.get_by_role("link").first.click()
    resident.wait_for_url(re.compile(rf"{case}$"))
    main = resident.locator("main")
    assert resident.locator("#staff-actions").count() == 0  # no staff instruction here
    assert w["staff_hint"] not in main.inner_text()
    slots = resident.locator("#material-items li")
    assert slots.count() == 2
    assert [slots.nth(i).get_attribute("data-done") for i in range(2)] == ["no", "no"]
    journey.shot(resident, "material-needed")
    for i, (key, name) in enumerate((("assessment", "assessment.png"),
                                     (f"other:{w['other']}", "income.png"))):
        slot = resident.locator(f'#material-items li[data-item="{key}"]')
        slot.locator("input[type=file]").set_input_files(
            {"name": name, "mimeType": "image/png", "buffer": PNG})
        slot.locator("button[type=submit]").click()
        resident.wait_for_load_state("load")
        slot = resident.locator(f'#material-items li[data-item="{key}"]')
        assert slot.get_attribute("data-done") == "yes", i
        assert w["uploaded"] in slot.inner_text() and name in slot.inner_text()
    assert resident.locator("#resubmit-warning").count() == 0  # every item has its file
    journey.shot(resident, "material-uploaded")
    assert resident.locator("main button[value=resubmit]").count() == 1  # one button
    act(resident, "resubmit")
    journey.shot(resident, "resubmitted")
    # the notification opened through its link is read now
    resident.goto("/account/notifications")
    opened = resident.locator("main li.item").filter(has_text=w["material"]).first
    assert "item-unread" not in (opened.get_attribute("class") or "")

    # 4. the worker sees each item ticked, accepts and passes the community check
    worker.goto(case)
    done = worker.locator("#material-items li[data-done=yes]")
    assert done.count() == 2
    journey.shot(worker, "material-received")
    act(worker, "accept")
    act(worker, "pass")
    journey.shot(worker, "community-checked")

    # 5. the street office reviews and approves
    street = journey.sign_in("street_officer")
    street.goto("/gov-services/queue")
    journey.shot(street, "street-queue")
    street.locator("main").get_by_role("link", name=re.compile(re.escape(reference))).click()
    street.wait_for_url(re.compile(rf"{case}$"))
    act(street, "pass")  # street review
    journey.shot(street, "street-reviewed")
    act(street, "pass")  # approval
    assert w["state_approved"] in street.locator("h1").inner_text()
    journey.shot(street, "approved")

    # 6. the resident is told the outcome, opens it and reads it on the application
    outcome = journey.expect_notification(resident, w["approved"])
    journey.shot(resident, "notified-outcome")
    outcome.get_by_role("link").first.click()
    resident.wait_for_url(re.compile(rf"{case}$"))
    assert w["state_approved"] in resident.locator("h1").inner_text()
    assert resident.locator("#staff-actions").count() == 0
    journey.shot(resident, "outcome")
    resident.goto("/account/notifications")
    read = resident.locator("main li.item").filter(has_text=w["approved"]).first
    assert "item-unread" not in (read.get_attribute("class") or "")
    journey.shot(resident, "notifications-read")
