"""Journey "a matter for the government" (有事找政府) with the demo as shipped, on a 360 px
phone, in Chinese: the hotline operator takes the demo resident's call on the console
and files a matter beside the merchant ticket form; the routing sends it to the street's
urban management office, whose demo staff (``dept``) sign for it and answer; the
resident is told, reads the answer and rates it; the matter closes.

Screenshots: ``test-results/journeys/matter-zh/``."""

from __future__ import annotations

import re

import pytest
from journey_kit import Journey, journey_fixtures
from matters_steps import file_matter, open_from_list
from sqlalchemy import select

pytestmark = pytest.mark.e2e

locale, app, journey, _catalogues = journey_fixtures(
    "matter", locales=("zh",), extra_plugins=("matters",))


def _resident_phone(app) -> str:
    """The demo resident's registered phone (the operator looks the caller up by it)."""
    from core.current import kernel_of
    from core.identity.models import User
    from core.registry.models import Person

    with app.app_context(), kernel_of(app).db.session_scope() as s:
        pid = s.scalar(select(User.person_id).where(User.username == "resident"))
        person = s.get(Person, pid)
        if not person.phone:
            person.phone = "13912340000"
        return person.phone


def test_matter_from_console_to_rating(journey: Journey, app) -> None:
    phone = _resident_phone(app)
    # 1. the operator finds the caller and files a matter for the government
    operator = journey.sign_in("hotline_operator")
    operator.goto("/commerce/console")
    operator.locator("input[name=phone]").fill(phone)
    operator.locator("main form.search-form button[type=submit]").click()
    operator.wait_for_load_state("load")
    slot = operator.locator("details.matters-console").first
    slot.locator("summary").click()
    journey.shot(operator, "console")
    mid, reference = file_matter(
        journey, operator, slot, prefix="matter-", category="streetlight",
        summary="3号楼门前的路灯不亮了，晚上看不清台阶。", location="3号楼门前",
        department="街道城市管理科")

    # 2. the department's staff sign for it and answer
    dept = journey.sign_in("department_staff")
    open_from_list(journey, dept, mid, reference)
    dept.locator("#sign").click()
    dept.wait_for_load_state("load")
    assert "办理中" in dept.locator("main h1").inner_text()
    dept.locator("textarea[name=answer]").fill("已派维修班组更换灯泡，今晚恢复照明。")
    journey.shot(dept, "answer")
    dept.locator("main form[action$='/answer'] button[type=submit]").click()
    dept.wait_for_load_state("load")
    assert "已答复" in dept.locator("main h1").inner_text()

    # 3. the resident is told, reads the answer and rates it
    resident = journey.sign_in("resident")
    note = journey.expect_notification(resident, f"您的诉求 {reference} 已答复")
    journey.shot(resident, "notified")
    note.get_by_role("link").first.click()
    resident.wait_for_url(re.compile(rf"/matters/{mid}$"))
    assert "今晚恢复照明" in resident.locator("main").inner_text()
    journey.shot(resident, "answer")
    resident.locator("input[name=rating][value=satisfied]").check()
    resident.locator("main form[action$='/rate'] button[type=submit]").click()
    resident.wait_for_url(re.compile(rf"/matters/{mid}$"))
    assert "感谢您的评价" in resident.locator("body").inner_text()
    assert "已办结" in resident.locator("main h1").inner_text()
    journey.shot(resident, "rated")
