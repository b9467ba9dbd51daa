"""Journey "grid-visit" with the demo as shipped plus the grid plugin, on a 360 px phone,
in Chinese: the supervisor (street officer 吴科长) reads the coverage chart; the grid
worker (the demo ``worker`` account, 王社工, scoped to the demo community) signs in, sees
the households due a visit (masked names, overdue first), records a visit whose finding
is referred as a government matter in the same step; the supervisor's coverage shows one
more person visited on time.

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


def test_grid_worker_visits_and_coverage_changes(journey: Journey) -> None:
    # 0. the supervisor's coverage before
    street = journey.sign_in("street_officer")
    street.goto("/grid/coverage")
    assert street.locator("svg.chart").count() == 2
    before = on_time(street)
    journey.shot(street, "coverage-before")

    # 1. the grid worker's task list: masked names, overdue first
    worker = journey.sign_in("community_worker")
    worker.goto("/grid/")
    tasks = worker.locator("main li.task")
    assert tasks.count() > 0
    assert "已超期" in tasks.first.inner_text()  # the platform's one word for overdue
    assert re.search(r"[\u4e00-\u9fff]\*+", tasks.first.locator("h2").inner_text())
    journey.shot(worker, "tasks")

    # 2. record a visit and refer its finding as a government matter, one step
    tasks.first.get_by_role("link", name="登记走访").click()
    worker.wait_for_load_state("load")
    assert re.search(r"/grid/persons/\d+$", worker.url)
    journey.shot(worker, "visit-form")
    worker.get_by_label("本人").check()
    worker.get_by_label("发现的情况").fill("楼道声控灯坏了，老人夜里下楼不便")
    worker.get_by_label("需求").fill("尽快修灯")
    worker.get_by_label("转办去向").select_option(label="政务事项")
    worker.get_by_label("类别").select_option(label="安全隐患")
    worker.locator("main").get_by_role("button", name="保存走访").click()
    worker.wait_for_load_state("load")
    assert re.search(r"/grid/visits/\d+$", worker.url)
    assert "走访已登记" in worker.locator(".flash").inner_text()
    found = worker.locator("main li.finding")
    assert found.count() == 1 and "政务事项" in found.inner_text()
    journey.shot(worker, "visit-referred")

    # 3. the supervisor's chart changes: one more person visited on time
    street.goto("/grid/coverage")
    assert on_time(street) == before + 1
    journey.shot(street, "coverage-after")
