"""Safety in headless Chromium (360 px phone), in Chinese: a resident reports a safety
concern, a security officer finds it on the desk, acknowledges and resolves it, and the
resident sees it resolved. Pages are checked for accessibility and sideways scrolling
and photographed into ``test-results/surveillance/``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from a11y import assert_accessible, horizontal_overflow

from core.testing import TEST_PASSWORD, ensure_user, open_menu
from core.web.i18n import compile_catalogues

pytestmark = pytest.mark.e2e

SHOTS = Path(
    os.environ.get("SHEQU_SCREENSHOTS")
    or Path(__file__).resolve().parents[2] / "test-results" / "surveillance"
)


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    compile_catalogues()


@pytest.fixture
def app(make_app):
    return make_app(plugins=["surveillance"])


@pytest.fixture
def page(browser_page: Any) -> Iterator[Any]:
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


def check_page(page: Any, name: str) -> None:
    assert horizontal_overflow(page) == 0, f"{page.url} scrolls sideways"
    assert_accessible(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, username: str) -> None:
    page.goto("/account/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.locator("main").get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/$"))


def sign_out(page: Any) -> None:
    open_menu(page).get_by_role("button", name="退出登录").click()
    page.wait_for_url(re.compile(r"/$"))


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    from core.identity.models import User, UserScope
    from core.registry.testing import C1, ensure_registry, make_places

    kernel = ensure_registry(app)
    officer = ensure_user(app, "security_officer")
    resident = ensure_user(app, "resident")
    with kernel.db.session_scope() as db:
        make_places(db)
        user = db.get(User, officer.id)
        user.scopes.append(UserScope(kind="community", code=C1))
    return {"officer": officer, "resident": resident}


def test_resident_reports_officer_resolves_resident_sees_it(page, world):
    # 1. the resident reports a concern
    sign_in(page, world["resident"].username)
    page.goto("/surveillance/")
    check_page(page, "index-zh-360")
    page.locator("main").get_by_role("link", name="报告安全隐患").click()
    page.wait_for_url(re.compile(r"/surveillance/report$"))
    page.locator("main").get_by_role("button", name="提交报告").click()
    page.locator(".error-summary").wait_for()
    check_page(page, "report-error-zh-360")
    page.get_by_label("是什么问题？").select_option("fire_lane_blocked")
    page.get_by_label("描述您看到的情况").fill("3号楼消防通道被电动车堵住了")
    page.get_by_label("社区").select_option(label="和平里社区")
    page.get_by_label("具体位置").fill("3号楼北侧")
    page.locator("main").get_by_role("button", name="提交报告").click()
    page.wait_for_url(re.compile(r"/surveillance/my-reports/\d+$"))
    report_url = page.url
    assert page.locator("#report-status").inner_text() == "已上报"
    check_page(page, "my-report-raised-zh-360")
    sign_out(page)

    # 2. the officer acknowledges and resolves it
    sign_in(page, world["officer"].username)
    open_menu(page).locator(".staff-nav").get_by_role("link", name="治安工作台").click()
    page.wait_for_url(re.compile(r"/surveillance/desk$"))
    check_page(page, "desk-zh-360")
    page.locator("main").get_by_role("link", name="起未结事件").click()
    page.locator("#incident-queue").get_by_role("link", name=re.compile("消防通道堵塞")).click()
    page.wait_for_url(re.compile(r"/surveillance/incidents/\d+$"))
    assert page.locator("#incident-status").inner_text() == "已上报"
    check_page(page, "incident-zh-360")
    page.locator("#action").select_option("acknowledge")
    page.locator("main").get_by_role("button", name="保存").click()
    page.locator(".flash-success").wait_for()
    assert page.locator("#incident-status").inner_text() == "已确认"
    page.locator("#action").select_option("resolve")
    page.get_by_label("备注").fill("已联系车主挪车")
    page.locator("main").get_by_role("button", name="保存").click()
    page.locator(".flash-success").wait_for()
    assert page.locator("#incident-status").inner_text() == "已办结"
    check_page(page, "incident-resolved-zh-360")
    sign_out(page)

    # 3. the resident sees it resolved
    sign_in(page, world["resident"].username)
    page.goto("/surveillance/my-reports")
    page.locator("main").get_by_role("link", name=re.compile("消防通道堵塞")).click()
    page.wait_for_url(report_url)
    assert page.locator("#report-status").inner_text() == "已办结"
    assert "已办结" in page.locator(".timeline").inner_text()
    check_page(page, "my-report-resolved-zh-360")
