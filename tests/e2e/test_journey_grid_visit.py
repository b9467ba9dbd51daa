"""Journey "grid-visit" with the demo as shipped plus the grid plugin, on a 360 px phone,
in Chinese: the supervisor (street officer 吴科长) reads the coverage chart; the grid
worker (the demo ``worker`` account, 王社工, scoped to the demo community) signs in, sees
the households due a visit (masked names, addresses to the building, overdue first),
records one visit to a family that moved in, meeting two of its members, whose finding is
referred as a government matter in the same step; corrects the visit with a reason (the
earlier version shown on the record); the supervisor's coverage shows the household's
members visited on time.

Screenshots: ``test-results/journeys/grid-visit-zh/``."""

from __future__ import annotations

import re

import pytest
from journey_kit import Journey, journey_fixtures

pytestmark = pytest.mark.e2e

locale, app, journey, _catalogues = journey_fixtures(
    "grid-visit", locales=("zh",), extra_plugins=("grid",))


def on_time(page) -> int:
    cells = page.locator("#coverage-table tbody tr td:nth-child(3)").all_inner_texts()
    return sum(int(c) for c in cells)


MASKED = r"[\u4e00-\u9fff]\*+"


def test_grid_worker_visits_a_household_and_coverage_changes(journey: Journey) -> None:
    # 0. the supervisor's coverage before
    street = journey.sign_in("street_officer")
    street.goto("/grid/coverage")
    assert street.locator("svg.chart").count() == 2
    before = on_time(street)
    journey.shot(street, "coverage-before")

    # 1. the grid worker's task list by household: masked, the most overdue first
    worker = journey.sign_in("community_worker")
    worker.goto("/grid/")
    tasks = worker.locator("main li.task")
    assert tasks.count() > 0
    assert "已超期" in tasks.first.inner_text()  # the platform's one word for overdue
    assert re.search(MASKED, tasks.first.inner_text())
    assert re.search(r"\d+栋\*+", tasks.first.inner_text())  # the address to the building
    family = worker.locator("main li.task.household").filter(
        has=worker.locator("ul.members li:nth-child(2)")).first
    due = family.locator("ul.members li").count()
    assert due >= 2 and "已超期" in family.inner_text()
    journey.shot(worker, "households-due")

    # 2. one visit for the household, two members met, the finding referred in one step
    family.get_by_role("link", name="登记入户走访").click()
    worker.wait_for_load_state("load")
    assert re.search(r"/grid/persons/\d+$", worker.url)
    boxes = worker.locator("#met_ids input[type=checkbox]")
    assert boxes.count() >= 2
    journey.shot(worker, "household-visit-form")
    boxes.nth(0).check()
    boxes.nth(1).check()
    worker.get_by_label("发现的情况").fill("楼道声控灯坏了，老人夜里下楼不便")
    worker.get_by_label("需求").fill("尽快修灯")
    worker.get_by_label("转办去向").select_option(label="政务事项")
    worker.get_by_label("类别").select_option(label="安全隐患")
    worker.locator("main").get_by_role("button", name="保存走访").click()
    worker.wait_for_load_state("load")
    assert re.search(r"/grid/visits/\d+$", worker.url)
    assert "走访已登记" in worker.locator(".flash").inner_text()
    assert len(re.findall(MASKED, worker.locator("#visit-met").inner_text())) == 2
    found = worker.locator("main li.finding")
    assert found.count() == 1 and "政务事项" in found.inner_text()
    journey.shot(worker, "visit-referred")

    # 3. the worker corrects the visit with a reason; the earlier version stays shown
    worker.locator("main").get_by_role("link", name="更正这条记录").click()
    worker.wait_for_load_state("load")
    assert re.search(r"/grid/visits/\d+/correct$", worker.url)
    worker.get_by_label("需求").fill("尽快修灯，已联系物业")
    worker.get_by_label("更正原因").fill("补充：已联系物业")
    journey.shot(worker, "visit-correct-form")
    worker.locator("main").get_by_role("button", name="保存更正").click()
    worker.wait_for_load_state("load")
    assert re.search(r"/grid/visits/\d+$", worker.url)
    correction = worker.locator("main li.correction")
    assert correction.count() == 1
    assert "尽快修灯" in correction.locator("del").inner_text()
    assert "已联系物业" in correction.locator("ins").inner_text()
    journey.shot(worker, "visit-corrected")

    # 4. the supervisor's chart changes: the household's due members visited on time
    street.goto("/grid/coverage")
    assert on_time(street) == before + due
    journey.shot(street, "coverage-after")
