"""Public services in headless Chromium (360 px phone), in Chinese: a resident of 81 finds
the longevity allowance, sees their details filled in from the registry and applies; the
community worker accepts it and passes the community check; the reviewer (street review
and approval) approves it; the resident sees it approved, rates it 5 of 5, and the worker
finds them in the elderly-allowance database. Every page is checked for accessibility and
sideways scrolling and photographed into ``test-results/gov_services/``."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from a11y import assert_accessible, horizontal_overflow

from core.testing import TEST_PASSWORD, app_today, ensure_user
from core.web.i18n import compile_catalogues

pytestmark = [pytest.mark.e2e, pytest.mark.with_plugins("gov_services")]

SHOTS = Path(
    os.environ.get("SHEQU_SCREENSHOTS")
    or Path(__file__).resolve().parents[2] / "test-results" / "gov_services"
)


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    compile_catalogues()


def check_page(page: Any, name: str) -> None:
    page.wait_for_load_state("load")  # the stylesheet, before sizes are measured
    assert horizontal_overflow(page) == 0, f"{page.url} scrolls sideways"
    assert_accessible(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def page(browser_page: Any) -> Any:
    errors: list[str] = []
    browser_page.on(
        "console",
        lambda m: (
            m.type == "error"
            and not m.text.startswith("Failed to load resource")
            and errors.append(m.text)
        ),
    )
    browser_page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield browser_page
    assert not errors, f"console errors (a CSP violation?): {errors}"


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    from core.identity.models import User, UserScope
    from core.identity.services import bind_person
    from core.registry import services as rs
    from core.registry.testing import C1, ensure_registry, make_id, make_places

    kernel = ensure_registry(app)
    birth = app_today().replace(year=app_today().year - 81) - timedelta(days=30)
    resident = ensure_user(app, "resident")
    worker = ensure_user(app, "community_worker")
    reviewer = ensure_user(app, "admin")
    with kernel.db.session_scope() as db:
        places = make_places(db)
        person = rs.register_person(
            db,
            {"name": "李福海", "id_number": make_id(birth, "M", seq=71), "hukou_type": "local"},
            bus=kernel.bus,
            dwelling_id=places.d1.id,
        )
        bind_person(db, db.get(User, resident.id), person.id, method="in_person", by=None)
        w, r = db.get(User, worker.id), db.get(User, reviewer.id)
        w.scopes.append(UserScope(kind="community", code=C1))
        r.scopes.append(UserScope(kind="all", code=""))
    return {"resident": resident, "worker": worker, "reviewer": reviewer}


def sign_in(page: Any, username: str) -> None:
    page.goto("/account/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.locator("main").get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/$"))


def sign_out(page: Any) -> None:
    if not page.get_by_role("button", name="退出登录").is_visible():
        page.locator("#site-menu > summary").click()  # on a phone it is in the menu
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(re.compile(r"/$"))


def step(page: Any, action: str) -> None:
    page.locator("main").get_by_role("button", name=action, exact=True).click()
    page.locator(".flash-success").wait_for()


def test_resident_applies_worker_accepts_reviewer_approves_resident_rates(page, world):
    # 1. the resident finds the service and applies; the registry fills in their details
    sign_in(page, world["resident"].username)
    page.goto("/gov-services/")
    check_page(page, "hall-zh-360")
    page.get_by_label("查找服务事项").fill("高龄")
    page.locator("main").get_by_role("button", name="查询").click()
    page.locator("main").get_by_role("link", name="高龄津贴").click()
    assert page.locator("h1").inner_text() == "高龄津贴"
    assert "年满 80 周岁" in page.locator("main").inner_text()
    check_page(page, "service-zh-360")
    page.locator("main").get_by_role("link", name="立即申请").click()
    main = page.locator("main")
    assert "李福海" in main.inner_text() and "81" in main.inner_text()
    assert "*" in page.locator("dl.summary-list code").first.inner_text()  # ID masked
    check_page(page, "apply-zh-360")
    page.get_by_label("本人银行卡号").fill("6222020200001234567")
    page.get_by_label("开户银行").fill("工商银行")
    main.get_by_role("button", name="继续").click()  # check your answers first
    assert "工商银行" in page.locator("#check-answers").inner_text()
    main.get_by_role("button", name="提交申请").click()
    page.wait_for_url(re.compile(r"/receipt$"))
    assert page.locator("#receipt-reference").inner_text().startswith("GS")
    main.get_by_role("link", name="查看您的申请").click()
    assert page.locator("h1 .tag").inner_text() == "已申请"
    check_page(page, "submitted-zh-360")
    detail = page.url
    sign_out(page)

    # 2. the community worker accepts it and passes the community check
    sign_in(page, world["worker"].username)
    page.goto("/gov-services/queue")
    check_page(page, "queue-zh-360")
    page.locator("main").get_by_role("link", name=re.compile("高龄津贴")).first.click()
    assert page.url == detail
    step(page, "受理")
    assert page.locator("h1 .tag").inner_text() == "社区初审"
    step(page, "通过，转下一环节")
    assert page.locator("h1 .tag").inner_text() == "街道审核"
    assert page.locator("main").get_by_role("button", name="通过，转下一环节").count() == 0
    check_page(page, "community-checked-zh-360")
    sign_out(page)

    # 3. the reviewer: street review, then approval
    sign_in(page, world["reviewer"].username)
    page.goto(detail)
    step(page, "通过，转下一环节")
    assert page.locator("h1 .tag").inner_text() == "审批"
    page.get_by_label(re.compile("^意见")).fill("符合条件，同意发放")
    step(page, "通过，转下一环节")
    assert page.locator("h1 .tag").inner_text() == "已批准"
    sign_out(page)

    # 4. the resident sees it approved, with the timeline, and rates it
    sign_in(page, world["resident"].username)
    page.goto("/gov-services/applications")
    item = page.locator("main .item").first
    assert "已批准" in item.inner_text()
    check_page(page, "mine-zh-360")
    item.get_by_role("link", name="高龄津贴").click()
    assert "符合条件，同意发放" in page.locator("ol.timeline").inner_text()
    page.get_by_label("您的评价").select_option("5")
    page.locator("main").get_by_role("button", name="提交评价").click()
    page.locator(".flash-success").wait_for()
    assert "5 分" in page.locator("main").inner_text()
    check_page(page, "rated-zh-360")
    sign_out(page)

    # 5. the worker finds the resident in the elderly-allowance database
    sign_in(page, world["worker"].username)
    page.goto("/gov-services/thematic")
    assert page.locator('[data-db="elderly_allowance"]').inner_text() == "1"
    page.locator("main").get_by_role("link", name="高龄津贴领取人员库").click()
    assert "李福海" in page.locator("#members").inner_text()
    check_page(page, "database-zh-360")
    page.goto("/gov-services/statistics")
    assert page.locator("svg.chart").count() == 2
    check_page(page, "statistics-zh-360")
