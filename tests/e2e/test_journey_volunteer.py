"""Journey "volunteer" with the demo as shipped plus the volunteers plugin, on a 360 px
phone, in Chinese: the resident (张大爷) finds the activity starting in two hours and signs
up; the community worker (王社工) opens its roster (masked names) and checks him in; the
resident is told the hours were credited and sees them on their record and its printable
summary; the worker reads the yearly summary with its chart.

Screenshots: ``test-results/journeys/volunteer-zh/``."""

from __future__ import annotations

import re

import pytest
from journey_kit import Journey, journey_fixtures

pytestmark = pytest.mark.e2e

TITLE = "敬老院陪伴老人"

locale, app, journey, _catalogues = journey_fixtures(
    "volunteer", locales=("zh",), extra_plugins=("volunteers",))


def test_volunteer_signs_up_attends_and_sees_the_hours(journey: Journey) -> None:
    # 1. the resident opens volunteering and signs up for the activity
    resident = journey.sign_in("resident")
    resident.goto("/volunteers/")
    journey.shot(resident, "activities")
    resident.locator("main").get_by_role("link", name=TITLE).click()
    resident.wait_for_load_state("load")
    assert re.search(r"/volunteers/activities/\d+$", resident.url)
    activity_url = resident.url
    journey.shot(resident, "activity")
    resident.locator("main").get_by_role("button", name="报名").click()
    resident.wait_for_load_state("load")
    assert "报名成功" in resident.locator(".flash").inner_text()
    assert "已报名" in resident.locator("#my-state").inner_text()
    journey.shot(resident, "signed-up")

    # 2. the worker opens the roster and checks him in
    worker = journey.sign_in("community_worker")
    worker.goto(activity_url)
    worker.locator("main").get_by_role("link", name="名单与签到").click()
    worker.wait_for_load_state("load")
    roster = worker.locator("main")
    assert "张大爷" not in roster.inner_text()  # masked: 张**
    row = worker.locator("main li.item").filter(has_text="张*").filter(has_text="已报名").first
    journey.shot(worker, "roster")
    row.get_by_role("button", name="已到").click()
    worker.wait_for_load_state("load")
    assert "已签到" in worker.locator(".flash").inner_text()
    journey.shot(worker, "checked-in")

    # 3. the resident is told, and sees the hours on the record and its printable summary
    note = journey.expect_notification(resident, "已记入志愿服务时长2小时")
    assert TITLE in note.inner_text()
    journey.shot(resident, "notification")
    resident.goto("/volunteers/mine")
    total = float(resident.locator("#total-hours").inner_text())
    assert total >= 2
    assert TITLE in resident.locator("main").inner_text()
    journey.shot(resident, "record")
    resident.locator("main").get_by_role("link", name="打印全部年份的服务证明").click()
    resident.wait_for_load_state("load")
    assert float(resident.locator("#print-total").inner_text()) == total
    journey.shot(resident, "print")

    # 4. the worker reads the year's summary: chart and numbers
    worker.goto("/volunteers/summary")
    assert worker.locator("svg.chart").count() == 1
    assert float(worker.locator("#stat-hours").inner_text()) >= 2
    journey.shot(worker, "summary")
