"""The hotline's personal-data findings (issue 15), each reproduced, plus the governed
copies of what callers tell the hotline: masked by default, shown in full only for the
step that needs it, erased by the retention job, and the migration of old rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from commerce_kit import PHONE_ELDER, account, build_world, form_token, sign_in, token
from sqlalchemy import select, text

from core import migrate
from core.audit.models import AuditEntry
from core.identity.models import User
from core.identity.services import set_scopes
from core.registry.testing import C1, C2
from core.testing import access_log, build_test_app
from plugins.commerce import services as svc
from plugins.commerce.models import Ticket

API = "/api/v1/commerce"
OTHER_PHONE = "13700137000"  # 赵敏, in C2


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Any:
    app, cleanup = build_test_app(tmp_path_factory.mktemp("privacy"), plugins=["commerce"])
    w = build_world(app)
    w.app, w.kernel = app, app.extensions["shequ"]
    with w.kernel.db.session_scope() as s:
        account(app, s, "aud", "auditor")
        worker = s.get(User, w.worker)
        set_scopes(s, worker, [("community", C1)], admin=worker)
    w.api = app.test_client()
    w.worker_c = sign_in(app, "cworker")
    w.op_c = sign_in(app, "oper")
    # the elder (C1) and 赵敏 (C2) each file a ticket
    w.t_elder = w.api.post(f"{API}/tickets", headers=token(app, "elder"),
                           json={"category": "repairs", "description": "门锁坏了"}).json
    w.t_other = w.api.post(f"{API}/tickets", headers=token(app, "other"),
                           json={"category": "repairs", "description": "水管漏水"}).json
    yield w
    cleanup()


def ticket(w: Any, ticket_id: int) -> Ticket:
    with w.kernel.db.session_scope() as s:
        t = s.get(Ticket, ticket_id)
        s.expunge(t)
        return t


# ------------------------------------------------------------------ finding: the auditor


def test_auditor_gets_no_full_phone_or_room_from_the_ticket_api(w):
    """Was: the auditor (no registry permission) got every caller's phone and flat.
    Now an auditor without an assignment sees no ticket at all (deny by default), and one
    assigned a community sees its tickets masked."""
    h = token(w.app, "aud")
    listed = w.api.get(f"{API}/tickets", headers=h)
    assert listed.status_code == 200 and listed.json["items"] == []
    assert w.api.get(f"{API}/tickets/{w.t_elder['id']}", headers=h).status_code == 404
    with w.kernel.db.session_scope() as s:
        aud = s.scalar(select(User).where(User.username == "aud"))
        set_scopes(s, aud, [("community", C1)], admin=aud)
    body = w.api.get(f"{API}/tickets", headers=h)
    item = next(i for i in body.json["items"] if i["id"] == w.t_elder["id"])
    assert item["contact_phone"] == svc.mask_phone(PHONE_ELDER) and item["contact_full"] == []
    assert item["service_address"].endswith("****") and "1502" not in item["service_address"]
    assert PHONE_ELDER not in body.get_data(as_text=True)
    one = w.api.get(f"{API}/tickets/{w.t_elder['id']}", headers=h).json
    assert one["contact_phone"] == svc.mask_phone(PHONE_ELDER) and "1502" not in str(one)


# ------------------------------------------------------------------ finding: place scope


def test_a_community_worker_cannot_read_another_communitys_ticket(w):
    """Was: a worker of C1 read the ticket of a resident of C2 in full. Now 404 (page and
    API) and the queue does not list it; the hotline, which serves every caller, can."""
    tid = w.t_other["id"]
    assert w.worker_c.get(f"/commerce/tickets/{tid}").status_code == 404
    h = token(w.app, "cworker")
    assert w.api.get(f"{API}/tickets/{tid}", headers=h).status_code == 404
    ids = [i["id"] for i in w.api.get(f"{API}/tickets", headers=h).json["items"]]
    assert tid not in ids and w.t_elder["id"] in ids
    assert f"/commerce/tickets/{tid}\"" not in w.worker_c.get("/commerce/tickets").get_data(
        as_text=True)
    # their own community's ticket: masked, even though they may reveal in the registry
    mine = w.api.get(f"{API}/tickets/{w.t_elder['id']}", headers=h).json
    assert mine["contact_phone"] == svc.mask_phone(PHONE_ELDER)
    # the hotline is not place-scoped (still masked)
    op = w.api.get(f"{API}/tickets/{tid}", headers=token(w.app, "oper")).json
    assert op["contact_name"] == "赵敏" and op["contact_phone"] == svc.mask_phone(OTHER_PHONE)


# ------------------------------------------------------------------ finding: full phones


def test_full_contact_only_for_the_merchant_holding_the_open_ticket(w):
    """Was: lists and the merchant portal showed full phones indefinitely. Now the phone
    is in full only while the merchant holds the ticket open; before accepting and after
    completing it is masked (or absent), and every list masks it."""
    created = w.api.post(f"{API}/tickets", headers=token(w.app, "elder"),
                         json={"category": "repairs", "description": "换灯泡"}).json
    tid, holder = created["id"], created["merchant_id"]
    m_h = token(w.app, f"merch{w.merchants.index(holder)}")
    offered = w.api.get(f"{API}/portal/tickets/{tid}", headers=m_h).json
    assert offered["contact_phone"] == "" and "1502" not in offered["service_address"]
    accepted = w.api.post(f"{API}/portal/tickets/{tid}/accept", headers=m_h).json
    assert accepted["contact_phone"] == PHONE_ELDER and "1502" in accepted["service_address"]
    assert set(accepted["contact_full"]) == {"name", "phone", "address"}
    # the accept response itself is a display of the resident: logged in full
    full = [e for e in access_log(w.app, w.elder, via="commerce",
                                  actor=f"merch{w.merchants.index(holder)}")
            if not e["masked"]]
    assert full and "phone" in full[0]["fields"]
    listed = w.api.get(f"{API}/portal/tickets", headers=m_h).json["items"]
    assert next(i for i in listed if i["id"] == tid)["contact_phone"] == PHONE_ELDER
    staff_list = w.api.get(f"{API}/tickets", headers=token(w.app, "oper"))
    assert PHONE_ELDER not in staff_list.get_data(as_text=True)
    done = w.api.post(f"{API}/portal/tickets/{tid}/complete", headers=m_h,
                      json={"final_price": 50})
    assert done.status_code == 200
    assert done.json["contact_phone"] == "" and "1502" not in done.json["service_address"]
    later = w.api.get(f"{API}/portal/tickets", headers=m_h).get_data(as_text=True)
    assert PHONE_ELDER not in later
    assert ticket(w, tid).closed_at is not None


def test_the_operator_sees_the_phone_in_full_only_to_call_back(w):
    with w.kernel.db.session_scope() as s:
        t = svc.create_ticket(s, w.kernel.bus, channel="one_key", person_id=w.wife,
                              community=C1, category=None, description="", state="callback")
        tid = t.id
    page = w.op_c.get(f"/commerce/tickets/{tid}").get_data(as_text=True)
    assert "13900139001" in page  # the call-back step
    queue = w.op_c.get("/commerce/tickets?state=callback").get_data(as_text=True)
    assert "13900139001" not in queue and svc.mask_phone("13900139001") in queue
    entries = access_log(w.app, w.wife, via="commerce", actor="oper")
    assert any(not e["masked"] and e["fields"] == ["phone"] for e in entries)
    resp = w.op_c.post(f"/commerce/tickets/{tid}/callback", data={
        "csrf_token": form_token(w.op_c, f"/commerce/tickets/{tid}"),
        "category": "housekeeping", "description": "打扫"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    after = w.op_c.get(f"/commerce/tickets/{tid}").get_data(as_text=True)
    assert "13900139001" not in after  # received: the call is over
    t = ticket(w, tid)
    assert (t.caller_phone, t.caller_address) == ("", "")  # the registry's serve


# ------------------------------------------------------------------ callers' own copies


def test_a_caller_not_in_the_registry_through_the_console(w):
    client = w.op_c
    missing = client.post("/commerce/console", data={
        "csrf_token": form_token(client, "/commerce/console"), "phone": "13311112222"})
    page = missing.get_data(as_text=True)
    assert missing.status_code == 400 and 'name="unregistered"' in page
    bad = client.post("/commerce/console", data={
        "csrf_token": form_token(client, "/commerce/console"), "unregistered": "1",
        "contact_phone": "13311112222", "category": "repairs", "description": "修"})
    assert bad.status_code == 400 and "error-summary" in bad.get_data(as_text=True)
    resp = client.post("/commerce/console", data={
        "csrf_token": form_token(client, "/commerce/console"), "unregistered": "1",
        "caller_name": "孙先生", "contact_phone": "13311112222", "community": C2,
        "service_address": "安康街9号 2栋201", "category": "repairs", "description": "修门"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    tid = int(resp.headers["Location"].rsplit("/", 1)[1])
    t = ticket(w, tid)
    assert (t.person_id, t.caller_name, t.caller_phone, t.community) == (
        None, "孙先生", "13311112222", C2)
    page = client.get(f"/commerce/tickets/{tid}").get_data(as_text=True)
    assert "13311112222" not in page and "201" not in page and "未在人口库登记" in page
    with w.kernel.db.session_scope() as s:
        audited = s.scalars(select(AuditEntry).where(
            AuditEntry.action == "commerce.caller_data.shown",
            AuditEntry.target_id == str(tid))).all()
        assert audited and audited[-1].detail["masked"]
        assert "13311112222" not in str([a.detail for a in audited])
    # the merchant (丙维修 serves C2) holding it open sees it in full
    m_h = token(w.app, "merch2")
    assert w.api.post(f"{API}/portal/tickets/{tid}/accept", headers=m_h).status_code == 200
    seen = w.api.get(f"{API}/portal/tickets/{tid}", headers=m_h).json
    assert (seen["contact_name"], seen["contact_phone"]) == ("孙先生", "13311112222")
    assert seen["service_address"] == "安康街9号 2栋201"


def test_the_hotline_api_refuses_an_unregistered_caller_without_phone_or_community(w):
    h = token(w.app, "oper")
    body = {"caller_name": "周女士", "category": "repairs", "description": "修",
            "service_address": "和平路1号"}
    no_community = w.api.post(f"{API}/tickets/hotline", headers=h, json=body)
    assert no_community.status_code == 409 and "community" in no_community.json["error"]["fields"]
    no_phone = w.api.post(f"{API}/tickets/hotline", headers=h, json={**body, "community": C1})
    assert no_phone.status_code == 409 and "contact_phone" in no_phone.json["error"]["fields"]
    nowhere = w.api.post(f"{API}/tickets/hotline", headers=h,
                         json={**body, "community": "110105009999", "contact_phone": "1"})
    assert nowhere.status_code == 409


def test_a_resident_giving_their_registered_phone_keeps_no_copy(w):
    h = token(w.app, "elder")
    same = w.api.post(f"{API}/tickets", headers=h, json={
        "category": "repairs", "description": "修", "contact_phone": "138 0013 8000"}).json
    other = w.api.post(f"{API}/tickets", headers=h, json={
        "category": "repairs", "description": "修", "contact_phone": "13512345678",
        "service_address": "和平路88号 和平小区3栋2单元1502室"}).json
    assert ticket(w, same["id"]).caller_phone == ""
    t = ticket(w, other["id"])
    assert t.caller_phone == "13512345678"
    assert t.caller_address == ""  # the same as the registered address
    assert other["contact_phone"] == "13512345678"  # the owner sees their own


def test_retention_job_erases_callers_copies_after_the_case_closed(w):
    with w.kernel.db.session_scope() as s:
        old = svc.create_ticket(s, w.kernel.bus, channel="operator", person_id=None,
                                community=C1, category="repairs", description="修",
                                caller_name="吴先生", caller_phone="13600000001",
                                caller_address="和平路3号", settings={"auto_dispatch": False})
        fresh = svc.create_ticket(s, w.kernel.bus, channel="operator", person_id=w.husband,
                                  community=C1, category="repairs", description="修",
                                  caller_phone="13600000002",
                                  settings={"auto_dispatch": False})
        open_ = svc.create_ticket(s, w.kernel.bus, channel="operator", person_id=w.husband,
                                  community=C1, category="repairs", description="修",
                                  caller_phone="13600000003",
                                  settings={"auto_dispatch": False})
        svc.cancel(s, old.id, reason="重复")
        svc.cancel(s, fresh.id, reason="重复")
        old.closed_at = svc.utcnow() - timedelta(days=31)
        ids = (old.id, fresh.id, open_.id)
    with w.app.app_context():
        from plugins.commerce.jobs import erase_caller_data

        assert erase_caller_data(w.app) == "caller data erased from 1 ticket(s)"
        assert erase_caller_data(w.app) == "caller data erased from 0 ticket(s)"  # idempotent
    erased, kept, still_open = (ticket(w, i) for i in ids)
    assert (erased.caller_name, erased.caller_phone, erased.caller_address) == ("", "", "")
    assert erased.caller_erased_at is not None
    assert kept.caller_phone == "13600000002" and still_open.caller_phone == "13600000003"
    with w.kernel.db.session_scope() as s:
        kinds = [e.kind for e in svc.timeline(s, erased.id)]
        assert kinds[-1] == "caller_data_erased"
        assert s.scalar(select(AuditEntry).where(
            AuditEntry.action == "commerce.caller_data.erased")) is not None
    # a shorter retention, as configured, reaches the fresh one too
    with w.kernel.db.session_scope() as s:
        n = svc.erase_caller_data(s, settings={"caller_data_retention_days": 1},
                                  now=svc.utcnow() + timedelta(days=2))
        assert n == 1
    assert "commerce.erase_caller_data" in w.kernel.jobs


def test_retention_days_are_validated_at_start_up(tmp_path):
    with pytest.raises(Exception, match="caller_data_retention_days"):
        build_test_app(tmp_path, plugins=["commerce"],
                       config={"plugins": {"commerce": {"caller_data_retention_days": 0}}})
    app, cleanup = build_test_app(tmp_path / "ok", plugins=["commerce"], config={
        "plugins": {"commerce": {"caller_data_retention_days": 7}}})
    try:
        assert app.extensions["shequ"].plugins.settings("commerce")[
            "caller_data_retention_days"] == 7
    finally:
        cleanup()


# ------------------------------------------------------------------ migration


def test_the_migration_links_persons_and_keeps_only_what_the_registry_lacks(make_app):
    """Old rows copied name, phone and flat: after the upgrade a registry person's copies
    equal to the registry are gone, a phone matching one person links the ticket to them,
    and anything else stays as the caller's governed copy."""
    app = make_app(plugins=["commerce"])
    w = build_world(app, merchants=(("甲维修", ["repairs"], [C1]),))
    kernel = app.extensions["shequ"]
    tree = next(t for t in migrate.trees_for(kernel.plugins) if t.owner == "commerce")
    with kernel.db.engine.begin() as conn:
        command.downgrade(migrate.alembic_config(tree, conn), "b77b94ee9d9c")
    rows = [
        # (person_id, name, phone, address, state)
        (w.elder, "张大爷", PHONE_ELDER, "和平路88号 和平小区3栋2单元1502室", "rated"),
        (w.husband, "李明", "13512345678", "别处路1号", "received"),
        (None, "路人", "139 0013 9001", "和平路88号", "cancelled"),  # 王芳's phone
        (None, "陌生人", "13300000000", "某路2号", "received"),
    ]
    with kernel.db.engine.begin() as conn:
        for pid, name, phone, address, state in rows:
            conn.execute(text(
                "INSERT INTO commerce_ticket (channel, person_id, community, category, "
                "description, service_address, contact_phone, contact_name, public_area, "
                "elderly_alone, state, rating_comment, flag, created_at, completed_at) VALUES "
                "('operator', :pid, :c, 'repairs', 'x', :a, :p, :n, false, false, :s, '', '', "
                ":at, :done)"), {"pid": pid, "c": C1, "a": address, "p": phone, "n": name,
                                 "s": state, "at": "2026-01-01 08:00:00",
                                 "done": "2026-01-02 08:00:00" if state == "rated" else None})
        ids = [r[0] for r in conn.execute(text("SELECT id FROM commerce_ticket ORDER BY id"))]
        conn.execute(text(
            "INSERT INTO commerce_ticket_event (ticket_id, kind, note, actor_id, actor_name, at) "
            "VALUES (:t, 'rated', '', :u, '测试elder', '2026-01-03 08:00:00')"),
            {"t": ids[0], "u": w.resident})
    migrate.upgrade(kernel.db.engine, [tree])
    assert migrate.schema_diff(kernel.db.engine, tree) == []
    with kernel.db.session_scope() as s:
        t = [s.get(Ticket, i) for i in ids]
        assert (t[0].caller_name, t[0].caller_phone, t[0].caller_address) == ("", "", "")
        assert t[0].closed_at is not None
        assert (t[1].caller_phone, t[1].caller_address) == ("13512345678", "别处路1号")
        assert t[2].person_id == w.wife and t[2].caller_phone == "" and t[2].closed_at
        assert t[2].caller_address == "和平路88号"  # not her flat: kept as given
        assert (t[3].person_id, t[3].caller_name, t[3].caller_phone) == (
            None, "陌生人", "13300000000")
        assert [e.actor_name for e in svc.timeline(s, ids[0])] == [""]
    # and back down: the copies return to the old columns
    with kernel.db.engine.begin() as conn:
        command.downgrade(migrate.alembic_config(tree, conn), "b77b94ee9d9c")
        back = conn.execute(text(
            "SELECT contact_phone FROM commerce_ticket WHERE id = :i"), {"i": ids[3]}).scalar()
        assert back == "13300000000"
    migrate.upgrade(kernel.db.engine, [tree])


def test_a_step_grant_reveals_only_the_granted_fields(w):
    """``toolkit.registry_reader(grant=...)``: what the hotline uses for the merchant and
    the call-back. The granted field comes in full and is logged in full; any other field
    still needs registry.person.reveal."""
    from core.toolkit import ScopeError, registry_reader

    with w.app.test_request_context(), w.kernel.db.session_scope() as s:
        merchant = s.scalar(select(User).where(User.username == "merch0"))
        rd = registry_reader(s, "commerce", actor=merchant, purpose="ticket test",
                             enforce_place=False, grant=("phone",))
        assert rd.person(w.other, reveal=["phone"])["phone"] == OTHER_PHONE
        with pytest.raises(ScopeError):
            rd.person(w.other, reveal=["address"])
        plain = registry_reader(s, "commerce", actor=merchant, purpose="ticket test",
                                enforce_place=False)
        with pytest.raises(ScopeError):
            plain.person(w.other, reveal=["phone"])
    entries = access_log(w.app, w.other, via="commerce", actor="merch0")
    assert any(not e["masked"] and e["fields"] == ["phone"] and e["purpose"] == "ticket test"
               for e in entries)
