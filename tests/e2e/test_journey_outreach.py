"""Journey "proactive offers reach people" with the demo as shipped plus the daily offers
job, on a 360 px phone, in Chinese.

The daily job runs over the demo registry (the catalogue's rules as data). The community
worker opens the outreach list of her community (masked names, no account), opens one
person, records a home visit (reached, a note, a follow-up date) and is back on the list.
The resident (张大爷, 72, with an account) is told by notification that he may apply for
the senior privilege card, opens "My offers" and says he is not interested.

Screenshots: ``test-results/journeys/outreach-zh/``."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from journey_kit import Journey, journey_fixtures

pytestmark = pytest.mark.e2e

locale, app, journey, _catalogues = journey_fixtures("outreach", locales=("zh",))


def test_worker_records_a_visit_and_resident_sees_the_offer(app: Any, journey: Journey) -> None:
    from plugins.gov_services.jobs import proactive

    made = int(proactive(app).rsplit(":", 1)[1])
    assert made > 0

    # 1. the community worker's outreach list: masked names, those to contact first
    worker = journey.sign_in("community_worker")
    worker.goto("/gov-services/outreach/")
    items = worker.locator("#outreach-items li")
    assert items.count() > 0
    first = items.first.locator("a").inner_text()
    assert re.search(r"\*", first), first  # a masked name (李**)
    journey.shot(worker, "outreach-list")
    items.first.locator("a").click()
    worker.wait_for_url(re.compile(r"/gov-services/outreach/\d+$"))
    item_url = worker.url
    assert "说明用途后查看" in worker.locator("main").inner_text()  # the phone: reveal path
    journey.shot(worker, "outreach-item")

    # 2. a home visit: reached, with a note and a follow-up date
    worker.locator("select[name=method]").select_option("visit")
    worker.locator("select[name=outcome]").select_option("reached")
    worker.locator("textarea[name=note]").fill("已上门告知，老人表示下周带材料来办")
    worker.locator("input[name=follow_up_on]").fill((date.today() + timedelta(days=7)).isoformat())
    worker.locator("#outcome-form button[type=submit]").click()
    worker.wait_for_url(re.compile(r"/gov-services/outreach/$"))
    assert "联系结果已记录" in worker.locator("body").inner_text()
    journey.shot(worker, "outcome-recorded")
    worker.goto(item_url)
    assert "已联系到" in worker.locator("#outreach-state").inner_text()
    assert "上门走访" in worker.locator("main").inner_text()
    journey.shot(worker, "item-with-visit")

    # 3. the resident with an account is told, in his language, and may decline
    resident = journey.sign_in("resident")
    note = journey.expect_notification(resident, "您可以申请：老年人优待证")
    assert note is not None
    journey.shot(resident, "offer-notification")
    resident.goto("/gov-services/offers")
    offer = resident.locator("#my-offers li").filter(has_text="老年人优待证")
    assert offer.count() == 1 and offer.get_by_role("link", name="立即申请").count() == 1
    journey.shot(resident, "my-offers")
    offer.get_by_role("button", name="暂不需要").click()
    resident.wait_for_load_state("load")
    assert "近期不再向您推荐" in resident.locator("body").inner_text()
    offer = resident.locator("#my-offers li").filter(has_text="老年人优待证")
    assert "已谢绝" in offer.inner_text()
    journey.shot(resident, "offer-declined")
