"""What a district's administrator keeps without the CLI — departments (add, rename, close,
reopen), routing rules with their own answer limit, members — through the API and the
pages, every change audited; escalation reaching whoever holds the supervise permission
within the matter's places; the resident told of the answer and of a reopening."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from core.hookspecs import PluginInfo, hookimpl
from core.testing import C1, C2, RegistryData, csrf_token, ensure_user
from core.toolkit import kernel_of
from plugins.matters import SUPERVISE
from plugins.matters import services as svc
from plugins.matters.models import Matter, MattersDepartment, MattersRoute
from tests.plugins.matters.helpers import bearer, load_routing, member

API = "/api/v1/matters"
SETTINGS = {"sign_days": 1, "answer_days": {}, "max_reopen": 1,
            "caller_data_retention_days": 30}
#: A Monday, 10:00 in Beijing.
MONDAY = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


class InspectorRole:
    """A deployment's own role, declared with no matters permission: the administrator
    grants it the supervise permission in the role matrix."""

    info = PluginInfo(id="district", version="0", title="District roles (test)")

    @hookimpl
    def default_roles(self):
        return {"district_inspector": []}


@pytest.fixture
def app(make_app):
    app = make_app(plugins=["matters", "district"], extra={"district": InspectorRole()},
                   config={"app": {"timezone": "Asia/Shanghai"}})
    load_routing(app)
    return app


def _audit(app, action: str) -> list:
    from core.audit.models import AuditEntry

    with app.app_context(), kernel_of(app).db.session_scope() as s:
        return list(s.scalars(select(AuditEntry.target_id).where(AuditEntry.action == action)))


def _file(app, **kw) -> Matter:
    kernel = kernel_of(app)
    args = {"source": "hotline", "category": "complaint", "summary": "窗口服务态度差",
            "community": C1, "settings": SETTINGS, "now": MONDAY}
    args.update(kw)
    with app.app_context(), kernel.db.session_scope() as s:
        m = svc.file_matter(s, kernel.bus, **args)
        s.flush()
        s.expunge(m)
        return m


def test_api_departments_and_routes_by_the_administrator(app, client, token_for):
    admin = bearer(token_for("admin"))
    worker = bearer(token_for("community_worker"))
    body = {"code": "service", "name": "街道政务服务中心", "name_en": "Street service centre"}
    assert client.post(f"{API}/departments", headers=worker, json=body).status_code == 403
    made = client.post(f"{API}/departments", headers=admin, json=body)
    assert made.status_code == 201 and made.json["active"] is True
    again = client.post(f"{API}/departments", headers=admin, json=body)
    assert again.status_code == 409 and "code" in again.json["error"]["fields"]
    assert client.post(f"{API}/departments", headers=admin, json={
        **body, "code": "Bad Code"}).status_code == 422
    office = client.post(f"{API}/departments", headers=admin, json={
        "code": "c2office", "name": "安康社区服务站", "kind": "community"})
    assert office.status_code == 409 and "community" in office.json["error"]["fields"]
    renamed = client.patch(f"{API}/departments/service", headers=admin,
                           json={"name": "街道政务服务办"})
    assert renamed.json["name"] == "街道政务服务办"
    assert renamed.json["name_en"] == "Street service centre"
    assert client.patch(f"{API}/departments/nowhere", headers=admin,
                        json={"name": "x"}).status_code == 404

    before = _file(app)  # complaints go to the street office today
    assert before.department == "office"
    rule = client.post(f"{API}/routes", headers=admin, json={
        "category": "complaint", "place": C1[:9], "department": "service", "answer_days": 2})
    assert rule.status_code == 200 and rule.json["answer_days"] == 2
    assert client.post(f"{API}/routes", headers=admin, json={
        "category": "complaint", "place": C1[:9], "department": "nowhere"}).status_code == 409
    assert client.post(f"{API}/routes", headers=worker, json={
        "category": "complaint", "department": "service"}).status_code == 403
    listed = client.get(f"{API}/routes", headers=admin).json["items"]
    assert {"category": "complaint", "place": C1[:9], "department": "service",
            "answer_days": 2}.items() <= next(r for r in listed if r["id"] == rule.json["id"]
                                             ).items()

    after = _file(app)
    assert after.department == "service"
    assert after.answer_due == date(2026, 12, 9)  # the rule's 2 working days, not 5
    with app.app_context(), kernel_of(app).db.session_scope() as s:
        assert s.get(Matter, before.id).department == "office"  # filed matters stay

    # closing: refused while it has open matters (the count named), then while rules point
    refused = client.patch(f"{API}/departments/service", headers=admin, json={"active": False})
    assert refused.status_code == 409 and "1 件未办结" in refused.json["error"]["message"]
    member(app, "community_worker", "service")
    moved = client.post(f"{API}/matters/{after.id}/transfer", headers=worker,
                        json={"department": "office", "reason": "应由综合科办理"})
    assert moved.status_code == 200
    still = client.patch(f"{API}/departments/service", headers=admin, json={"active": False})
    assert still.status_code == 409 and "派发规则" in still.json["error"]["message"]
    assert client.delete(f"{API}/routes/{rule.json['id']}", headers=admin).status_code == 204
    assert client.delete(f"{API}/routes/{rule.json['id']}", headers=admin).status_code == 404
    closed = client.patch(f"{API}/departments/service", headers=admin, json={"active": False})
    assert closed.status_code == 200 and closed.json["active"] is False
    assert client.post(f"{API}/routes", headers=admin, json={
        "category": "noise", "department": "service"}).status_code == 409  # closed
    assert _file(app).department == "office"
    assert client.patch(f"{API}/departments/service", headers=admin,
                        json={"active": True}).json["active"] is True

    assert _audit(app, "matters.department.created") == ["service"]
    assert _audit(app, "matters.department.renamed") == ["service"]
    assert _audit(app, "matters.department.closed") == ["service"]
    assert _audit(app, "matters.department.reopened") == ["service"]
    assert _audit(app, "matters.route.set") == [str(rule.json["id"])]
    assert _audit(app, "matters.route.deleted") == [str(rule.json["id"])]
    assert _audit(app, "matters.member.added") == ["service"]


def test_pages_add_a_department_route_to_it_and_close_it(app, client_as):
    RegistryData(app).places()
    admin = client_as("admin")
    assert client_as("community_worker").get("/matters/departments/new").status_code == 403
    token = csrf_token(admin, "/matters/departments/new")
    bad = admin.post("/matters/departments/new", data={
        "csrf_token": token, "code": "Water!", "name": "", "kind": "department"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "请填写部门名称" in html and "部门代码只能使用" in html
    assert 'value="Water!"' in html  # the input is kept
    no_place = admin.post("/matters/departments/new", data={
        "csrf_token": token, "code": "c2", "name": "安康社区服务站", "kind": "community"})
    assert no_place.status_code == 400 and "请选择该机构服务的社区" in no_place.get_data(
        as_text=True)
    ok = admin.post("/matters/departments/new", data={
        "csrf_token": token, "code": "water", "name": "区水务局", "name_en": "Water bureau",
        "kind": "department"})
    assert ok.status_code == 302
    listing = admin.get("/matters/departments").get_data(as_text=True)
    assert "区水务局" in listing and "/matters/departments/water" in listing

    form = admin.get("/matters/routes/new").get_data(as_text=True)
    assert 'value="*"' in form and f'value="{C1}"' in form and 'value="water"' in form
    blank = admin.post("/matters/routes/new", data={"csrf_token": token, "answer_days": "x"})
    assert blank.status_code == 400 and "请选择部门" in blank.get_data(as_text=True)
    assert "请填写 1 到 60 之间的工作日数" in blank.get_data(as_text=True)
    saved = admin.post("/matters/routes/new", data={
        "csrf_token": token, "category": "roads", "place": C1, "department": "water",
        "answer_days": "4"})
    assert saved.status_code == 302
    with app.app_context(), kernel_of(app).db.session_scope() as s:
        rule = s.scalar(select(MattersRoute).where(MattersRoute.department == "water"))
        assert (rule.category, rule.place, rule.answer_days) == ("roads", C1, 4)
        rule_id = rule.id
    assert _file(app, category="roads").department == "water"  # the community's rule wins
    assert _file(app, category="roads", community=C2).department == "urban"

    edit = admin.get(f"/matters/routes/{rule_id}").get_data(as_text=True)
    assert "区水务局" in edit
    too_long = admin.post(f"/matters/routes/{rule_id}", data={
        "csrf_token": token, "department": "water", "answer_days": "61"})
    assert too_long.status_code == 400 and "请填写 1 到 60" in too_long.get_data(as_text=True)
    closing = admin.post("/matters/departments/water/close", data={"csrf_token": token})
    page = closing.get_data(as_text=True)
    assert closing.status_code == 409 and "还有 1 件未办结诉求" in page

    renamed = admin.post("/matters/departments/water", data={
        "csrf_token": token, "name": "区水务局排水科", "name_en": "Drainage section"})
    assert renamed.status_code == 302
    with app.app_context(), kernel_of(app).db.session_scope() as s:
        assert s.scalar(select(MattersDepartment.name).where(
            MattersDepartment.code == "water")) == "区水务局排水科"
    assert admin.post(f"/matters/routes/{rule_id}/delete",
                      data={"csrf_token": token}).status_code == 302
    assert admin.get(f"/matters/routes/{rule_id}").status_code == 404
    assert _audit(app, "matters.route.deleted") == [str(rule_id)]


def test_english_admin_pages_speak_english(app, client_as):
    import re

    RegistryData(app).places()
    admin = client_as("admin")
    admin.set_cookie("shequ_lang", "en")
    admin.get("/")  # the sign-in's flash
    for path in ("/matters/departments", "/matters/departments/new", "/matters/routes/new",
                 "/matters/departments/urban"):
        html = admin.get(path).get_data(as_text=True)
        main = re.search(r"<main.*?</main>", html, re.S).group(0)
        main = re.sub(r'value="[^"]*"', "", main)  # the department's name being edited
        for data in ("和平里社区", "安康社区", "和平街道"):  # place names are data
            main = main.replace(data, "")
        assert not re.search(r"[\u4e00-\u9fff]", main), (path, re.findall(
            r"[^<>]*[\u4e00-\u9fff][^<>]*", main))


def test_escalation_reaches_holders_of_supervise_in_scope(app):
    from core.identity.models import Notification
    from core.identity.services import set_role_permission

    kernel = kernel_of(app)
    inspector = ensure_user(app, "district_inspector")
    officer = ensure_user(app, "street_officer")
    admin = ensure_user(app, "admin")
    data = RegistryData(app)
    data.assign("district_inspector", C1)
    data.assign("street_officer", C2)  # another place: not told of C1's matter
    with app.app_context(), kernel.db.session_scope() as s:
        from core.identity.models import User

        set_role_permission(s, role="district_inspector", permission=SUPERVISE, granted=True,
                            admin=s.get(User, admin.id), defaults=kernel.roles,
                            known_permissions=kernel.permissions)
    _file(app, category="streetlight")
    with app.app_context(), kernel.db.session_scope() as s:
        assert svc.escalate_overdue(s, kernel.bus, now=MONDAY + timedelta(days=2)) == 1
    with app.app_context(), kernel.db.session_scope() as s:
        told = {n.user_id for n in s.scalars(select(Notification).where(
            Notification.source == "matters"))}
    assert inspector.id in told and officer.id not in told


def test_resident_told_of_the_answer_and_of_a_reopening(app):
    from core.identity.models import Notification

    data = RegistryData(app)
    person = data.person("王芳", community=C1)
    resident = data.bind("resident", person)
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as s:
        svc.set_route(s, category="complaint", place=C1[:9], department="office",
                      answer_days=8)
    m = _file(app, person_id=person)
    assert m.answer_due == date(2026, 12, 17)  # the rule's 8 working days from Monday
    with app.app_context(), kernel.db.session_scope() as s:
        matter = s.get(Matter, m.id)
        svc.sign(s, matter, actor_id=None)
        svc.answer(s, kernel.bus, matter, text="已约谈窗口人员", actor_id=None)
    with app.app_context(), kernel.db.session_scope() as s:
        notes = list(s.scalars(select(Notification).where(
            Notification.user_id == resident.id).order_by(Notification.id)))
        assert len(notes) == 1 and "已答复" in notes[0].title  # the reply
        assert "满意" in notes[0].body and notes[0].link == f"/matters/{m.id}"  # rate it
        matter = s.get(Matter, m.id)
        svc.rate(s, kernel.bus, matter, rating="unsatisfied", actor_id=None, via="call",
                 settings=SETTINGS, now=MONDAY + timedelta(days=1))
        assert matter.state == "signed"
        assert matter.answer_due == date(2026, 12, 18)  # the rule's 8 again, from Tuesday
    with app.app_context(), kernel.db.session_scope() as s:
        notes = list(s.scalars(select(Notification).where(
            Notification.user_id == resident.id).order_by(Notification.id)))
        assert len(notes) == 2 and "重新办理" in notes[1].title
        assert notes[1].link == f"/matters/{m.id}"


def test_api_members_go_through_the_department_lookup(app, client, token_for):
    """Adding or removing a member finds the department the way every other operation
    does: 404 for none (a URL no row can hold included, never a database error), 409 for
    a closed one, and a community office's member must be assigned its community."""
    admin = bearer(token_for("admin"))
    worker = ensure_user(app, "community_worker")
    for code in ("nowhere", "urban%00", "x" * 41, "%E5%9F%8E%0A"):
        for answer in (client.post(f"{API}/departments/{code}/members", headers=admin,
                                   json={"user_id": worker.id}),
                       client.get(f"{API}/departments/{code}/members", headers=admin),
                       client.delete(f"{API}/departments/{code}/members/{worker.id}",
                                     headers=admin),
                       client.patch(f"{API}/departments/{code}", headers=admin,
                                    json={"name": "x"})):
            assert answer.status_code == 404, (code, answer.json)
            assert answer.json["error"]["message"]

    # a community office: only staff assigned its community work its matters
    office = f"c{C2}"
    refused = client.post(f"{API}/departments/{office}/members", headers=admin,
                          json={"user_id": worker.id})
    assert refused.status_code == 409 and "user_id" in refused.json["error"]["fields"]
    assert "请先为其分配该社区" in refused.json["error"]["message"]
    RegistryData(app).assign("community_worker", C1)
    assert client.post(f"{API}/departments/{office}/members", headers=admin,
                       json={"user_id": worker.id}).status_code == 409  # C1 is not C2
    RegistryData(app).assign("community_worker", C2)
    added = client.post(f"{API}/departments/{office}/members", headers=admin,
                        json={"user_id": worker.id})
    assert added.status_code == 200 and added.json["user_ids"] == [worker.id]

    # a closed department takes no new members; its members can still be removed
    made = client.post(f"{API}/departments", headers=admin,
                       json={"code": "archive", "name": "档案室"})
    assert made.status_code == 201
    member(app, "community_worker", "archive")
    assert client.patch(f"{API}/departments/archive", headers=admin,
                        json={"active": False}).status_code == 200
    other = ensure_user(app, "department_staff")
    closed = client.post(f"{API}/departments/archive/members", headers=admin,
                         json={"user_id": other.id})
    assert closed.status_code == 409 and "department" in closed.json["error"]["fields"]
    assert client.get(f"{API}/departments/archive/members",
                      headers=admin).json["user_ids"] == [worker.id]
    gone = client.delete(f"{API}/departments/archive/members/{worker.id}", headers=admin)
    assert gone.status_code == 200 and gone.json["user_ids"] == []
    assert _audit(app, "matters.member.added") == [office, "archive"]
    assert _audit(app, "matters.member.removed") == ["archive"]


def test_transfer_names_a_department_on_one_line(app, client, token_for):
    member(app, "community_worker", "office")
    worker = bearer(token_for("community_worker"))
    matter = _file(app)
    for bad in ("civ\nil", "civ\x00il", "civ\til", "", "x" * 41):
        answer = client.post(f"{API}/matters/{matter.id}/transfer", headers=worker,
                             json={"department": bad, "reason": "应由民政科办理"})
        assert answer.status_code == 422, bad
        assert "department" in answer.json["error"]["fields"]
    moved = client.post(f"{API}/matters/{matter.id}/transfer", headers=worker,
                        json={"department": "civil", "reason": "应由民政科办理"})
    assert moved.status_code == 200 and moved.json["department"] == "civil"
