"""The service hotline in headless Chromium (360 px phone), in Chinese: an elderly resident
living alone presses the one-key call (一键呼叫) on their home page; the hotline operator
sees the call-back, fills in the need and dispatches it; the merchant accepts it in the
portal and reports the work done with its price; the resident confirms and rates it.
Pages are checked for accessibility and sideways scrolling and photographed into
``test-results/commerce/`` (``SHEQU_SCREENSHOTS`` overrides)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from a11y import assert_accessible, horizontal_overflow

from core.testing import TEST_PASSWORD, access_log
from core.web.i18n import compile_catalogues


def build_world(app: Any) -> Any:
    """The commerce tests' registry world (tests/plugins/commerce/commerce_kit.py)."""
    from tests.plugins.commerce.commerce_kit import build_world as build

    return build(app)


PHONE_ELDER = "13800138000"  # commerce_kit.PHONE_ELDER


pytestmark = pytest.mark.e2e

SHOTS = Path(
    os.environ.get("SHEQU_SCREENSHOTS")
    or Path(__file__).resolve().parents[2] / "test-results" / "commerce"
)


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    compile_catalogues()


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(plugins=["commerce"])


def check_page(page: Any, name: str) -> None:
    assert horizontal_overflow(page) == 0, f"{page.url} scrolls sideways"
    assert_accessible(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def people(chromium: Any, live_server: Any) -> Iterator[Any]:
    """One phone-sized browser context per person, each watched for script errors."""
    contexts, errors = [], []

    def open_as(username: str) -> Any:
        ctx = chromium.new_context(viewport={"width": 360, "height": 780}, base_url=live_server.url)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto("/account/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(TEST_PASSWORD)
        page.locator("main").get_by_role("button", name="登录").click()
        page.wait_for_url(re.compile(r"/$"))
        return page

    yield open_as
    for ctx in contexts:
        ctx.close()
    assert not errors, f"script errors: {errors}"


def test_one_key_call_to_rating(app, people):
    world = build_world(app)

    # 1. The elderly resident presses the one-key call on the home page.
    elder = people("elder")
    check_page(elder, "01-home-one-key")
    elder.get_by_role("button", name="一键呼叫").click()
    elder.wait_for_url(re.compile(r"/commerce/my/\d+$"))
    ticket_url = elder.url
    ticket_id = ticket_url.rsplit("/", 1)[1]
    assert "待回电" in elder.locator("h1").inner_text()
    check_page(elder, "02-resident-waiting")

    # 2. The operator sees the call-back, calls, fills in the need; it is dispatched.
    operator = people("oper")
    operator.goto("/commerce/console")
    check_page(operator, "03-console")
    operator.get_by_role("link", name=re.compile(f"工单 {ticket_id}")).first.click()
    assert "独居老人" in operator.locator("h1").inner_text()
    operator.get_by_label("您需要什么服务？").select_option("repairs")
    operator.get_by_label("需求说明").fill("卫生间水龙头漏水，老人独居，请尽快上门。")
    address = operator.get_by_label("服务地址")
    assert address.input_value() == ""  # empty: the registered address serves
    main = operator.locator("main").inner_text()
    assert "1502" not in main  # the operator sees the address down to the building only
    assert PHONE_ELDER in main  # ... and the phone in full, to call the resident back
    check_page(operator, "04-callback")
    operator.get_by_role("button", name="保存并派单").click()
    operator.wait_for_url(re.compile(rf"/commerce/tickets/{ticket_id}$"))
    assert "已派单" in operator.locator("h1").inner_text()
    assert "甲维修" in operator.locator("main").inner_text()

    # 3. The merchant accepts in the portal and reports the work done.
    merchant = people("merch0")
    merchant.goto("/commerce/portal")
    check_page(merchant, "05-portal")
    merchant.get_by_role("link", name=re.compile(f"工单 {ticket_id}")).click()
    assert "1502" not in merchant.locator("main").inner_text()  # not before accepting
    assert PHONE_ELDER not in merchant.locator("main").inner_text()
    merchant.get_by_role("button", name="接单").click()
    merchant.wait_for_url(re.compile(rf"/commerce/portal/tickets/{ticket_id}$"))
    assert "1502" in merchant.locator("main").inner_text()  # theirs and open: in full
    assert PHONE_ELDER in merchant.locator("main").inner_text()
    merchant.get_by_label("最终价格（元）").fill("80")
    check_page(merchant, "06-portal-ticket")
    merchant.get_by_role("button", name="已完工").click()
    merchant.wait_for_url(re.compile(rf"/commerce/portal/tickets/{ticket_id}$"))
    assert "已完工" in merchant.locator("h1").inner_text()
    assert PHONE_ELDER not in merchant.locator("main").inner_text()  # done: masked again

    # 4. The resident confirms and rates it.
    elder.goto(ticket_url)
    assert "¥80.00" in elder.locator("main").inner_text()
    elder.get_by_role("button", name="是的，已经完成").click()
    elder.wait_for_url(re.compile(r"/commerce/my/\d+"))
    elder.get_by_label("5 — 非常满意").check()
    elder.get_by_label("意见（可不填）").fill("师傅很耐心。")
    check_page(elder, "07-rate")
    elder.get_by_role("button", name="提交评分").click()
    elder.wait_for_url(re.compile(rf"/commerce/my/{ticket_id}$"))
    assert "已回访" in elder.locator("h1").inner_text()
    assert "5/5" in elder.locator("main").inner_text()
    check_page(elder, "08-rated")

    # 5. The directory shows the merchant's record; the operator's statistics count it.
    elder.goto("/commerce/merchants?category=repairs")
    assert "甲维修" in elder.locator("main").inner_text()
    check_page(elder, "09-directory")
    operator.goto("/commerce/stats")
    assert operator.locator("svg.chart").count() == 3
    check_page(operator, "10-stats")
    operator.goto("/commerce/tickets")
    assert PHONE_ELDER not in operator.locator("main").inner_text()  # lists mask
    check_page(operator, "11-queue")

    # 6. Every display of the resident's data to the operator and the merchant is in
    #    their access log: the phone in full for the call-back, the address in full for
    #    the merchant who held the ticket.
    seen = access_log(app, world.elder, via="commerce")
    full = {(e["actor"], f) for e in seen if not e["masked"] for f in e["fields"]}
    assert ("oper", "phone") in full and ("merch0", "address") in full
