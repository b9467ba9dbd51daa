"""The pages: the console's slot (commerce offers the matter beside a ticket), filing on
the web verified and not, staff signing and answering, the resident's rating, the
call-back, statistics with its chart, departments' members; errors at the field."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core.testing import C1, RegistryData, access_count, csrf_token, ensure_user
from core.toolkit import kernel_of
from plugins.matters.models import Matter, MattersMember
from tests.plugins.matters.helpers import load_routing, member


@pytest.fixture
def app(make_app):
    app = make_app(plugins=["commerce", "matters"])
    load_routing(app)
    return app


def _token(html: str, prefix: str = "") -> str:
    match = re.search(rf'name="{prefix}csrf_token"(?: type="hidden")? value="([^"]+)"', html)
    assert match
    return match.group(1)


def _matter(app) -> Matter:
    with app.app_context(), kernel_of(app).db.session_scope() as s:
        m = s.scalars(select(Matter).order_by(Matter.id.desc())).first()
        s.expunge(m)
        return m


def test_the_console_offers_a_matter_and_files_it(app, client_as):
    data = RegistryData(app)
    person = data.person("王芳", phone="13912345678")
    operator = client_as("hotline_operator")
    token = csrf_token(operator, "/commerce/console")
    found = operator.post("/commerce/console", data={"phone": "13912345678",
                                                     "csrf_token": token})
    html = found.get_data(as_text=True)
    assert 'data-slot="commerce.console.after_caller"' in html
    assert 'action="/matters/console"' in html and 'name="matter-person_id"' in html
    slot_token = _token(html, "matter-")
    blank = operator.post("/matters/console", data={"matter-csrf_token": slot_token,
                                                    "matter-person_id": str(person)})
    assert blank.status_code == 400 and "请选择诉求类别" in blank.get_data(as_text=True)
    filed = operator.post("/matters/console", data={
        "matter-csrf_token": slot_token, "matter-person_id": str(person),
        "matter-category": "streetlight", "matter-summary": "北门路灯不亮",
        "matter-location": "北门"})
    assert filed.status_code == 302
    m = _matter(app)
    assert (m.source, m.person_id, m.community, m.department) == ("hotline", person, C1,
                                                                  "urban")
    page = operator.get(filed.headers["Location"]).get_data(as_text=True)
    assert m.reference in page and "街道城市管理科" in page and "王*" in page
    assert access_count(app, person, via="matters") >= 1  # the display was logged


def test_an_unregistered_caller_on_the_console(app, client_as):
    RegistryData(app).places()
    operator = client_as("hotline_operator")
    token = csrf_token(operator, "/commerce/console")
    html = operator.post("/commerce/console", data={"phone": "13700000000",
                                                    "csrf_token": token}).get_data(as_text=True)
    assert html.count('data-slot="commerce.console.after_caller"') == 1
    assert 'name="matter-community"' in html
    no_place = operator.post("/matters/console", data={
        "matter-csrf_token": _token(html, "matter-"), "matter-category": "noise",
        "matter-summary": "施工噪声"})
    assert no_place.status_code == 400 and "请选择社区" in no_place.get_data(as_text=True)
    done = operator.post("/matters/console", data={
        "matter-csrf_token": _token(html, "matter-"), "matter-category": "noise",
        "matter-summary": "施工噪声", "matter-community": C1,
        "matter-caller_name": "赵六", "matter-caller_phone": "13700000000"})
    assert done.status_code == 302
    page = operator.get(done.headers["Location"]).get_data(as_text=True)
    assert "赵*" in page and "137****0000" in page and "13700000000" not in page


def test_resident_files_staff_answer_resident_rates(app, client_as):
    data = RegistryData(app)
    person = data.person("李娟")
    data.bind("resident", person)
    resident = client_as("resident")
    form = resident.get("/matters/new").get_data(as_text=True)
    assert 'name="community"' not in form  # verified: the registry knows the place
    token = _token(form)
    bad = resident.post("/matters/new", data={"csrf_token": token, "summary": ""})
    assert bad.status_code == 400 and "请说明诉求内容" in bad.get_data(as_text=True)
    ok = resident.post("/matters/new", data={"csrf_token": token, "category": "policy",
                                             "summary": "高龄津贴标准？"})
    assert ok.status_code == 302
    m = _matter(app)
    assert (m.department, m.account_id is not None, m.caller_phone) == ("civil", True, "")

    member(app, "community_worker", "civil")
    staff = client_as("community_worker")
    page = staff.get(f"/matters/{m.id}").get_data(as_text=True)
    assert "签收此诉求" in page and "李*" in page
    t = _token(page)
    assert staff.post(f"/matters/{m.id}/answer", data={"csrf_token": t,
                                                       "answer": "x"}).status_code == 409
    assert staff.post(f"/matters/{m.id}/sign", data={"csrf_token": t}).status_code == 302
    empty = staff.post(f"/matters/{m.id}/answer", data={"csrf_token": t, "answer": ""})
    assert empty.status_code == 400 and "请填写答复内容" in empty.get_data(as_text=True)
    assert staff.post(f"/matters/{m.id}/answer", data={
        "csrf_token": t, "answer": "每月发放，标准见公告。"}).status_code == 302

    mine = resident.get(f"/matters/{m.id}").get_data(as_text=True)
    assert "每月发放" in mine and "您对答复满意吗" in mine
    assert resident.post(f"/matters/{m.id}/rate", data={"csrf_token": token,
                                                        "rating": "satisfied"}).status_code == 302
    assert _matter(app).state == "closed"
    other = client_as("hotline_operator")  # did not file it: 404
    assert other.get(f"/matters/{m.id}").status_code == 404


def test_unverified_resident_and_the_call_back(app, client_as):
    RegistryData(app).places()
    resident = client_as("resident")
    form = resident.get("/matters/new").get_data(as_text=True)
    assert 'name="community"' in form
    ok = resident.post("/matters/new", data={
        "csrf_token": _token(form), "category": "sanitation", "summary": "垃圾没清运",
        "community": C1, "caller_name": "钱七", "caller_phone": "13600001111"})
    assert ok.status_code == 302
    m = _matter(app)
    assert (m.person_id, m.caller_name) == (None, "钱七")


def test_callback_stats_and_departments(app, client_as):
    RegistryData(app).places()
    operator = client_as("hotline_operator")
    html = operator.post("/commerce/console", data={
        "phone": "13700000001", "csrf_token": csrf_token(operator, "/commerce/console")}
    ).get_data(as_text=True)
    operator.post("/matters/console", data={
        "matter-csrf_token": _token(html, "matter-"), "matter-category": "roads",
        "matter-summary": "井盖缺失", "matter-community": C1})
    m = _matter(app)
    admin = client_as("admin")
    t = csrf_token(admin, f"/matters/{m.id}")
    admin.post(f"/matters/{m.id}/sign", data={"csrf_token": t})
    admin.post(f"/matters/{m.id}/answer", data={"csrf_token": t, "answer": "已补装"})
    assert _matter(app).replied_via == ""  # nobody to notify: the hotline calls back
    page = operator.get(f"/matters/{m.id}").get_data(as_text=True)
    assert "电话回访居民" in page
    called = operator.post(f"/matters/{m.id}/callback", data={
        "csrf_token": _token(page), "rating": "basic"})
    assert called.status_code == 302
    assert (_matter(app).replied_via, _matter(app).state) == ("called", "closed")

    stats = client_as("auditor").get("/matters/stats").get_data(as_text=True)
    assert "<svg" in stats and "街道城市管理科" in stats and "100%" in stats

    t = csrf_token(admin, "/matters/departments")
    missing = admin.post("/matters/departments", data={"csrf_token": t,
                                                       "department": "urban",
                                                       "username": "nobody"})
    assert missing.status_code == 400 and "请选择工作人员账户" in missing.get_data(as_text=True)
    worker = ensure_user(app, "community_worker")
    assert admin.post("/matters/departments", data={
        "csrf_token": t, "department": "urban", "username": worker.username}
    ).status_code == 302
    with app.app_context(), kernel_of(app).db.session_scope() as s:
        dept = select(MattersMember.department).where(MattersMember.user_id == worker.id)
        assert s.scalar(dept) == "urban"
    assert admin.post("/matters/departments", data={
        "csrf_token": t, "remove": "urban", "user_id": str(worker.id)}).status_code == 302
    with app.app_context(), kernel_of(app).db.session_scope() as s:
        assert s.scalar(select(MattersMember.id)) is None


def test_english_pages_speak_english(app, client_as):
    """No Chinese left in the English pages' own words (the data may be Chinese)."""
    data = RegistryData(app)
    person = data.person("李娟")
    data.bind("resident", person)
    resident = client_as("resident")
    resident.set_cookie("shequ_lang", "en")
    form = resident.get("/matters/new").get_data(as_text=True)
    resident.post("/matters/new", data={"csrf_token": _token(form), "category": "policy",
                                        "summary": "x"})
    m = _matter(app)
    for path in ("/matters/", "/matters/new", f"/matters/{m.id}"):
        html = resident.get(path).get_data(as_text=True)
        main = re.search(r"<main.*?</main>", html, re.S).group(0)
        main = main.replace("Street civil affairs office", "")
        assert not re.search(r"[\u4e00-\u9fff]", main), (path, re.findall(
            r"[^<>]*[\u4e00-\u9fff][^<>]*", main))
    assert "Street civil affairs office" in resident.get(f"/matters/{m.id}").get_data(
        as_text=True)
