"""The registry in headless Chromium (360 px phone, 1280 px desk), in Chinese: a community
worker imports a small CSV with bad rows and sees exactly those rows with their reasons,
imports a clean file, finds a person by pinyin initials, sees the ID number masked and
reveals it with a purpose; then the resident bound to that person signs in and finds the
reveal in their access log. Also the dashboard, the resident's record and a correction
request. Every page is checked for accessibility and sideways scrolling, and photographed
into ``test-results/registry/`` (``SHEQU_SCREENSHOTS`` overrides) to be looked at.
"""

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

SHOTS = Path(os.environ.get("SHEQU_SCREENSHOTS")
             or Path(__file__).resolve().parents[2] / "test-results" / "registry")
PURPOSE = "核实高龄津贴申请"


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    compile_catalogues()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def check_page(page: Any, name: str, *, a11y: bool = True) -> None:
    assert horizontal_overflow(page) == 0, f"{page.url} scrolls sideways"
    if a11y:
        assert_accessible(page)
    shot(page, name)


@pytest.fixture
def page(browser_page: Any) -> Iterator[Any]:
    errors: list[str] = []
    browser_page.on("console", lambda m: m.type == "error"
                    and not m.text.startswith("Failed to load resource")
                    and errors.append(m.text))
    browser_page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield browser_page
    assert not errors, f"console errors (a CSP violation?): {errors}"


def ids():
    from core.registry.testing import make_id

    return {
        "head": make_id("1942-03-21", "M", seq=41),
        "wife": make_id("1945-10-02", "F", seq=42),
        "son": make_id("1970-06-15", "M", seq=43),
        "bad_check": make_id("1960-01-01", "F", seq=44)[:-1],
        "other": make_id("1988-08-08", "F", seq=45),
    }


def csv_file(rows: list[str]) -> dict[str, Any]:
    header = ("姓名,证件号码,社区代码,网格编码,门牌地址,小区,楼栋,单元,房号,户号,与户主关系,"
              "联系电话\n")
    return {"name": "居民名单.csv", "mimeType": "text/csv",
            "buffer": (header + "".join(rows)).encode("utf-8")}


@pytest.fixture
def registry_world(app: Any) -> dict[str, Any]:
    """Places (和平里社区 C1 with grid G1; 安康社区 C2), a community worker assigned to C1
    and a resident account to bind later."""
    from core.identity.models import User, UserScope
    from core.registry.testing import C1, ensure_registry, make_places

    kernel = ensure_registry(app)
    worker = ensure_user(app, "community_worker")
    resident = ensure_user(app, "resident")
    with kernel.db.session_scope() as db:
        make_places(db)
        user = db.get(User, worker.id)
        user.scopes.append(UserScope(kind="community", code=C1))
    return {"kernel": kernel, "worker": worker, "resident": resident}


def sign_in(page: Any, username: str) -> None:
    page.goto("/account/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.locator("main").get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/$"))


def sign_out(page: Any) -> None:
    open_menu(page).get_by_role("button", name="退出登录").click()
    page.wait_for_url(re.compile(r"/$"))


def test_import_find_reveal_and_the_resident_sees_it(page, app, registry_world):
    from core.registry.testing import C1, C2, G1

    n = ids()
    sign_in(page, registry_world["worker"].username)
    staff_menu = open_menu(page).locator(".staff-nav")
    for label in ("居民信息", "批量导入", "人口统计", "信息更正"):
        assert staff_menu.get_by_role("link", name=label).count() == 1, label

    # 1. a file with three bad rows: exactly those rows, each with its reason; nothing written
    staff_menu.get_by_role("link", name="批量导入").click()
    page.wait_for_url(re.compile(r"/registry/import$"))
    assert page.locator("h1").inner_text() == "批量导入居民"
    check_page(page, "import-zh-360")
    page.locator("main").get_by_role("button", name="检查文件").click()
    page.locator(".error-summary").wait_for()
    assert "请选择要导入的文件" in page.locator(".error-summary").inner_text()
    check_page(page, "import-error-zh-360")
    place = f"{C1},{G1},和平路88号,和平小区,5栋,1单元"
    good = [
        f"王德胜,{n['head']},{place},301,H501,户主,13812340001\n",
        f"刘桂兰,{n['wife']},{place},301,H501,配偶,\n",
        f"王建华,{n['son']},{place},302,,,13812340003\n",
    ]
    bad = [
        f"赵秀梅,{n['bad_check']}0,{place},303,,,\n",   # wrong check character (row 3)
        f"孙立,{n['other']},{C2},,,,,,,,,\n",            # not this worker's community (row 5)
        f"钱多多,{make_id_row()},{C1},,,,,,,,,12345\n",  # bad phone (row 7)
    ]
    rows = [good[0], bad[0], good[1], bad[1], good[2], bad[2]]
    page.set_input_files("#file", files=[csv_file(rows)])
    page.locator("main").get_by_role("button", name="检查文件").click()
    page.wait_for_url(re.compile(r"/registry/import/[\w-]+$"))
    assert page.locator("h1").inner_text() == "需要改正的行"
    table = page.locator("table.rejected tbody tr")
    assert table.count() == 3
    listed = [table.nth(i).locator("th").inner_text() for i in range(3)]
    assert listed == ["3", "5", "7"]
    assert "校验码不对" in table.nth(0).inner_text()
    assert "不在您负责的范围内" in table.nth(1).inner_text()
    assert "手机号码" in table.nth(2).inner_text() or "固定电话" in table.nth(2).inner_text()
    for name in ("王德胜", "刘桂兰", "王建华"):
        assert name not in page.locator("table.rejected").inner_text()
    assert page.locator("main").get_by_role("button", name=re.compile("导入")).count() == 0
    check_page(page, "import-rejected-zh-360")
    with page.expect_download() as download:
        page.get_by_role("link", name="下载需要改正的行（CSV）").click()
    content = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert [line.split(",")[0] for line in content.strip().splitlines()[1:]] == ["3", "5", "7"]
    assert count_persons(app) == 0

    # 2. fixing nothing, the clean file: check, then import
    page.get_by_role("link", name="上传改正后的文件").click()
    page.set_input_files("#file", files=[csv_file(good)])
    page.locator("main").get_by_role("button", name="检查文件").click()
    page.wait_for_url(re.compile(r"/registry/import/[\w-]+$"))
    assert page.locator("h1").inner_text() == "确认导入内容"
    check_page(page, "import-check-zh-360")
    assert count_persons(app) == 0
    page.locator("main").get_by_role("button", name="导入 3 名居民").click()
    page.locator(".panel-confirm").wait_for()
    assert "导入完成" in page.locator("h1").inner_text()
    check_page(page, "import-done-zh-360")
    assert count_persons(app) == 3

    # 3. find 王德胜 by pinyin initials; the ID number is masked
    open_menu(page).locator(".staff-nav").get_by_role("link", name="居民信息").click()
    page.wait_for_url(re.compile(r"/registry/persons$"))
    check_page(page, "search-zh-360")
    page.get_by_label("姓名、拼音、电话、身份证号或地址").fill("wds")
    page.locator("main").get_by_role("button", name="查询").click()
    page.wait_for_url(re.compile(r"/registry/persons\?q=wds$"))
    results = page.locator("ol.results > li")
    assert results.count() == 1
    assert "王德胜" in results.first.inner_text()
    assert "拼音首字母" in page.locator("main").inner_text()
    assert n["head"] not in page.content()
    assert n["head"][:4] + "*" * 10 + n["head"][-4:] in results.first.inner_text()
    check_page(page, "search-results-zh-360")
    # a full ID number is posted, never put in the address
    page.get_by_label("姓名、拼音、电话、身份证号或地址").fill(n["son"])
    page.locator("main").get_by_role("button", name="查询").click()
    page.locator("ol.results").wait_for()
    assert "王建华" in page.locator("ol.results").inner_text()
    assert n["son"] not in page.url and "?" not in page.url
    page.go_back()
    page.wait_for_url(re.compile(r"q=wds$"))

    results = page.locator("ol.results > li")
    results.first.get_by_role("link", name="王德胜").click()
    page.wait_for_url(re.compile(r"/registry/persons/\d+$"))
    assert page.locator("h1").inner_text().startswith("王德胜")
    main = page.locator("main")
    assert n["head"] not in main.inner_text()
    assert "1942-**-**" in main.inner_text() and "刘桂兰" in main.inner_text()
    check_page(page, "person-zh-360")

    # 4. reveal with a purpose: first without one (the error summary), then with it
    page.get_by_label("身份证号").check()
    page.get_by_role("button", name="完整显示").click()
    page.locator(".error-summary").wait_for()
    assert "请说明查看用途" in page.locator(".error-summary").inner_text()
    assert n["head"] not in page.locator("main").inner_text()
    check_page(page, "person-reveal-error-zh-360")
    page.get_by_label("身份证号").check()
    page.get_by_label("查看用途").fill(PURPOSE)
    page.get_by_role("button", name="完整显示").click()
    page.locator(".warning-text").wait_for()
    assert n["head"] in page.locator("main").inner_text()
    check_page(page, "person-revealed-zh-360")
    # the reveal is one full entry with its purpose; the masked search and record views
    # before it are in the person's log too (masked reads count)
    assert access_entries(app, masked=False) == [("test_community_worker", PURPOSE)]
    assert {a for a, _ in access_entries(app, masked=True)} == {"test_community_worker"}
    page.set_viewport_size({"width": 1280, "height": 900})
    check_page(page, "person-revealed-zh-1280")
    open_menu(page).locator(".staff-nav").get_by_role("link", name="人口统计").click()
    page.wait_for_url(re.compile(r"/registry/dashboard$"))
    assert page.locator(".big-number-value").inner_text() == "3"
    assert page.locator("svg.chart").count() == 3
    check_page(page, "dashboard-zh-1280")
    page.set_viewport_size({"width": 360, "height": 780})
    check_page(page, "dashboard-zh-360")
    sign_out(page)

    # 5. the resident bound to 王德胜 signs in and finds the reveal in their access log
    bind(app, registry_world["resident"], n["head"])
    sign_in(page, registry_world["resident"].username)
    open_menu(page).locator(".site-nav").get_by_role("link", name="我的登记信息").click()
    page.wait_for_url(re.compile(r"/registry/me$"))
    assert n["head"] not in page.locator("main").inner_text()
    check_page(page, "my-record-zh-360")
    page.get_by_role("link", name="显示我的完整信息").click()
    page.wait_for_url(re.compile(r"/registry/me\?show=1$"))
    assert n["head"] in page.locator("main").inner_text()
    assert n["wife"] not in page.content()
    page.get_by_role("link", name="谁查看过我的个人信息").click()
    page.wait_for_url(re.compile(r"/account/access-log$"))
    log = page.locator("main").inner_text()
    assert PURPOSE in log and "身份证号" in log and n["head"] not in log
    assert "已隐去部分" in log  # the masked views are there, in plain words
    assert page.locator("main .item-list > li").count() >= 2
    check_page(page, "access-log-zh-360")

    # 6. and asks for a correction of their phone number
    page.goto("/registry/me")
    page.get_by_role("link", name="申请更正").click()
    page.wait_for_url(re.compile(r"/registry/me/correction$"))
    check_page(page, "correction-form-zh-360")
    page.locator("main").get_by_role("button", name="提交申请").click()
    page.locator(".error-summary").wait_for()
    check_page(page, "correction-form-error-zh-360")
    page.get_by_label(re.compile("^电话号码")).check()
    page.get_by_label("正确的内容是什么？").fill("13912345678")
    page.get_by_label("为什么登记信息有误？").fill("换了新的手机号码")
    page.locator("main").get_by_role("button", name="提交申请").click()
    page.locator(".panel-confirm").wait_for()
    assert "申请已提交" in page.locator("h1").inner_text()
    check_page(page, "correction-sent-zh-360")


def make_id_row() -> str:
    from core.registry.testing import make_id

    return make_id("1975-05-05", "M", seq=46)


def count_persons(app: Any) -> int:
    from sqlalchemy import func, select

    from core.registry.models import Person

    with app.extensions["shequ"].db.session_scope() as db:
        return db.scalar(select(func.count()).select_from(Person))


def access_entries(app: Any, *, masked: bool) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from core.audit.models import AccessEntry

    with app.extensions["shequ"].db.session_scope() as db:
        return [(e.actor_name, e.purpose) for e in db.scalars(
            select(AccessEntry).where(AccessEntry.masked.is_(masked)))]


def bind(app: Any, user: Any, id_number: str) -> None:
    """What a worker's in-person verification does: bind the account to the person."""
    from core.identity.models import User
    from core.identity.services import bind_person
    from core.registry.services import find_by_id_number

    with app.extensions["shequ"].db.session_scope() as db:
        person = find_by_id_number(db, id_number)
        bind_person(db, db.get(User, user.id), person.id, method="in_person", by=None)
