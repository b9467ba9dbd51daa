"""Issue 17 in headless Chromium at 360 px: "Forgot your password?" on the sign-in page, the
account's name, the code sent to its proved phone with the new password (a wrong code
first), the confirmation, and signing in with the new password — while a phone signed in
before the reset is signed out. Then a sign-in while the account is being attacked: the
password, then the code. Screenshots go to ``test-results/reset-flow/``
(``SHEQU_SCREENSHOTS`` overrides).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from a11y import assert_accessible, horizontal_overflow

from core.db import utcnow
from core.testing import TEST_PASSWORD, csrf_token, last_code
from core.web.i18n import compile_catalogues

pytestmark = pytest.mark.e2e

SHOTS = Path(os.environ.get("SHEQU_SCREENSHOTS")
             or Path(__file__).resolve().parents[2] / "test-results" / "reset-flow")
PHONE = "13800138000"
NEW_PASSWORD = "quiet river lantern 9"


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    compile_catalogues()


@pytest.fixture
def app(make_app):
    return make_app(plugins=[])


@pytest.fixture
def page(browser_page: Any) -> Iterator[Any]:
    errors: list[str] = []
    browser_page.on("console", lambda m: m.type == "error"
                    and not m.text.startswith("Failed to load resource")
                    and errors.append(m.text))
    browser_page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield browser_page
    assert not errors, f"console errors (a CSP violation?): {errors}"


def check_page(page: Any, name: str) -> None:
    """Fits a phone, passes the accessibility check, and is photographed."""
    assert horizontal_overflow(page) == 0, f"{page.url} scrolls sideways"
    assert_accessible(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def resident(app: Any) -> None:
    from core.identity.services import create_user

    with app.extensions["shequ"].db.session_scope() as s:
        create_user(s, app.extensions["shequ.hasher"], username="wangli",
                    display_name="王丽", password=TEST_PASSWORD, phone=PHONE,
                    roles=["resident"], phone_verified_at=utcnow())


def sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/account/login")
    page.get_by_label("用户名或手机号").fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.locator("main").get_by_role("button", name="登录").click()


def test_forgot_password_code_new_password_sign_in(page, app, chromium, live_server):
    resident(app)
    # a phone signed in before the reset
    other = chromium.new_context(viewport={"width": 360, "height": 780},
                                 base_url=live_server.url)
    before = other.new_page()
    sign_in(before, "wangli", TEST_PASSWORD)
    before.wait_for_url(re.compile(r"/$"))

    page.goto("/account/login")
    check_page(page, "01-login-zh-360")
    page.locator("main").get_by_role("link", name="忘记密码？").click()
    page.wait_for_url(re.compile(r"/account/reset$"))
    check_page(page, "02-reset-zh-360")
    page.locator("main").get_by_role("button", name="发送验证码").click()  # blank
    page.locator(".error-summary").wait_for()
    assert "请输入用户名、手机号或电子邮箱" in page.locator(".error-summary").inner_text()

    page.get_by_label("用户名、手机号或电子邮箱").fill("wangli")
    page.locator("main").get_by_role("button", name="发送验证码").click()
    page.wait_for_url(re.compile(r"/account/reset/code$"))
    main = page.locator("main").inner_text()
    assert "如果信息与某个账户相符" in main and PHONE not in main
    check_page(page, "03-reset-code-zh-360")

    code = last_code(app, PHONE, "reset")
    page.get_by_label("验证码", exact=True).fill("000000" if code != "000000" else "111111")
    page.get_by_label("新密码", exact=True).fill(NEW_PASSWORD)
    page.locator("main").get_by_role("button", name="修改密码").click()
    page.locator(".error-summary").wait_for()
    assert "验证码不正确或已失效" in page.locator(".error-summary").inner_text()
    check_page(page, "04-reset-wrong-code-zh-360")

    page.get_by_label("验证码", exact=True).fill(code)
    page.get_by_label("新密码", exact=True).fill(NEW_PASSWORD)
    page.locator("main").get_by_role("button", name="修改密码").click()
    page.get_by_role("heading", name="密码已修改").wait_for()
    assert "所有登录了您账户的设备都已退出登录" in page.locator("main").inner_text()
    check_page(page, "05-reset-done-zh-360")

    # the phone signed in before is signed out
    before.goto("/account/")
    before.wait_for_url(re.compile(r"/account/login"))
    other.close()

    page.locator("main").get_by_role("link", name="用新密码登录").click()
    page.get_by_label("用户名或手机号").fill("wangli")
    page.get_by_label("密码", exact=True).fill(NEW_PASSWORD)
    page.locator("main").get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/$"))
    page.goto("/account/notifications")
    assert "您的密码已重置" in page.locator("main").inner_text()
    check_page(page, "06-told-zh-360")


def test_sign_in_with_a_code_while_attacked(page, app):
    resident(app)
    for i in range(10):  # ten addresses guess the password
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{i + 1}"
        client.post("/account/login", data={
            "csrf_token": csrf_token(client, "/account/login"), "username": "wangli",
            "password": f"guess-{i}"})
    sign_in(page, "wangli", TEST_PASSWORD)
    page.get_by_role("heading", name="输入登录验证码").wait_for()
    assert PHONE not in page.locator("main").inner_text()
    check_page(page, "07-login-code-zh-360")
    page.get_by_label("验证码", exact=True).fill(last_code(app, PHONE, "login"))
    page.locator("main").get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/$"))
    assert "登录成功" in page.locator(".flashes").inner_text()
    check_page(page, "08-signed-in-zh-360")
