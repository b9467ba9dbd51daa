"""Journey "home service to rating" with the demo as shipped, on a 360 px phone, in
Chinese and in English: the resident asks for a repair; the demo merchant (和平里便民维修,
the merchant account's shop, to which the dispatch rule offers it) accepts and reports
it done; the resident is told at each step — sent, accepted, done with the invitation to
rate — opens the notification and rates the service.

Screenshots: ``test-results/journeys/home-service-<locale>/``."""

from __future__ import annotations

import re

import pytest
from journey_kit import Journey, journey_fixtures

pytestmark = pytest.mark.e2e

WORDS = {
    "zh": {"sent": "已派给和平里便民维修", "accepted": "和平里便民维修已接单",
           "done": "已完工，请评价服务", "offered": "等待商户接单", "rated": "已回访",
           "thanks": "谢谢您的评分"},
    "en": {"sent": "sent to 和平里便民维修", "accepted": "和平里便民维修 accepted your request",
           "done": "is done: please rate the service", "offered": "waiting for them to accept",
           "rated": "Rated", "thanks": "Thank you for your rating"},
}


locale, app, journey, _catalogues = journey_fixtures("home-service")


def test_home_service_to_rating(journey: Journey, locale: str) -> None:
    w = WORDS[locale]
    # 1. the resident asks for a repair
    resident = journey.sign_in("resident")
    resident.goto("/commerce/my/new")
    journey.shot(resident, "ask")
    resident.locator("select[name=category]").select_option("repairs")
    resident.locator("textarea[name=description]").fill("卫生间水龙头一直滴水。")
    resident.locator("main form button[type=submit]").click()
    resident.wait_for_url(re.compile(r"/commerce/my/\d+$"))
    tid = int(resident.url.rsplit("/", 1)[1])
    merchant_dd = resident.locator("main dl div").filter(
        has=resident.locator("dt", has_text=re.compile("商户|Merchant")))
    assert w["offered"] in merchant_dd.inner_text()  # not "not assigned yet"
    journey.shot(resident, "sent")
    journey.expect_notification(resident, w["sent"])
    journey.shot(resident, "notified-sent")

    # 2. the merchant accepts it and reports the work done
    merchant = journey.sign_in("merchant")
    merchant.goto("/commerce/portal")
    journey.shot(merchant, "portal")
    merchant.locator("main").get_by_role("link", name=re.compile(rf"(工单|Ticket) {tid}\b")).click()
    merchant.wait_for_url(re.compile(rf"/commerce/portal/tickets/{tid}$"))
    merchant.locator("#accept").click()
    merchant.locator("#complete").wait_for()
    journey.shot(merchant, "accepted")
    merchant.locator("input[name=final_price]").fill("80")
    merchant.locator("#complete").click()
    merchant.wait_for_load_state("load")
    journey.shot(merchant, "completed")

    # 3. the resident is told, opens the notification and rates the service
    journey.expect_notification(resident, w["accepted"])
    done = journey.expect_notification(resident, w["done"])
    journey.shot(resident, "notified-done")
    done.get_by_role("link").first.click()
    resident.wait_for_url(re.compile(rf"/commerce/my/{tid}$"))
    journey.shot(resident, "rate")
    resident.locator("input[name=rating][value='5']").check()
    resident.locator("textarea[name=comment]").fill("师傅很准时。")
    resident.locator("main form[action$='/rate'] button[type=submit]").click()
    resident.wait_for_url(re.compile(rf"/commerce/my/{tid}$"))
    assert w["thanks"] in resident.locator("body").inner_text()
    assert "(resident)" not in resident.locator("main").inner_text()
    assert w["rated"] in resident.locator("main h1").inner_text()
    journey.shot(resident, "rated")
