"""The web shell in headless Chromium: phone (360 px) and desk (1280 px), Chinese and
English, keyboard only, elder mode, signing in through the real form.

Screenshots go to ``test-results/shell/`` (git-ignored; ``SHEQU_SCREENSHOTS`` overrides) to be
looked at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from a11y import assert_accessible, check, horizontal_overflow

from core.testing import TEST_PASSWORD, ensure_user, open_menu
from core.web.i18n import compile_catalogues

pytestmark = pytest.mark.e2e

#: pytest-playwright empties test-results/ when a session starts (any session, including a
#: parallel one); SHEQU_SCREENSHOTS puts the screenshots somewhere else.
SHOTS = Path(os.environ.get("SHEQU_SCREENSHOTS")
             or Path(__file__).resolve().parents[2] / "test-results" / "shell")
PLUGIN_LABELS = ("政务服务", "便民服务", "居民自治", "平安社区")
PLUGIN_LABELS_EN = ("Public services", "Service hotline", "Community affairs", "Safety")


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    compile_catalogues()  # .mo files are build products; make sure they are current


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


class Watch:
    """Everything the page asked for and complained about: requests to other hosts and
    console errors (a CSP violation from an inline script or style shows up there)."""

    def __init__(self, page: Any) -> None:
        self.base = page.base_url
        self.foreign: list[str] = []
        self.errors: list[str] = []
        page.on("request", self._request)
        page.on("response", self._response)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _request(self, req: Any) -> None:
        if not req.url.startswith((self.base, "data:")):
            self.foreign.append(req.url)

    def _response(self, resp: Any) -> None:
        # error pages are answers (a 404 page is a 404); a missing stylesheet is a bug
        if resp.status >= 400 and resp.request.resource_type != "document":
            self.errors.append(f"{resp.status} {resp.url}")

    def _console(self, msg: Any) -> None:
        # "Failed to load resource" repeats what _response saw (or an error page's status)
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.errors.append(msg.text)

    def assert_clean(self) -> None:
        assert not self.foreign, f"requests to other hosts: {self.foreign}"
        assert not self.errors, f"console errors: {self.errors}"


@pytest.fixture
def watched(browser_page: Any) -> Iterator[tuple[Any, Watch]]:
    watch = Watch(browser_page)
    yield browser_page, watch
    watch.assert_clean()


@pytest.fixture
def desk_page(chromium: Any, live_server: Any) -> Iterator[Any]:
    """A 1280 px desk screen on the same live server."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800},
                                   base_url=live_server.url)
    page = context.new_page()
    page.base_url = live_server.url
    yield page
    context.close()


def nav_labels(page: Any) -> list[str]:
    # textContent: on a phone the navigation is folded in the header menu until opened
    return [t.strip() for t in page.locator(".site-nav a").all_text_contents()]


def assert_fits(page: Any, width: int) -> None:
    assert horizontal_overflow(page) == 0, f"{page.url} scrolls sideways"
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width


# ------------------------------------------------------------------------ phone, 360 px


def test_home_in_chinese_then_english(watched):
    page, _watch = watched
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("h1").inner_text() == "欢迎来到您的社区"
    labels = nav_labels(page)
    assert labels[0] == "首页"
    assert labels[1:] == list(PLUGIN_LABELS)
    for label in PLUGIN_LABELS:
        assert page.locator(".card-grid").get_by_role("link", name=label).is_visible()
    assert_fits(page, 360)
    assert_accessible(page)
    shot(page, "home-zh-360")

    open_menu(page).get_by_role("button", name="English").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Welcome to your community"
    assert nav_labels(page)[1:] == list(PLUGIN_LABELS_EN)
    assert_fits(page, 360)
    assert_accessible(page)
    shot(page, "home-en-360")

    # the switch keeps the page you were on
    page.goto("/self-governance/")
    open_menu(page).get_by_role("button", name="中文").click()
    page.wait_for_url(re.compile(r"/self-governance/$"))
    assert page.locator("h1").inner_text() == "居民自治"


def test_every_shell_page_fits_a_phone(watched):
    page, _watch = watched
    for path in ("/", "/account/login", "/gov-services/", "/commerce/", "/self-governance/",
                 "/surveillance/", "/api/v1/docs"):
        page.goto(path)
        assert_fits(page, 360)
    shot(page, "api-docs-zh-360")


def test_plugin_page_nav_marks_current(watched):
    page, _watch = watched
    page.goto("/surveillance/")
    current = page.locator('.site-nav a[aria-current="page"]')
    assert current.count() == 1 and current.text_content().strip() == "平安社区"
    assert_accessible(page)
    shot(page, "plugin-surveillance-zh-360")


def test_keyboard_skip_link_comes_first(watched):
    page, _watch = watched
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.className")
    assert "skip-link" in focused
    box = page.locator(".skip-link").bounding_box()
    assert box and box["y"] >= 0 and box["x"] >= 0, "the focused skip link is on screen"
    assert page.locator(".skip-link").inner_text() == "跳到正文"
    shot(page, "skip-link-focused-360")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    # the next Tab continues inside the page content, not back in the header
    page.keyboard.press("Tab")
    assert page.evaluate("() => !!document.activeElement.closest('main')")


def test_keyboard_reaches_the_header_tools_in_order(watched):
    page, _watch = watched
    page.goto("/")
    order = []
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(page.evaluate("() => document.activeElement.textContent.trim()"))
    assert order[0] == "跳到正文"
    assert order[2] == "菜单"  # on a phone the tools are behind the menu button
    page.keyboard.press("Enter")
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(page.evaluate("() => document.activeElement.textContent.trim()"))
    assert order[3:6] == ["English", "长辈模式", "登录"]
    # focus is visible: the focused tool has an outline or a changed background
    style = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.backgroundColor, s.boxShadow]; }")
    assert style[0] != "none" or style[1] != "rgba(0, 0, 0, 0)" or style[2] != "none"


def test_sign_in_through_the_real_form(watched, app):
    page, _watch = watched
    ensure_user(app, "resident")
    page.goto("/")
    open_menu(page).locator(".header-tools").get_by_role("link", name="登录").click()
    page.wait_for_url(re.compile(r"/account/login"))
    assert_accessible(page)
    assert_fits(page, 360)
    shot(page, "login-zh-360")

    # a wrong password: the error summary, focused, linking to the field
    page.get_by_label("用户名").fill("test_resident")
    page.get_by_label("密码").fill("wrong-password")
    page.locator("main").get_by_role("button", name="登录").click()
    summary = page.locator(".error-summary")
    summary.wait_for()
    assert "用户名或密码不对" in summary.inner_text()
    # shequ.js moves focus once it has run; wait for it (a timeout fails the test)
    page.wait_for_function(
        "() => document.activeElement?.classList.contains('error-summary')",
        timeout=10000)
    assert page.get_by_label("用户名").input_value() == "test_resident"  # input kept
    assert page.title().startswith("错误")
    assert_accessible(page)
    shot(page, "login-error-zh-360")
    summary.get_by_role("link").first.click()
    page.wait_for_function("() => document.activeElement?.id === 'password'", timeout=10000)

    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.locator("main").get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/$"))
    assert "登录成功" in page.locator(".flashes").inner_text()
    assert open_menu(page).get_by_role("button", name="退出登录").is_visible()
    assert "test_resident" in page.locator(".header-tools").inner_text()
    assert_fits(page, 360)
    assert_accessible(page)
    shot(page, "home-signed-in-zh-360")

    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(re.compile(r"/$"))
    assert "您已退出登录" in page.locator(".flashes").inner_text()


def test_elder_mode(watched):
    page, _watch = watched
    page.goto("/commerce/")
    normal = page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
    open_menu(page).get_by_role("button", name="长辈模式", exact=True).click()
    page.wait_for_url(re.compile(r"/commerce/$"))
    assert "elder" in page.locator("body").get_attribute("class")
    larger = page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
    assert larger >= normal * 1.2
    button = open_menu(page).get_by_role("button", name="退出长辈模式")
    assert button.bounding_box()["height"] >= 52  # bigger targets in elder mode
    assert_fits(page, 360)
    assert_accessible(page)

    page.goto("/")
    cards = page.locator(".card")
    first, second = cards.nth(0).bounding_box(), cards.nth(1).bounding_box()
    assert second["y"] > first["y"] + first["height"] - 1  # one column
    assert not page.locator(".site-footer .elder-hide").is_visible()  # fewer items
    assert_fits(page, 360)
    assert_accessible(page)
    shot(page, "home-elder-zh-360")

    open_menu(page).get_by_role("button", name="退出长辈模式").click()
    page.wait_for_url(re.compile(r"/$"))
    assert "elder" not in page.locator("body").get_attribute("class")


def test_elder_mode_in_english_fits(watched):
    page, _watch = watched
    page.goto("/")
    open_menu(page).get_by_role("button", name="English").click()
    page.wait_for_url(re.compile(r"/$"))
    open_menu(page).get_by_role("button", name="Elder mode", exact=True).click()
    page.wait_for_url(re.compile(r"/$"))
    assert_fits(page, 360)
    assert_accessible(page)
    shot(page, "home-elder-en-360")


def test_error_pages(watched):
    page, _watch = watched
    resp = page.goto("/no-such-page")
    assert resp.status == 404
    assert page.locator("h1").inner_text() == "找不到这个页面"
    rid = resp.headers["x-request-id"]
    assert page.locator(".request-id").inner_text() == rid
    assert_fits(page, 360)
    assert_accessible(page)
    shot(page, "error-404-zh-360")
    page.get_by_role("link", name="回到首页").click()
    page.wait_for_url(re.compile(r"/$"))


def test_forbidden_page_for_a_resident(watched, app):
    page, _watch = watched
    ensure_user(app, "resident")
    page.goto("/account/login?next=/admin/plugins")
    page.get_by_label("用户名").fill("test_resident")
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.locator("main").get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "您没有权限查看这个页面"
    assert_accessible(page)


def test_admin_pages_fit_a_phone(watched, app):
    page, _watch = watched
    ensure_user(app, "admin")
    page.goto("/account/login")
    page.get_by_label("用户名").fill("test_admin")
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.locator("main").get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/$"))
    open_menu(page).locator(".staff-nav").get_by_role("link", name="插件管理").click()
    page.wait_for_url(re.compile(r"/admin/plugins$"))
    assert page.locator(".plugin-card").count() == 4
    assert_fits(page, 360)
    assert_accessible(page)
    shot(page, "admin-plugins-zh-360")
    open_menu(page).locator(".staff-nav").get_by_role("link", name="事件投递").click()
    page.wait_for_url(re.compile(r"/admin/events$"))
    assert_fits(page, 360)
    assert_accessible(page)
    shot(page, "admin-events-zh-360")


def test_the_accessibility_check_finds_problems(watched):
    """The checker itself: break a page on purpose and expect each problem reported."""
    page, _watch = watched
    page.goto("/")
    assert check(page) == []
    page.evaluate("""() => {
      const main = document.querySelector('main');
      main.insertAdjacentHTML('beforeend',
        '<h1>Second</h1><h4>Skipped</h4><input id="nolabel" name="x">' +
        '<img src="/static/favicon.svg"><button class="tiny">x</button>' +
        '<p class="faint">faint text</p>');
      // CSSOM, not style attributes: the CSP blocks those (and Watch would report it)
      Object.assign(main.querySelector('.tiny').style,
                    {minHeight: '0', minWidth: '0', padding: '0'});
      main.querySelector('.faint').style.color = '#bbb';
    }""")
    problems = "\n".join(check(page))
    for expected in ("expected one h1", "skips from h1 to h4", "without a label: input#nolabel",
                     "image without alt", "touch target", "contrast"):
        assert expected in problems, f"{expected!r} not reported:\n{problems}"


# ------------------------------------------------------------------------ desk, 1280 px


def test_desk_layout_zh_and_en(desk_page):
    page = desk_page
    watch = Watch(page)
    page.goto("/")
    assert_fits(page, 1280)
    assert_accessible(page)
    # the nav fits on one line at desk width
    tops = {round(b["y"]) for b in (a.bounding_box() for a in page.locator(".site-nav a").all())}
    assert len(tops) == 1
    # the service cards sit side by side
    cards = page.locator(".card")
    assert cards.nth(0).bounding_box()["y"] == cards.nth(1).bounding_box()["y"]
    shot(page, "home-zh-1280")

    page.get_by_role("button", name="English").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator("h1").inner_text() == "Welcome to your community"
    assert_fits(page, 1280)
    assert_accessible(page)
    shot(page, "home-en-1280")

    page.goto("/account/login")
    assert_accessible(page)
    shot(page, "login-en-1280")
    page.goto("/api/v1/docs")
    assert_fits(page, 1280)
    shot(page, "api-docs-en-1280")
    watch.assert_clean()
