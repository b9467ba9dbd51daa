"""Journey "a district sets up a department" (有事找政府), with the demo as shipped, on a
360 px phone, in Chinese: the administrator adds the district water bureau, makes the
demo department staff (``dept``) a member, and adds a routing rule — road matters in the
demo community go to the new bureau within 4 working days; the resident then reports a
road matter on the web and sees it handled by the new bureau, whose member finds it in
their list; closing the bureau is refused while the matter is open.

Screenshots: ``test-results/journeys/matter-admin-zh/`` (``SHEQU_SCREENSHOTS``)."""

from __future__ import annotations

import re

import pytest
from journey_kit import Journey, journey_fixtures
from matters_steps import file_matter, open_from_list
from sqlalchemy import select

pytestmark = pytest.mark.e2e

locale, app, journey, _catalogues = journey_fixtures(
    "matter-admin", locales=("zh",), extra_plugins=("matters",))


def _demo_community(app) -> str:
    """The demo community's code (its residents' committee is a community office)."""
    from core.current import kernel_of
    from plugins.matters.models import MattersDepartment

    with app.app_context(), kernel_of(app).db.session_scope() as s:
        return s.scalar(select(MattersDepartment.community).where(
            MattersDepartment.kind == "community").order_by(MattersDepartment.id))


def test_admin_adds_a_department_and_a_route(journey: Journey, app) -> None:
    community = _demo_community(app)
    # 1. the administrator adds the department, with an error first
    admin = journey.sign_in("admin")
    admin.goto("/matters/departments")
    journey.shot(admin, "departments")
    admin.locator("main").get_by_role("link", name="新增部门").click()
    admin.wait_for_url(re.compile(r"/matters/departments/new$"))
    admin.get_by_label("部门代码").fill("Water")
    admin.locator("main form button[type=submit]").click()
    admin.wait_for_load_state("load")
    summary = admin.locator(".error-summary")
    assert "部门代码只能使用" in summary.inner_text()
    assert "请填写部门名称" in summary.inner_text()
    journey.shot(admin, "department-errors")
    admin.get_by_label("部门代码").fill("water")
    admin.get_by_label("名称（中文）").fill("区水务局")
    admin.get_by_label("名称（英文）").fill("District water bureau")
    admin.locator("main form button[type=submit]").click()
    admin.wait_for_url(re.compile(r"/matters/departments$"))
    assert "已添加部门 区水务局" in admin.locator("body").inner_text()

    # 2. the demo department staff become its member
    admin.locator("select[name=department]").select_option("water")
    admin.locator("input[name=username]").fill("dept")
    admin.locator("main form:has(input[name=username]) button[type=submit]").click()
    admin.wait_for_url(re.compile(r"/matters/departments$"))
    journey.shot(admin, "member-added")

    # 3. road matters in the demo community go to the bureau, 4 working days
    admin.locator("main").get_by_role("link", name="新增派发规则").click()
    admin.wait_for_url(re.compile(r"/matters/routes/new$"))
    admin.locator("select[name=category]").select_option("roads")
    admin.locator("select[name=place]").select_option(community)
    admin.locator("select[name=department]").select_option("water")
    admin.locator("input[name=answer_days]").fill("4")
    journey.shot(admin, "route-form")
    admin.locator("main form button[type=submit]").click()
    admin.wait_for_url(re.compile(r"/matters/departments"))
    assert "派发规则已保存" in admin.locator("body").inner_text()
    rules = admin.locator("#routes ~ .table-wrap table").inner_text()
    assert "道路设施" in rules and "区水务局" in rules
    journey.shot(admin, "route-saved")

    # 4. the resident reports a road matter: it reaches the new bureau
    resident = journey.sign_in("resident")
    resident.goto("/matters/new")
    mid, reference = file_matter(
        journey, resident, resident.locator("main form"), category="roads",
        summary="小区东门外的井盖松动，踩上去会响。", location="小区东门外",
        department="区水务局")

    # 5. the bureau's member finds it in their list
    dept = journey.sign_in("department_staff")
    open_from_list(journey, dept, mid, reference, shot="bureau-list")
    assert dept.locator("#sign").count() == 1  # theirs to sign for

    # 6. the bureau cannot be closed while the matter is open: the count is named
    admin.goto("/matters/departments/water")
    admin.locator("main form[action$='/close'] button[type=submit]").click()
    admin.wait_for_load_state("load")
    assert "还有 1 件未办结诉求" in admin.locator(".error-summary").inner_text()
    journey.shot(admin, "close-refused")
