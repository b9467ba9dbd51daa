"""Finding a public service on a 360 × 780 phone, with the demo as shipped (issue 16,
item 5): the hall grouped by life event with department one tab away, search by synonym
and pinyin with a plain GET form, a service page that says where to go and gives the phone
as a ``tel:`` link, and — for the demo resident 张大爷, 72 — "not eligible" for the
longevity allowance (80+) first, with the senior card offered instead. In Chinese, and
once in English. Screenshots: ``test-results/journeys/gov-findability-{zh,en}/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from journey_kit import PHONE, Journey, build_demo_app
from playwright.sync_api import expect

from core.web.i18n import compile_catalogues

pytestmark = pytest.mark.e2e
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    compile_catalogues()


@pytest.fixture
def app(make_app: Any) -> Any:
    return build_demo_app(make_app)


def _journey(chromium: Any, live_server: Any, locale: str) -> Journey:
    return Journey(chromium, live_server.url, "gov-findability", locale=locale)


@pytest.fixture
def journey(chromium: Any, live_server: Any) -> Iterator[Journey]:
    j = _journey(chromium, live_server, "zh")
    yield j
    j.close()


def _anonymous(journey: Journey) -> Any:
    ctx = journey.chromium.new_context(viewport=PHONE, base_url=journey.base_url)
    ctx.add_cookies([{"name": "shequ_lang", "value": journey.locale, "url": journey.base_url}])
    journey.contexts.append(ctx)
    page = ctx.new_page()
    page.on("pageerror", lambda exc: journey.errors.append(str(exc)))
    return page


def _search(page: Any, label: str, button: str, words: str) -> None:
    page.get_by_label(label).fill(words)
    page.locator("main").get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state("load")


def test_find_a_service_by_life_event_synonym_and_pinyin_zh(journey: Journey) -> None:
    page = _anonymous(journey)
    page.goto("/gov-services/")
    tabs = page.locator("nav.tabs")
    assert tabs.get_by_role("link", name="按主题").get_attribute("aria-current") == "page"
    assert page.locator("#event-elderly").inner_text() == "养老"
    journey.shot(page, "hall-by-life-event")
    tabs.get_by_role("link", name="按部门").click()
    page.wait_for_url(re.compile(r"by=department"))
    assert page.locator("#dept-civil").inner_text() == "民政科"
    journey.shot(page, "hall-by-department")

    _search(page, "查找服务事项", "查询", "老人")
    results = page.locator("main .item-list")
    assert results.get_by_role("link", name="高龄津贴").is_visible()
    assert results.get_by_role("link", name="居家养老补贴/助餐").is_visible()
    journey.shot(page, "search-laoren")
    _search(page, "查找服务事项", "查询", "gaoling")
    assert "q=gaoling" in page.url  # a plain GET form
    first = page.locator("main .item-list h3 a").first
    assert first.inner_text() == "高龄津贴"
    first.click()

    main = page.locator("main")
    assert page.locator("h1").inner_text() == "高龄津贴"
    assert "专题库" not in main.inner_text() and "高龄津贴领取人员库" not in main.inner_text()
    office = page.locator("#office")
    assert "和平路18号一层" in office.inner_text() and "周一至周五" in office.inner_text()
    assert office.get_by_role("link", name="010-64012345").get_attribute("href") == \
        "tel:01064012345"
    journey.shot(page, "service-plain")

    # the demo resident, 72: not eligible for the longevity allowance — said first
    resident = journey.sign_in("resident")
    resident.goto("/gov-services/services/longevity_allowance")
    warning = resident.locator("#not-eligible")
    assert warning.is_visible()
    assert warning.bounding_box()["y"] < resident.locator("#summary").bounding_box()["y"]
    assert warning.bounding_box()["y"] < PHONE["height"], "below the fold"
    assert "需年满 80 周岁" in warning.inner_text()
    journey.shot(resident, "not-eligible-first")
    resident.locator("#alternatives").get_by_role("link", name="老年人优待证").click()
    expect(resident.locator("#eligible")).to_be_visible()  # waits for the page to load
    assert resident.locator("main").get_by_role("link", name="立即申请").is_visible()
    journey.shot(resident, "alternative-eligible")


def test_find_a_service_in_english(chromium: Any, live_server: Any) -> None:
    journey = _journey(chromium, live_server, "en")
    try:
        page = _anonymous(journey)
        page.goto("/gov-services/")
        assert page.locator("#event-elderly").inner_text() == "Old age"
        _search(page, "Find a service", "Search", "elderly")
        assert page.locator("main .item-list").get_by_role(
            "link", name="Longevity allowance").is_visible()
        assert not HAN.findall(page.locator("main").inner_text())
        journey.shot(page, "search-elderly")
        _search(page, "Find a service", "Search", "gljt")
        page.locator("main .item-list h3 a").first.click()
        text = page.locator("main").inner_text()
        assert "Ground floor, 18 Heping Road" in text and not HAN.findall(text)
        journey.shot(page, "service-plain")
        resident = journey.sign_in("resident")
        resident.goto("/gov-services/services/longevity_allowance")
        warning = resident.locator("#not-eligible")
        assert "You cannot apply for this service" in warning.inner_text()
        assert "Senior privilege card" in resident.locator("#alternatives").inner_text()
        assert not HAN.findall(resident.locator("main").inner_text())
        journey.shot(resident, "not-eligible-first")
    finally:
        journey.close()
