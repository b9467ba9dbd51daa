"""The rules of government matters: routing, the clocks in working days, sign, transfer,
answer, rating and reopening, escalation with a fixed clock, erasure, the grid finding,
the events, and who sees what (API)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.hookspecs import PluginInfo, hookimpl
from core.testing import C1, C2, RegistryData, assert_api_fuzzes, ensure_user
from core.toolkit import kernel_of
from plugins.matters import services as svc
from plugins.matters.models import Matter, MattersStep
from tests.plugins.matters.helpers import bearer, load_routing, member

API = "/api/v1/matters"
SETTINGS = {"sign_days": 1, "answer_days": {}, "max_reopen": 1,
            "caller_data_retention_days": 30}
#: A Monday, 10:00 in Beijing.
MONDAY = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def app(make_app):
    app = make_app(plugins=["matters"], config={"app": {"timezone": "Asia/Shanghai"}})
    load_routing(app)
    return app


def _file(session, bus, **kw):
    args = {"source": "hotline", "category": "streetlight", "summary": "路灯坏了",
            "community": C1, "settings": SETTINGS, "now": MONDAY}
    args.update(kw)
    return svc.file_matter(session, bus, **args)


def test_routing_prefers_the_most_specific_rule(app):
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as s:
        assert svc.route(s, "streetlight", C1).code == "urban"  # the street's rule
        assert svc.route(s, "other", C1).code == f"c{C1}"  # the community's committee
        assert svc.route(s, "other", C2).code == f"c{C2}"
        assert svc.route(s, "greenery", C1).code == "parks"  # anywhere
        assert svc.route(s, "other", "310101001001").code == "office"  # the '*' fallback


def test_clocks_in_working_days_transfer_and_reopen(app):
    kernel = kernel_of(app)
    friday = MONDAY + timedelta(days=4)
    with app.app_context(), kernel.db.session_scope() as s:
        m = _file(s, kernel.bus, now=friday)  # filed on a Friday
        assert m.reference == f"MT-2026-{m.id:06d}" and m.department == "urban"
        assert m.sign_due == date(2026, 12, 14)  # the next working day: Monday
        assert m.answer_due == date(2026, 12, 16)  # 3 working days (streetlight)
        with pytest.raises(svc.MatterError) as no_reason:
            svc.transfer(s, m, to="civil", reason=" ", actor_id=None, settings=SETTINGS)
        assert no_reason.value.field == "reason"
        svc.transfer(s, m, to="civil", reason="属于民政", actor_id=None, settings=SETTINGS,
                     now=MONDAY + timedelta(days=8))  # Tuesday 15th
        assert (m.department, m.state) == ("civil", "filed")
        assert m.sign_due == date(2026, 12, 16)  # a fresh signing day...
        assert m.answer_due == date(2026, 12, 16)  # ...the answer clock runs on
        svc.sign(s, m, actor_id=None)
        with pytest.raises(svc.MatterError):
            svc.sign(s, m, actor_id=None)  # not twice
        svc.answer(s, kernel.bus, m, text="已修复", actor_id=None)
        svc.rate(s, kernel.bus, m, rating="unsatisfied", actor_id=None, settings=SETTINGS,
                 now=MONDAY + timedelta(days=9))
        assert (m.state, m.reopened) == ("signed", 1)  # reopened once
        assert m.answer_due == date(2026, 12, 21)
        svc.answer(s, kernel.bus, m, text="再次修复", actor_id=None)
        svc.rate(s, kernel.bus, m, rating="unsatisfied", actor_id=None, settings=SETTINGS)
        assert m.state == "closed" and m.rating == "unsatisfied"  # not reopened twice


def test_configured_answer_days(make_app):
    app = make_app(plugins=["matters"], config={"plugins": {"matters": {
        "answer_days": {"streetlight": 10}}}})
    load_routing(app)
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as s:
        from core.toolkit import plugin_settings

        m = _file(s, kernel.bus, settings=plugin_settings("matters"))
        assert m.answer_due == date(2026, 12, 21)  # 10 working days after Monday 7th


def test_unknown_place_without_fallback_is_refused(app):
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as s:
        from plugins.matters.models import MattersRoute

        s.execute(MattersRoute.__table__.delete().where(MattersRoute.category == "*"))
        with pytest.raises(svc.MatterError) as exc:
            _file(s, kernel.bus, category="other", community="310101001001")
        assert exc.value.field == "category"


def test_overdue_escalation_with_a_fixed_clock(app):
    officer = ensure_user(app, "street_officer")
    data = RegistryData(app)
    data.assign("street_officer", C1)
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as s:
        late = _file(s, kernel.bus).id
        other = _file(s, kernel.bus, community=C2).id
        # Tuesday: the signing day itself, nothing is overdue yet
        assert svc.escalate_overdue(s, kernel.bus, now=MONDAY + timedelta(days=1)) == 0
        assert svc.escalate_overdue(s, kernel.bus, now=MONDAY + timedelta(days=2)) == 2
        assert svc.escalate_overdue(s, kernel.bus, now=MONDAY + timedelta(days=3)) == 0  # once
        m = s.get(Matter, late)
        assert m.escalated_at is not None and svc.is_overdue(m, date(2026, 12, 9))
        kinds = list(s.scalars(select(MattersStep.kind).where(MattersStep.matter_id == late)))
        assert kinds == ["filed", "escalated"]
        assert s.get(Matter, other).escalated_at is not None
    from core.identity.models import Notification

    with app.app_context(), kernel.db.session_scope() as s:
        notes = list(s.scalars(select(Notification).where(Notification.user_id == officer.id)))
        assert len(notes) == 1 and "已超期" in notes[0].title  # C1 only: their place


def test_erases_an_unregistered_callers_details_after_retention(app):
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as s:
        m = _file(s, kernel.bus, caller_name="李四", caller_phone="13800001111")
        svc.sign(s, m, actor_id=None)
        svc.answer(s, kernel.bus, m, text="好", actor_id=None)
        svc.rate(s, kernel.bus, m, rating="satisfied", actor_id=None, via="call",
                 settings=SETTINGS, now=MONDAY)
        assert m.replied_via == "called"
        assert svc.erase_caller_data(s, settings=SETTINGS, now=MONDAY + timedelta(days=29)) == 0
        assert svc.erase_caller_data(s, settings=SETTINGS, now=MONDAY + timedelta(days=31)) == 1
        assert (m.caller_name, m.caller_phone) == ("", "")
        assert svc.erase_caller_data(s, settings=SETTINGS, now=MONDAY + timedelta(days=40)) == 0


class FakeGrid:
    """Declares ``grid.finding.referred`` as the grid plugin does (the contract), so the
    test publishes a grid-shaped event without the grid plugin."""

    info = PluginInfo(id="grid", version="0", title="Grid (test)")

    @hookimpl
    def register_event_types(self, bus):
        from marshmallow import Schema, fields

        class Referred(Schema):
            finding_id = fields.Integer(required=True)
            kind = fields.String(required=True)
            community = fields.String(required=True)
            grid = fields.String(allow_none=True)
            person_id = fields.Integer(allow_none=True)
            household_id = fields.Integer(allow_none=True)
            category = fields.String(required=True)
            summary = fields.String(required=True)
            service_code = fields.String(allow_none=True)
            referred_by = fields.Integer(required=True)

        bus.declare("grid.finding.referred", Referred, "A finding was referred onward.")


def test_a_grid_finding_files_one_matter(make_app, events):
    app = make_app(plugins=["matters", "grid"], extra={"grid": FakeGrid()})
    load_routing(app)
    worker = ensure_user(app, "community_worker")
    kernel = kernel_of(app)
    payload = {"finding_id": 7, "kind": "matter", "community": C1, "grid": None,
               "person_id": None, "household_id": None, "category": "roads",
               "summary": "人行道砖松动", "service_code": None, "referred_by": worker.id}
    with app.app_context(), kernel.db.session_scope() as s:
        kernel.bus.publish(s, "grid.finding.referred", payload)
        kernel.bus.publish(s, "grid.finding.referred", payload)  # delivered twice
        kernel.bus.publish(s, "grid.finding.referred", {**payload, "finding_id": 8,
                                                        "kind": "incident"})
    RegistryData(app).deliver()
    with app.app_context(), kernel.db.session_scope() as s:
        rows = list(s.scalars(select(Matter)))
        assert [(m.source, m.source_id, m.department) for m in rows] == [("grid", 7, "urban")]


def test_events_carry_the_contract(app, events):
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as s:
        m = _file(s, kernel.bus)
        svc.sign(s, m, actor_id=None)
        svc.answer(s, kernel.bus, m, text="好", actor_id=None)
        svc.rate(s, kernel.bus, m, rating="basic", actor_id=None, settings=SETTINGS)
    assert events.names() == ["matters.matter.filed", "matters.matter.answered",
                              "matters.matter.closed"]
    payload = events.published[-1][1]
    assert set(payload) == {"matter_id", "reference", "community", "department", "category",
                            "source", "source_id", "person_id", "state"}
    assert payload["state"] == "closed" and payload["department"] == "urban"


def test_api_who_sees_what_and_the_steps(app, client, token_for):
    data = RegistryData(app)
    person = data.person("王芳", community=C1)
    data.bind("resident", person)
    resident = bearer(token_for("resident"))
    operator = bearer(token_for("hotline_operator"))
    member(app, "community_worker", "urban")
    staff = bearer(token_for("community_worker"))
    outsider = ensure_user(app, "community_worker", username="other_worker")
    assert outsider is not None

    filed = client.post(f"{API}/hotline", headers=operator, json={
        "person_id": person, "category": "streetlight", "summary": "北门路灯不亮"})
    assert filed.status_code == 201, filed.json
    mid = filed.json["id"]
    assert filed.json["department"] == "urban" and filed.json["caller"]  # masked name
    assert client.post(f"{API}/hotline", headers=operator, json={
        "person_id": 999999, "category": "roads", "summary": "x"}).status_code == 404
    assert client.post(f"{API}/hotline", headers=operator, json={
        "category": "roads", "summary": "x"}).status_code == 409  # no community
    assert client.post(f"{API}/hotline", headers=operator, json={
        "category": "nope", "summary": "x", "community": C1}).status_code == 422

    # the resident sees their own; the operator what they filed; the department its own
    assert client.get(f"{API}/matters", headers=resident).json["total"] == 1
    assert client.get(f"{API}/matters", headers=operator).json["total"] == 1
    assert client.get(f"{API}/matters", headers=staff).json["total"] == 1
    assert client.get(f"{API}/matters/{mid}", headers=resident).json["caller"] is None
    assert client.get(f"{API}/matters", headers=bearer(token_for("merchant"))).status_code == 403

    # a resident cannot sign; staff sign, answer; the resident rates
    assert client.post(f"{API}/matters/{mid}/sign", headers=resident).status_code == 403
    assert client.post(f"{API}/matters/{mid}/answer", headers=staff,
                       json={"answer": "好"}).status_code == 409  # sign first
    assert client.post(f"{API}/matters/{mid}/sign", headers=staff).json["state"] == "signed"
    assert client.post(f"{API}/matters/{mid}/rate", headers=resident,
                       json={"rating": "satisfied"}).status_code == 409  # not answered
    answered = client.post(f"{API}/matters/{mid}/answer", headers=staff,
                           json={"answer": "已安排维修"})
    assert answered.json["replied_via"] == "notified"
    rated = client.post(f"{API}/matters/{mid}/rate", headers=resident,
                        json={"rating": "satisfied"})
    assert rated.json["state"] == "closed"
    detail = client.get(f"{API}/matters/{mid}", headers=operator).json
    assert [st["kind"] for st in detail["steps"]] == [
        "filed", "signed", "answered", "rated", "closed"]
    stats = client.get(f"{API}/stats", headers=bearer(token_for("auditor"))).json["items"]
    urban = next(r for r in stats if r["department"] == "urban")
    assert urban["received"] == 1 and urban["satisfaction"] == 1.0


def test_department_staff_see_only_their_department(app, client, token_for):
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as s:
        lamp = _file(s, kernel.bus).id
        policy = _file(s, kernel.bus, category="policy").id
    member(app, "community_worker", "civil")
    staff = bearer(token_for("community_worker"))
    assert [m["id"] for m in client.get(f"{API}/matters", headers=staff).json["items"]] == [
        policy]
    assert client.get(f"{API}/matters/{lamp}", headers=staff).status_code == 404
    assert client.post(f"{API}/matters/{lamp}/sign", headers=staff).status_code == 404
    moved = client.post(f"{API}/matters/{policy}/transfer", headers=staff,
                        json={"department": "urban", "reason": "不是政策问题"})
    assert moved.status_code == 200 and moved.json["department"] == "urban"
    assert client.get(f"{API}/matters/{policy}", headers=staff).status_code == 404  # gone
    assert client.post(f"{API}/matters/{lamp}/transfer", headers=bearer(token_for("admin")),
                       json={"department": "nowhere", "reason": "x"}).status_code == 409


def test_api_web_filing_unverified_and_members(app, client, token_for):
    resident = bearer(token_for("resident"))
    no_place = client.post(f"{API}/matters", headers=resident,
                           json={"category": "noise", "summary": "夜里施工"})
    assert no_place.status_code == 409 and "community" in no_place.json["error"]["fields"]
    made = client.post(f"{API}/matters", headers=resident, json={
        "category": "noise", "summary": "夜里施工", "community": C2,
        "caller_name": "赵六", "caller_phone": "13900002222"})
    assert made.status_code == 201 and made.json["department"] == "urban"
    with app.app_context(), kernel_of(app).db.session_scope() as s:
        assert s.scalar(select(Matter.caller_phone)) == "13900002222"  # governed copy
    admin = bearer(token_for("admin"))
    worker = ensure_user(app, "community_worker")
    added = client.post(f"{API}/departments/urban/members", headers=admin,
                        json={"user_id": worker.id})
    assert added.status_code == 200 and worker.id in added.json["user_ids"]
    res_user = ensure_user(app, "resident")
    assert client.post(f"{API}/departments/urban/members", headers=admin,
                       json={"user_id": res_user.id}).status_code == 409  # staff only
    assert client.post(f"{API}/departments/none/members", headers=admin,
                       json={"user_id": worker.id}).status_code == 404
    gone = client.delete(f"{API}/departments/urban/members/{worker.id}", headers=admin)
    assert gone.json["user_ids"] == []
    names = client.get(f"{API}/departments", headers=admin).json["items"]
    assert {"code": "urban", "name": "街道城市管理科"}.items() <= next(
        d for d in names if d["code"] == "urban").items()


def test_api_survives_the_fuzzer(app):
    with app.app_context(), kernel_of(app).db.session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Matter)) == 0
    assert_api_fuzzes(app, API, max_examples=8)


def test_migrations_match_the_models(app):
    from core import migrate

    kernel = kernel_of(app)
    tree = next(t for t in migrate.trees_for(kernel.plugins) if t.owner == "matters")
    assert migrate.schema_diff(kernel.db.engine, tree) == []
    assert migrate.pending(kernel.db.engine, [tree]) == []
