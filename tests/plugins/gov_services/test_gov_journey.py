"""Issue 16 for public services, through HTTP: staff without an area are told so; every
step notifies the resident in the resident's language and the notification is read once
its page is opened; 补正 as a one-time full notice with an upload slot per item; the
check-your-answers page and the receipt; the office's day (``app.timezone``) for dates
and deadlines, with a clock at 23:30 UTC; 公示 public for its whole period.

Own app and registry (module-scoped), so the cases here never meet the workflow module's.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from core.testing import TEST_PASSWORD, app_today, build_test_app, csrf_token, ensure_user

API = "/api/v1/gov-services"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def born(age: int) -> date:
    today = app_today()
    return today.replace(year=today.year - age, day=1) - timedelta(days=40)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app, cleanup = build_test_app(
        tmp_path_factory.mktemp("gsj"),
        plugins=["gov_services"],
        config={"plugins": {"gov_services": {"holidays": []}},
                "app": {"timezone": "Asia/Shanghai"}},
    )
    yield app
    cleanup()


@pytest.fixture(scope="module")
def world(app):
    """Residents 钱大妈 (72) and 孙老伯 (75) in C1, bound to accounts (钱大妈 reads
    Chinese); a worker of C1, a street officer of C1, and a worker with no area."""
    from core.identity.models import User, UserScope
    from core.identity.services import bind_person
    from core.registry import services as rs
    from core.registry.testing import C1, ensure_registry, make_id, make_places

    kernel = ensure_registry(app)
    people = {}
    with kernel.db.session_scope() as db:
        places = make_places(db)
        for key, name, age, seq in (("qian", "钱大妈", 72, 31), ("sun", "孙老伯", 75, 32)):
            p = rs.register_person(
                db, {"name": name, "id_number": make_id(born(age), "F", seq=seq),
                     "hukou_type": "local"}, bus=kernel.bus, dwelling_id=places.d1.id)
            people[key] = p.id
    accounts = {
        "qian": ensure_user(app, "resident", username="gsj_qian"),
        "sun": ensure_user(app, "resident", username="gsj_sun"),
        "worker": ensure_user(app, "community_worker", username="gsj_worker"),
        "street": ensure_user(app, "street_officer", username="gsj_street"),
        "nowhere": ensure_user(app, "community_worker", username="gsj_nowhere"),
        "admin": ensure_user(app, "admin", username="gsj_admin"),
    }
    with kernel.db.session_scope() as db:
        for key in ("qian", "sun"):
            bind_person(db, db.get(User, accounts[key].id), people[key], method="in_person",
                        by=None)
        db.get(User, accounts["qian"].id).locale = "zh"
        db.get(User, accounts["admin"].id).display_name = "周管理员"
        for key in ("worker", "street"):
            user = db.get(User, accounts[key].id)
            user.scopes.append(UserScope(kind="community", code=C1))
    return SimpleNamespace(kernel=kernel, people=people, accounts=accounts)


def sign_in(app, username: str, lang: str = "zh"):
    c = app.test_client()
    c.set_cookie("shequ_lang", lang)
    page = c.get("/account/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = c.post("/account/login",
                  data={"username": username, "password": TEST_PASSWORD, "csrf_token": token})
    assert resp.status_code == 302, username
    return c


@pytest.fixture(scope="module")
def as_(app, world):
    cache = {}

    def get(who: str, lang: str = "zh"):
        if (who, lang) not in cache:
            cache[(who, lang)] = sign_in(app, world.accounts[who].username, lang)
        return cache[(who, lang)]

    return get


def post(client, url: str, body: dict):
    token = csrf_token(client, "/gov-services/")
    return client.post(url, json=body, headers={"X-CSRFToken": token})


def act(client, app_id: int, action: str, **body):
    return post(client, f"{API}/applications/{app_id}/actions", {"action": action, **body})


def notes(world, who: str):
    from core.identity.models import Notification

    with world.kernel.db.session_scope() as db:
        rows = db.scalars(select(Notification).where(
            Notification.user_id == world.accounts[who].id).order_by(Notification.id)).all()
        return [SimpleNamespace(title=n.title, body=n.body, link=n.link, read=n.read_at is not None)
                for n in rows]


def page(client, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    return resp.get_data(as_text=True)


HOME_CARE = {"service_code": "home_care_subsidy",
             "answers": {"care_level": "2", "monthly_income": "1800"}}


# ----------------------------------------------------------------------------- 1. no area


def test_staff_with_no_area_are_told_so_and_whom_to_ask(as_, world):
    resp = post(as_("sun"), f"{API}/applications", HOME_CARE)
    assert resp.status_code == 201, resp.json
    world.sun_app = resp.json["id"]
    nowhere = as_("nowhere")
    queue = nowhere.get("/gov-services/queue")
    text = queue.get_data(as_text=True)
    assert queue.status_code == 200 and "您还没有分配工作区域" in text
    assert "周管理员" in text  # whom to ask, by name
    for other in ("/gov-services/statistics", "/gov-services/thematic"):
        assert "您还没有分配工作区域" in page(nowhere, other), other
    case = nowhere.get(f"/gov-services/applications/{world.sun_app}")
    assert case.status_code == 403 and "您还没有分配工作区域" in case.get_data(as_text=True)
    assert 'id="assign-own-area"' not in text  # only an administrator can assign it
    admin = page(as_("admin"), "/gov-services/queue")  # an admin without one: a link
    assert f'href="/admin/accounts/{world.accounts["admin"].id}" id="assign-own-area"' in admin
    english = as_("nowhere", "en").get("/gov-services/queue").get_data(as_text=True)
    assert "You have not been assigned a work area yet" in english
    # with an area the same pages work
    assert reference_in(page(as_("worker"), "/gov-services/queue"), world, world.sun_app)


def reference_in(text: str, world, app_id: int) -> bool:
    return f"{app_id:06d}" in text


# --------------------------------------------- 2, 3. told in their language; 补正 at once


def test_material_is_asked_once_completely_and_each_item_has_its_slot(app, as_, world):
    qian, worker = as_("qian"), as_("worker", "en")  # the worker reads English
    resp = post(qian, f"{API}/applications", HOME_CARE)
    assert resp.status_code == 201
    app_id = world.qian_app = resp.json["id"]
    case = f"/gov-services/applications/{app_id}"
    staff_page = page(worker, case)
    assert 'name="missing_doc" value="assessment"' in staff_page  # the service's own list
    token = csrf_token(worker, case)
    # an unknown document code, or an "other" item of more than 50 characters: refused
    for bad in ({"missing_doc": "passport"}, {"missing": "x" * 51}, {}):
        resp = worker.post(f"{case}/action",
                           data={"csrf_token": token, "action": "request_material", **bad})
        assert resp.status_code == 400, bad
    resp = worker.post(f"{case}/action", data={
        "csrf_token": token, "action": "request_material", "missing_doc": "assessment",
        "missing": "收入证明\n"})
    assert resp.status_code == 302
    assert act(worker, app_id, "request_material", missing=["photo"]).status_code == 409
    # the notification: in 钱大妈's language, every item named, linking to the case
    told = notes(world, "qian")[-1]
    assert told.title == "请补正材料：居家养老补贴/助餐", told.title
    assert "照护评估报告" in told.body and "收入证明" in told.body and told.link == case
    assert not told.read
    # a worker assisting her who opens the page has not read it for her
    helper = sign_in(app, world.accounts["worker"].username)
    resp = helper.post("/account/assist", data={
        "csrf_token": csrf_token(helper, "/account/assist"), "resident": "gsj_qian",
        "reason": "窗口代办", "minutes": "15"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    assert helper.get(case).status_code == 200 and not notes(world, "qian")[-1].read
    # the resident's page: one slot per item, no staff instruction, one resubmit button
    mine = page(qian, case)
    assert notes(world, "qian")[-1].read  # opening the linked page read it
    assert 'data-item="assessment"' in mine and 'data-item="other:收入证明"' in mine
    assert mine.count('data-done="no"') == 2 and mine.count('value="resubmit"') == 1
    assert 'id="staff-actions"' not in mine and "missing_doc" not in mine
    token = csrf_token(qian, case)
    for key in ("assessment", "other:收入证明"):
        resp = qian.post(f"{case}/attachments", data={
            "csrf_token": token, "document": key, "file": (io.BytesIO(PNG), f"{key[-4:]}.png")},
            content_type="multipart/form-data")
        assert resp.status_code == 302, key
    wrong = qian.post(f"{case}/attachments", data={
        "csrf_token": token, "document": "other:户口本", "file": (io.BytesIO(PNG), "x.png")},
        content_type="multipart/form-data")
    assert wrong.status_code == 400  # not an item asked for
    mine = page(qian, case)
    assert mine.count('data-done="yes"') == 2 and 'id="resubmit-warning"' not in mine
    resp = qian.post(f"{case}/action", data={"csrf_token": token, "action": "resubmit"})
    assert resp.status_code == 302
    detail = as_("worker").get(f"{API}/applications/{app_id}").json
    assert detail["state"] == "submitted" and detail["missing"] == ["assessment", "收入证明"]
    from plugins.gov_services.models import Attachment

    with world.kernel.db.session_scope() as db:
        docs = sorted(db.scalars(select(Attachment.document)
                                 .where(Attachment.application_id == app_id)))
    assert docs == ["assessment", "other:收入证明"]  # each filed under the name asked for
    # the worker's English page names the items in English where the catalogue can
    english = page(worker, case)
    assert "Care assessment report" in english and "照护评估报告" not in english


def test_every_step_tells_the_resident_in_their_language(as_, world):
    worker, street = as_("worker", "en"), as_("street", "en")
    app_id = world.qian_app
    before = len(notes(world, "qian"))
    assert act(worker, app_id, "accept").json["state"] == "community_check"
    assert act(worker, app_id, "pass").json["state"] == "street_review"
    assert act(worker, app_id, "pass").status_code == 403  # the street office's stage
    assert act(street, app_id, "pass").json["state"] == "approval"
    assert act(street, app_id, "pass").json["state"] == "approved"
    told = notes(world, "qian")[before:]
    assert [n.title for n in told] == [
        "已受理：居家养老补贴/助餐", "已转下一环节：居家养老补贴/助餐",
        "已转下一环节：居家养老补贴/助餐", "已批准：居家养老补贴/助餐"]
    assert all(not n.read for n in told)
    page(as_("qian"), f"/gov-services/applications/{app_id}")
    assert all(n.read for n in notes(world, "qian"))  # the page they all link to
    # a refusal says why, in the resident's words
    resp = act(as_("worker"), world.sun_app, "not_accept", comment="不在本社区居住")
    assert resp.json["state"] == "not_accepted"
    told = notes(world, "sun")[-1]
    assert "不在本社区居住" in told.body


# ------------------------------------------------------- 4. check, then commit; receipt


def test_check_your_answers_files_nothing_until_sent(app, as_, world):
    from plugins.gov_services.models import Application

    def count() -> int:
        with world.kernel.db.session_scope() as db:
            return len(db.scalars(select(Application.id)).all())

    sun = as_("sun")
    url = "/gov-services/services/overseas_chinese_registry/apply"
    data = {"csrf_token": csrf_token(sun, url), "f_country": "泰国"}
    n = count()
    check = sun.post(url, data=data)
    text = check.get_data(as_text=True)
    assert check.status_code == 200 and 'id="check-answers"' in text and "泰国" in text
    assert count() == n  # nothing filed by the check
    edit = sun.post(url, data=dict(data, step="edit"))
    assert edit.status_code == 200 and 'value="泰国"' in edit.get_data(as_text=True)
    blank = sun.post(url, data={"csrf_token": data["csrf_token"], "step": "send"})
    assert blank.status_code == 400 and "error-summary" in blank.get_data(as_text=True)
    assert count() == n
    sent = sun.post(url, data=dict(data, step="send"))
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/receipt")
    assert count() == n + 1
    receipt = page(sun, sent.headers["Location"])
    app_id = int(sent.headers["Location"].split("/")[-2])
    assert 'id="receipt-reference"' in receipt and f"{app_id:06d}</strong>" in receipt
    assert as_("qian").get(sent.headers["Location"]).status_code == 404  # not theirs


# ------------------------------------------------------------- 7. the office's day


def test_dates_count_from_the_offices_day_at_23_30_utc(as_, world, monkeypatch):
    """23:30 UTC on Monday 9 March 2026 is 07:30 on Tuesday in Beijing: the case is filed
    on Tuesday, so five working days end on Tuesday the 17th, not Monday the 16th; and at
    23:30 UTC on 31 December the reference already carries the new year."""
    from plugins.gov_services.services import gov, vocabulary

    g = gov(world.kernel)
    monkeypatch.setattr(vocabulary, "utcnow", lambda: datetime(2026, 3, 9, 23, 30, tzinfo=UTC))
    qian = as_("qian")
    resp = post(qian, f"{API}/applications", {"service_code": "senior_card", "answers": {}})
    assert resp.status_code == 201, resp.json
    assert resp.json["due_on"] == "2026-03-17" == g.calendar.add(date(2026, 3, 10), 5).isoformat()
    # overdue on the office's day: due 16 March, and it is the 17th in Beijing
    monkeypatch.setattr(vocabulary, "utcnow", lambda: datetime(2026, 3, 16, 23, 30, tzinfo=UTC))
    from plugins.gov_services.models import Application
    from plugins.gov_services.services import deadline_status

    with world.kernel.db.session_scope() as db:
        row = db.get(Application, resp.json["id"])
        row.due_on = date(2026, 3, 16)
        assert deadline_status(row, g) == "overdue"
        db.rollback()
    assert act(as_("worker"), resp.json["id"], "withdraw").status_code == 403  # theirs
    assert act(qian, resp.json["id"], "withdraw").json["state"] == "withdrawn"
    monkeypatch.setattr(vocabulary, "utcnow", lambda: datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    resp = post(qian, f"{API}/applications", {"service_code": "senior_card", "answers": {}})
    assert resp.json["reference"].startswith("GS2027"), resp.json["reference"]
    assert act(qian, resp.json["id"], "withdraw").status_code == 200


# ------------------------------------------------------------------ 10. 公示, whole period


def test_a_public_notice_is_public_for_its_whole_period(app, as_, world):
    from plugins.gov_services.models import Application

    sun, worker, street = as_("sun"), as_("worker"), as_("street")
    body = {"service_code": "minimum_living_allowance",
            "answers": {"household_income": "500", "assets": "无", "consent": True}}
    resp = post(sun, f"{API}/applications", body)
    assert resp.status_code == 201, resp.json
    app_id, ref = resp.json["id"], resp.json["reference"]
    act(worker, app_id, "accept")
    act(worker, app_id, "pass")
    act(street, app_id, "pass")
    notice = act(street, app_id, "pass", comment="拟同意，公示")
    assert notice.json["state"] == "public_notice"
    told = notes(world, "sun")[-1]
    assert told.title.startswith("公示中")
    anonymous = app.test_client()
    board = page(anonymous, "/gov-services/notices")
    assert f'data-reference="{ref}"' in board and "孙**" in board and "孙老伯" not in board
    # refused before the period ends: 409 in the API, no button on the page
    early = act(street, app_id, "end_notice")
    assert early.status_code == 409 and notice.json["due_on"] in early.json["error"]["message"]
    case = page(street, f"/gov-services/applications/{app_id}")
    assert 'value="end_notice"' not in case and 'id="notice-runs"' in case
    assert 'id="notice-period"' in page(sun, f"/gov-services/applications/{app_id}")
    with world.kernel.db.session_scope() as db:
        db.get(Application, app_id).due_on = app_today() - timedelta(days=1)
    assert 'value="end_notice"' in page(street, f"/gov-services/applications/{app_id}")
    assert act(street, app_id, "end_notice").json["state"] == "approved"
    assert ref not in page(anonymous, "/gov-services/notices")
    assert page(as_("sun", "en"), "/gov-services/notices").count("No application is in") == 1
