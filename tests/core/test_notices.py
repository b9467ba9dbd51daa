"""Notices to many residents (issue 17 part 5): the audience is exactly the residents of
the place, counts before sending, opt-out versus urgent, scope refusals, the delivery
report, and the API's errors."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core.current import kernel_of
from core.db import utcnow
from core.identity.models import Notification, OutboundMessage, User
from core.notices import services
from core.notices.models import Notice, NoticeDelivery
from core.registry.models import Building, Community, Grid
from core.registry.testing import C1, C2, FakeActor, Scope
from core.testing import TEST_PASSWORD, csrf_token, deliver_events, ensure_user


@pytest.fixture
def town(app, registry_data):
    """Residents in building 3栋 (d1, d2), one in the next building 4栋 of the same
    community, one in community C2, one who moved out of the area, one who died, and an
    unverified account claiming a 3栋 resident. Returns ids and the worker (scope C1)."""
    rd = registry_data
    places = rd.places()
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as session:
        from core.registry import services as reg

        c1 = session.scalar(select(Community).where(Community.code == C1))
        g1 = session.scalar(select(Grid).where(Grid.community_id == c1.id))
        next_door = reg.ensure_dwelling(session, community=c1, grid=g1, estate="和平小区",
                                        building="4栋", unit="1单元", room="101",
                                        road="和平路90号")
        session.flush()
        next_id = next_door.id
    p = {
        "a": rd.person("李明", dwelling="d1", born="1950-03-01"),
        "b": rd.person("王芳", dwelling="d2", sex="F", born="1990-05-05"),
        "c": rd.person("赵强", dwelling=next_id),
        "d": rd.person("孙丽", dwelling="d3", sex="F"),
        "gone": rd.person("周杰", dwelling="d1"),
        "dead": rd.person("吴刚", dwelling="d2"),
        "claim": rd.person("郑爽", dwelling="d1"),
    }
    users = {
        "a": _resident(app, "res_a", p["a"], phone="13800000001", email="a@example.org"),
        "b": _resident(app, "res_b", p["b"], phone="13800000002", opt_out=True, locale="en"),
        "c": _resident(app, "res_c", p["c"], phone="13800000003"),
        "d": _resident(app, "res_d", p["d"], phone="13800000004"),
        "gone": _resident(app, "res_gone", p["gone"], phone="13800000005"),
        "dead": _resident(app, "res_dead", p["dead"], phone="13800000006"),
        "claim": _resident(app, "res_claim", p["claim"], phone="13800000007", verified=False),
    }
    rd.move(p["gone"], to=None)
    rd.die(p["dead"])
    worker = rd.assign("community_worker", C1)
    with app.app_context(), kernel.db.session_scope() as session:
        building = session.scalar(select(Building.id).where(Building.name == "3栋"))
        next_building = session.scalar(select(Building.id).where(Building.name == "4栋"))
    return {"persons": p, "users": users, "worker": worker, "building": building,
            "next_building": next_building, "places": places}


def _resident(app, username, person_id, *, phone=None, email=None, opt_out=False,
              locale=None, verified=True):
    user = ensure_user(app, "resident", username=username)
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as session:
        row = session.get(User, user.id)
        row.person_id = person_id
        row.verified_at = utcnow() if verified else None
        row.phone, row.phone_verified_at = phone, (utcnow() if phone else None)
        row.email, row.email_verified_at = email, (utcnow() if email else None)
        row.notices_opt_out = opt_out
        row.locale = locale
    return user.id


def _signed_in(app, username):
    client = app.test_client()
    token = csrf_token(client, "/account/login")
    resp = client.post("/account/login", data={"username": username,
                                               "password": TEST_PASSWORD,
                                               "csrf_token": token})
    assert resp.status_code == 302, resp.status_code
    return client


def _post_new(client, **data):
    token = csrf_token(client, "/notices/new")
    return client.post("/notices/new", data={"csrf_token": token, "urgency": "normal",
                                             **data})


def _count(page: str, name: str) -> int:
    match = re.search(rf'data-count="{name}">(\d+)<', page)
    assert match, name
    return int(match.group(1))


def _notified(app):
    with app.app_context(), kernel_of(app).db.session_scope() as session:
        notes = {n.user_id for n in session.scalars(
            select(Notification).where(Notification.source == "notices"))}
        sms = {m.recipient for m in session.scalars(
            select(OutboundMessage).where(OutboundMessage.template == "notice",
                                          OutboundMessage.channel == "sms"))}
    return notes, sms


def test_building_notice_reaches_every_resident_of_that_building_and_nobody_else(app, town):
    client = _signed_in(app, "test_community_worker")
    page = client.get("/notices/new").get_data(as_text=True)
    assert f'value="building:{town["building"]}"' in page  # offered in the picker
    place = f"building:{town['building']}"
    resp = _post_new(client, place=place, title="停水通知", body="明天9点至12点停水。",
                     action="preview")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200, page
    # residents a, b, the dead-or-gone excluded, claim (a person without a proved account)
    assert _count(page, "residents") == 3  # a, b, claim
    assert _count(page, "accounts") == 2  # a, b (claim's account is not verified)
    assert _count(page, "sms") == 2 and _count(page, "email") == 1
    assert _count(page, "opted_out") == 1 and _count(page, "external") == 1

    resp = _post_new(client, place=place, title="停水通知", body="明天9点至12点停水。",
                     action="send")
    assert resp.status_code == 302
    notice_id = int(resp.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    # the request returned before anything was delivered
    assert _notified(app) == (set(), set())
    deliver_events(app)
    notes, sms = _notified(app)
    users = town["users"]
    assert notes == {users["a"], users["b"]}
    assert sms == {"13800000001"}  # b opted out of non-urgent SMS; c, d, gone, dead: nothing
    with app.app_context(), kernel_of(app).db.session_scope() as session:
        emails = list(session.scalars(select(OutboundMessage).where(
            OutboundMessage.channel == "email", OutboundMessage.template == "notice")))
        assert [(m.recipient, m.subject, m.body) for m in emails] == [
            ("a@example.org", "停水通知", "明天9点至12点停水。")]
        notice = session.get(Notice, notice_id)
        assert notice.status == "done" and notice.done == notice.total == 6

    page = client.get(f"/notices/{notice_id}").get_data(as_text=True)
    assert "6 of 6" in page or "6 / 6" in page
    assert 'data-count="sms-opted_out">1<' in page
    assert 'data-count="email-no_channel">1<' in page
    assert 'data-count="inapp-sent">2<' in page
    assert "李*" in page and "李明" not in page  # masked names
    with app.app_context(), kernel_of(app).db.session_scope() as session:
        from core.audit.models import AccessEntry, AuditEntry

        logged = {e.subject_person_id for e in session.scalars(
            select(AccessEntry).where(AccessEntry.via == "notices"))}
        assert logged == {town["persons"]["a"], town["persons"]["b"]}
        audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "notices.sent"))
        assert audit is not None and audit.target_id == str(notice_id)


def test_urgent_notice_goes_to_those_who_opted_out_in_their_language(app, town):
    worker = FakeActor(id=town["worker"].id, username="w", scopes=[Scope("community", C1)])
    kernel = kernel_of(app)
    with app.test_request_context(), kernel.db.session_scope() as session:
        audience = services.Audience("building", building_id=town["building"])
        shown = services.preview(session, audience, worker, urgency="urgent")
        assert (shown.opted_out, shown.external) == (1, 2)
        services.send_notice(session, kernel.bus, worker, audience, title="Water cut",
                             body="Now.", urgency="urgent")
    deliver_events(app)
    with app.app_context(), kernel.db.session_scope() as session:
        rows = {m.recipient: m.subject for m in session.scalars(
            select(OutboundMessage).where(OutboundMessage.template == "notice",
                                          OutboundMessage.channel == "sms"))}
        assert set(rows) == {"13800000001", "13800000002"}
        assert rows["13800000002"] == "[Urgent] Water cut"  # b reads English
        assert rows["13800000001"].endswith("Water cut") and rows["13800000001"] != \
            "[Urgent] Water cut"  # a reads the default, Chinese


def test_delivery_is_throttled_in_batches_with_progress(app, town):
    worker = FakeActor(id=town["worker"].id, username="w", scopes=[Scope("community", C1)])
    kernel = kernel_of(app)
    with app.test_request_context(), kernel.db.session_scope() as session:
        notice = services.send_notice(session, kernel.bus, worker,
                                      services.Audience("community", code=C1),
                                      title="Meeting", body="")
        nid = notice.id
    with app.app_context(), kernel.db.session_scope() as session:
        notice = session.get(Notice, nid)
        # a, b, c (three accounts) x three channels; opted-out and no-channel rows are done
        assert notice.total == 9 and notice.status == "sending"
        start = notice.done
        assert services.deliver_batch(session, kernel.bus, nid, batch=2) == 2
        assert session.get(Notice, nid).done == start + 2
        assert session.get(Notice, nid).status == "sending"
    deliver_events(app)
    with app.app_context(), kernel.db.session_scope() as session:
        notice = session.get(Notice, nid)
        assert (notice.done, notice.status) == (9, "done")
        assert not session.scalar(select(NoticeDelivery.id).where(
            NoticeDelivery.notice_id == nid, NoticeDelivery.status == "pending"))


def test_group_within_a_community_by_age_and_sex(app, town):
    worker = FakeActor(id=1, username="w", scopes=[Scope("community", C1)])
    with app.test_request_context(), kernel_of(app).db.session_scope() as session:
        elders = services.preview(session, services.audience_from(
            {"kind": "group", "code": C1, "age_band": "elder"}), worker)
        women = services.preview(session, services.audience_from(
            {"kind": "group", "code": C1, "sex": "F"}), worker)
    assert (elders.residents, elders.accounts) == (1, 1)  # a, born 1950
    assert (women.residents, women.accounts) == (1, 1)  # b


def test_places_outside_the_scope_are_refused(app, town, client_as):
    other = FakeActor(id=2, username="w2", scopes=[Scope("community", C2)])
    nobody = FakeActor(id=3, username="w3", scopes=[])
    with app.test_request_context(), kernel_of(app).db.session_scope() as session:
        for actor in (other, nobody):
            for audience in (services.Audience("building", building_id=town["building"]),
                             services.Audience("community", code=C1)):
                with pytest.raises(services.NoticeError) as exc:
                    services.preview(session, audience, actor)
                assert exc.value.status == 403
        with pytest.raises(services.NoticeError) as exc:
            services.preview(session, services.Audience("community", code="999999999999"),
                             other)
        assert exc.value.status == 404
        # the pickers offer only the worker's own places
        offered = services.places_for(session, other)
        assert [c for c, _label in offered["community"]] == [C2]
        assert str(town["building"]) not in {b for b, _label in offered["building"]}

    # over HTTP: a worker of C2 cannot send to a C1 building, nor read a C1 notice
    admin_scoped = town["worker"]
    with app.test_request_context(), kernel_of(app).db.session_scope() as session:
        actor = FakeActor(id=admin_scoped.id, username="w", scopes=[Scope("community", C1)])
        nid = services.send_notice(session, kernel_of(app).bus, actor,
                                   services.Audience("building", building_id=town["building"]),
                                   title="Hello", body="").id
    w2 = ensure_user(app, "community_worker", username="worker_c2")
    from core.identity.services import set_scopes

    with app.app_context(), kernel_of(app).db.session_scope() as session:
        set_scopes(session, session.get(User, w2.id), [("community", C2)],
                   admin=session.get(User, ensure_user(app, "admin").id))
    client = _signed_in(app, "worker_c2")
    resp = _post_new(client, place=f"building:{town['building']}", title="x", action="send")
    assert resp.status_code == 400
    assert "只能向您负责的区域发送通知" in resp.get_data(as_text=True)
    assert client.get(f"/notices/{nid}").status_code == 404
    assert client.get("/notices/").status_code == 200
    assert "Hello" not in client.get("/notices/").get_data(as_text=True)
    resident = client_as("resident")
    assert resident.get("/notices/new").status_code == 403


def test_resident_opt_out_page(app, town):
    client = _signed_in(app, "res_a")
    page = client.get("/notices/preferences").get_data(as_text=True)
    assert 'checked' in page
    token = csrf_token(client, "/notices/preferences")
    resp = client.post("/notices/preferences", data={"csrf_token": token})
    assert resp.status_code == 302
    with app.app_context(), kernel_of(app).db.session_scope() as session:
        assert session.get(User, town["users"]["a"]).notices_opt_out is True
    resp = client.post("/notices/preferences", data={"csrf_token": token, "external": "y"})
    with app.app_context(), kernel_of(app).db.session_scope() as session:
        assert session.get(User, town["users"]["a"]).notices_opt_out is False
    assert client.post("/notices/preferences", data={}).status_code == 400  # CSRF


def test_api_preview_send_report_and_errors(app, town, token_for):
    auth = {"Authorization": f"Bearer {token_for('community_worker')}"}
    client = app.test_client()
    body = {"audience": {"kind": "building", "building_id": town["building"]}}
    resp = client.post("/api/v1/notices/preview", json=body, headers=auth)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["residents"] == 3 and resp.get_json()["accounts"] == 2

    resp = client.post("/api/v1/notices", json={**body, "title": ""}, headers=auth)
    assert resp.status_code == 422 and "title" in resp.get_json()["error"]["fields"]
    resp = client.post("/api/v1/notices/preview",
                       json={"audience": {"kind": "group", "code": C1}}, headers=auth)
    assert resp.status_code == 409  # schema-valid, refused by a rule
    assert "age_band" in resp.get_json()["error"]["fields"], resp.get_json()
    resp = client.post("/api/v1/notices/preview",
                       json={"audience": {"kind": "community", "code": C2}}, headers=auth)
    assert resp.status_code == 403 and resp.get_json()["error"]["message"]
    resp = client.post("/api/v1/notices/preview",
                       json={"audience": {"kind": "building", "building_id": 999999}},
                       headers=auth)
    assert resp.status_code == 404

    resp = client.post("/api/v1/notices", json={**body, "title": "停电", "urgency": "urgent"},
                       headers=auth)
    assert resp.status_code == 202, resp.get_json()
    nid = resp.get_json()["id"]
    assert resp.get_json()["progress"]["total"] == 6
    deliver_events(app)
    report = client.get(f"/api/v1/notices/{nid}", headers=auth).get_json()
    assert report["status"] == "done"
    assert report["counts"] == {"pending": 0, "sent": 5, "failed": 0, "no_channel": 1,
                                "opted_out": 0}
    assert {r["name"] for r in report["recipients"]} == {"李*", "王*"}
    assert client.get("/api/v1/notices/2147483646", headers=auth).status_code == 404
    resident = {"Authorization": f"Bearer {token_for('resident')}"}
    assert client.get(f"/api/v1/notices/{nid}", headers=resident).status_code == 403


def test_notices_api_survives_the_fuzzer(app, town, token_for):
    from core.testing import assert_api_fuzzes

    auth = {"Authorization": f"Bearer {token_for('community_worker')}"}
    assert_api_fuzzes(app, "/api/v1/notices", headers=auth, max_examples=15)
