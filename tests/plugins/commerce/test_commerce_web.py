"""The hotline through HTTP: residents' pages and one-key call, the operator console,
the merchant portal and its object checks, the JSON API (status codes and error shape),
regulation, statistics, the profile panel and the CLI."""

from __future__ import annotations

import re
from typing import Any

import pytest
from click.testing import CliRunner
from commerce_kit import PHONE_ELDER, build_world, form_token, sign_in, token
from sqlalchemy import select

from core.testing import build_test_app
from plugins.commerce import services as svc
from plugins.commerce.models import Merchant, Ticket

API = "/api/v1/commerce"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    app, cleanup = build_test_app(tmp_path_factory.mktemp("web"), plugins=["commerce"])
    w = build_world(app)
    w.app, w.kernel = app, app.extensions["shequ"]
    w.elder_c = sign_in(app, "elder")
    w.other_c = sign_in(app, "other")
    w.op_c = sign_in(app, "oper")
    w.worker_c = sign_in(app, "cworker")
    w.m0_c = sign_in(app, "merch0")
    w.m1_c = sign_in(app, "merch1")
    w.api = app.test_client()  # bearer tokens only: a session cookie would need CSRF
    yield w
    cleanup()


def ticket(w: Any, ticket_id: int) -> Ticket:
    with w.kernel.db.session_scope() as s:
        t = s.get(Ticket, ticket_id)
        s.expunge(t)
        return t


def post(client: Any, path: str, data: dict, token_page: str | None = None) -> Any:
    data = {"csrf_token": form_token(client, token_page or path), **data}
    return client.post(path, data=data)


def ticket_id_of(resp: Any) -> int:
    return int(re.search(r"/(\d+)$", resp.headers["Location"]).group(1))


def test_resident_files_on_the_web_with_their_registry_address(world):
    resp = post(
        world.elder_c, "/commerce/my/new", {"category": "repairs", "description": "热水器不出热水"}
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    t = ticket(world, ticket_id_of(resp))
    assert (t.channel, t.person_id, t.community) == ("web", world.elder, "110105001001")
    # nothing of the registry is copied: the ticket refers to the person
    assert (t.caller_name, t.caller_phone, t.caller_address) == ("", "", "")
    assert t.elderly_alone and t.state == "dispatched"
    page = world.elder_c.get(f"/commerce/my/{t.id}").get_data(as_text=True)
    assert "热水器不出热水" in page
    bad = post(world.elder_c, "/commerce/my/new", {"category": "", "description": ""})
    assert bad.status_code == 400 and "error-summary" in bad.get_data(as_text=True)


def test_one_key_call_from_the_home_page(world):
    home = world.elder_c.get("/").get_data(as_text=True)
    assert 'id="one-key-call"' in home and "/commerce/one-key" in home
    resp = post(world.elder_c, "/commerce/one-key", {}, token_page="/")
    assert resp.status_code == 302
    t = ticket(world, ticket_id_of(resp))
    assert (t.channel, t.state, t.elderly_alone) == ("one_key", "callback", True)
    again = post(world.elder_c, "/commerce/one-key", {}, token_page="/")
    assert ticket_id_of(again) == t.id  # pressing twice: the same call-back
    # staff do not get the button; the operator's home page counts the call-back
    op_home = world.op_c.get("/").get_data(as_text=True)
    assert 'id="one-key-call"' not in op_home
    assert "/commerce/tickets?state=callback" in op_home
    # the operator calls back and completes it: received, then dispatched
    console = world.op_c.get("/commerce/console").get_data(as_text=True)
    assert f"/commerce/tickets/{t.id}" in console
    resp = post(
        world.op_c,
        f"/commerce/tickets/{t.id}/callback",
        {
            "category": "housekeeping",
            "description": "每周打扫一次",
            "service_address": "和平路88号 和平小区3栋2单元1502",
        },
        token_page=f"/commerce/tickets/{t.id}",
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    t = ticket(world, t.id)
    assert (t.state, t.merchant_id) == ("dispatched", world.merchants[3])


def test_console_finds_the_caller_and_opens_a_ticket(world):
    resp = post(world.op_c, "/commerce/console", {"phone": "138 0013 8000"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "张大爷" in page
    assert "tag-failed" in page  # elderly, living alone
    assert PHONE_ELDER not in resp.request.url
    resp = post(
        world.op_c,
        "/commerce/console",
        {
            "person_id": str(world.elder),
            "category": "plumbing",
            "description": "下水道堵了",
            "service_address": "和平路88号 和平小区3栋2单元1502",
            "contact_phone": PHONE_ELDER,
        },
    )
    assert resp.status_code == 302
    t = ticket(world, ticket_id_of(resp))
    assert (t.channel, t.created_by_id, t.state) == ("operator", world.operator, "received")
    # the registered number is not copied; the typed address is the caller's own copy
    assert t.caller_phone == "" and t.caller_address == "和平路88号 和平小区3栋2单元1502"
    bad = post(
        world.op_c,
        "/commerce/console",
        {
            "person_id": str(world.elder),
            "category": "plumbing",
            "description": "堵了\x01",
            "service_address": "和平路88号",
        },
    )
    assert bad.status_code == 400 and "error-summary" in bad.get_data(as_text=True)
    assert "张大爷" in bad.get_data(as_text=True)  # the caller stays on the page
    missing = post(world.op_c, "/commerce/console", {"phone": "13311112222"})
    assert missing.status_code == 400
    # dispatch by hand: no plumbing merchant → the page says so (409), repairs works
    refused = post(
        world.op_c, f"/commerce/tickets/{t.id}/dispatch", {}, token_page=f"/commerce/tickets/{t.id}"
    )
    assert refused.status_code == 409


def test_merchants_see_only_their_tickets_and_only_what_the_job_needs(world):
    created = world.api.post(f"{API}/tickets",
        json={"category": "repairs", "description": "灯不亮"},
        headers=token(world.app, "elder"),
    )
    assert created.status_code == 201, created.json
    tid = created.json["id"]
    holder = created.json["merchant_id"]
    idx = world.merchants.index(holder)
    mine, theirs = ([world.m0_c, world.m1_c][i] for i in (idx, 1 - idx))
    mine_h, theirs_h = (token(world.app, f"merch{i}") for i in (idx, 1 - idx))
    assert theirs.get(f"/commerce/portal/tickets/{tid}").status_code == 404
    assert world.api.get(f"{API}/portal/tickets/{tid}", headers=theirs_h).status_code == 404
    assert world.api.post(f"{API}/portal/tickets/{tid}/accept", headers=theirs_h).status_code == 404
    assert world.api.get(f"{API}/tickets/{tid}", headers=theirs_h).status_code == 404
    offer = world.api.get(f"{API}/portal/tickets/{tid}", headers=mine_h).json
    assert "person_id" not in offer and "elderly_alone" not in offer
    assert offer["contact_phone"] == "" and offer["service_address"].endswith("****")
    assert "1502" not in offer["service_address"] and offer["contact_name"] == ""
    page = mine.get(f"/commerce/portal/tickets/{tid}").get_data(as_text=True)
    assert "灯不亮" in page and "张大爷" not in page and "测试elder" not in page
    accepted = world.api.post(f"{API}/portal/tickets/{tid}/accept", headers=mine_h)
    assert accepted.status_code == 200 and accepted.json["contact_phone"] == PHONE_ELDER
    assert "1502" in accepted.json["service_address"]  # the registered address, in full
    assert accepted.json["contact_name"] == "张大爷"
    again = world.api.post(f"{API}/portal/tickets/{tid}/accept", headers=mine_h)
    assert again.status_code == 409 and again.json["error"]["code"] == "conflict"
    done = world.api.post(
        f"{API}/portal/tickets/{tid}/complete",
        headers=mine_h,
        json={"final_price": "120.00", "note": "换了灯泡"},
    )
    assert done.status_code == 200 and done.json["final_price"] == "120.00"
    # the resident: another resident sees nothing, the owner rates
    other_h = token(world.app, "other")
    assert world.api.get(f"{API}/tickets/{tid}", headers=other_h).status_code == 404
    assert world.other_c.get(f"/commerce/my/{tid}").status_code == 404
    elder_h = token(world.app, "elder")
    bad = world.api.post(f"{API}/tickets/{tid}/rating", headers=elder_h, json={"rating": 7})
    assert bad.status_code == 422 and "rating" in bad.json["error"]["fields"]
    rated = world.api.post(
        f"{API}/tickets/{tid}/rating", headers=elder_h, json={"rating": 5, "comment": "很好"}
    )
    assert rated.status_code == 200 and rated.json["state"] == "rated"
    assert [e["kind"] for e in rated.json["timeline"]][-1] == "rated"
    card = world.app.test_client().get(f"{API}/merchants/{holder}").json["scorecard"]
    assert card["completed"] >= 1 and card["avg_rating"] == 5.0
    listed = world.api.get(f"{API}/portal/tickets", headers=mine_h).json["items"]
    assert tid in [i["id"] for i in listed] and all("person_id" not in i for i in listed)


def test_portal_page_flow_accept_start_complete(world):
    with world.kernel.db.session_scope() as s:
        t = svc.create_ticket(
            s,
            world.kernel.bus,
            channel="operator",
            person_id=world.husband,
            community="110105001001",
            category="repairs",
            description="空调不制冷",
            caller_address="和平路88号 1601",
            settings={"auto_dispatch": False},
        )
        svc.dispatch(s, world.kernel.bus, t.id, merchant_id=world.merchants[0])
        tid = t.id
    path = f"/commerce/portal/tickets/{tid}"
    assert path in world.m0_c.get("/commerce/portal").get_data(as_text=True)
    for action in ("accept", "start"):
        assert post(world.m0_c, path, {"action": action}).status_code == 302
    missing = post(world.m0_c, path, {"action": "complete"})
    assert missing.status_code == 400 and "error-summary" in missing.get_data(as_text=True)
    assert post(world.m0_c, path, {"action": "complete", "final_price": "200"}).status_code == 302
    assert ticket(world, tid).state == "completed"


def test_complaint_and_suspension_through_the_pages(world):
    with world.kernel.db.session_scope() as s:
        t = svc.create_ticket(
            s,
            world.kernel.bus,
            channel="web",
            person_id=world.elder,
            community="110105001001",
            category="repairs",
            description="修门",
            caller_address="1502",
            settings={"auto_dispatch": False},
        )
        svc.dispatch(s, world.kernel.bus, t.id, merchant_id=world.merchants[1])
        svc.accept(s, world.kernel.bus, t.id, merchant_id=world.merchants[1])
        tid = t.id
    resp = post(
        world.elder_c,
        f"/commerce/my/{tid}/complain",
        {"text": "态度很差"},
        token_page=f"/commerce/my/{tid}",
    )
    assert resp.status_code == 302
    with world.kernel.db.session_scope() as s:
        cid = s.scalar(select(svc.Complaint.id).where(svc.Complaint.ticket_id == tid))
    assert world.m0_c.get(f"/commerce/regulator/complaints/{cid}").status_code == 403
    page = f"/commerce/regulator/complaints/{cid}"
    assert "态度很差" in world.worker_c.get(page).get_data(as_text=True)
    resp = post(world.worker_c, page, {"action": "suspend", "reason": "核实属实，暂停"})
    assert resp.status_code == 302
    with world.kernel.db.session_scope() as s:
        m = s.get(Merchant, world.merchants[1])
        assert m.status == "suspended" and m.status_reason == "核实属实，暂停"
        assert m.decided_by_id == world.worker
    listed = world.app.test_client().get(f"{API}/merchants?category=repairs").json["items"]
    assert world.merchants[1] not in [m["id"] for m in listed]
    assert (
        world.app.test_client().get(f"/commerce/merchants/{world.merchants[1]}").status_code == 404
    )
    # reinstate through the API, with a reason
    h = token(world.app, "cworker")
    resp = world.api.post(f"{API}/merchants/{world.merchants[1]}/decision",
        headers=h,
        json={"action": "approve", "reason": "整改完成"},
    )
    assert resp.status_code == 200 and resp.json["status"] == "approved"
    again = world.api.post(f"{API}/merchants/{world.merchants[1]}/decision",
        headers=h,
        json={"action": "approve", "reason": "again"},
    )
    assert again.status_code == 409


def test_merchant_application_by_credit_code(world):
    from core.registry import services as rs
    from core.registry.testing import make_credit_code

    code = make_credit_code("91110105MA9APPLY")
    with world.kernel.db.session_scope() as s:
        rs.register_organisation(
            s, {"name": "新来的洗衣店", "credit_code": code}, bus=world.kernel.bus
        )
    from commerce_kit import account

    with world.kernel.db.session_scope() as s:
        account(world.app, s, "newshop", "merchant")
    client = sign_in(world.app, "newshop")
    h = token(world.app, "newshop")
    unknown = world.api.post(
        f"{API}/merchant-applications",
        headers=h,
        json={
            "credit_code": make_credit_code("91110105MA9NWUNE"),
            "name": "x",
            "categories": ["laundry"],
            "communities": ["110105001001"],
        },
    )
    assert unknown.status_code == 409 and "credit_code" in unknown.json["error"]["fields"]
    bad_check = world.api.post(
        f"{API}/merchant-applications",
        headers=h,
        json={
            "credit_code": code[:-1] + ("0" if code[-1] != "0" else "1"),
            "name": "x",
            "categories": ["laundry"],
            "communities": ["110105001001"],
        },
    )
    assert bad_check.status_code == 409
    assert "校验码" in bad_check.json["error"]["fields"]["credit_code"][0]
    nowhere = world.api.post(
        f"{API}/merchant-applications",
        headers=h,
        json={
            "credit_code": code,
            "name": "x",
            "categories": ["laundry"],
            "communities": ["110105009999"],
        },
    )
    assert nowhere.status_code == 409 and "communities" in nowhere.json["error"]["fields"]
    resp = post(
        client,
        "/commerce/apply",
        {
            "credit_code": code,
            "name": "干净洗衣",
            "categories": ["laundry"],
            "communities": ["110105001001"],
            "opening_hours": "9:00-18:00",
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    with world.kernel.db.session_scope() as s:
        m = s.scalar(select(Merchant).where(Merchant.name == "干净洗衣"))
        assert m.status == "applied" and svc.merchant_for_user(s, m.applied_by_id).id == m.id
    assert "干净洗衣" in client.get("/commerce/portal").get_data(as_text=True)
    assert "干净洗衣" not in world.app.test_client().get("/commerce/merchants").get_data(
        as_text=True
    )  # not vetted yet


def test_queue_stats_panel_and_overdue(world, tmp_path):
    queue = world.op_c.get("/commerce/tickets").get_data(as_text=True)
    assert "commerce/tickets/" in queue
    stats = world.worker_c.get("/commerce/stats").get_data(as_text=True)
    assert '<svg class="chart"' in stats and "by-category" in stats
    api = world.api.get(f"{API}/stats", headers=token(world.app, "oper")).json
    assert api["total"] >= 3 and api["by_category"]
    repairs = next(r for r in api["by_category_times"] if r["key"] == "repairs")
    assert repairs["avg_rating"] == 5.0 and repairs["avg_completion_hours"] is not None
    overdue = world.api.get(f"{API}/tickets?overdue=true", headers=token(world.app, "oper")).json
    assert overdue["total"] == 0
    # the profile panel on the registry page of a person (staff scoped to C1)
    from core.identity.models import User
    from core.identity.services import set_scopes

    with world.kernel.db.session_scope() as s:
        u = s.get(User, world.worker)
        set_scopes(s, u, [("community", "110105001001")], admin=u)
    page = world.worker_c.get(f"/registry/persons/{world.elder}").get_data(as_text=True)
    assert "commerce/tickets/" in page


def test_cli_redispatch_and_overdue(world):
    from core.cli import AppContext
    from plugins.commerce.cli import commerce

    obj = AppContext()
    obj._app = world.app
    result = CliRunner().invoke(commerce, ["redispatch"], obj=obj)
    assert result.exit_code == 0 and "re-dispatched" in result.output
    result = CliRunner().invoke(commerce, ["overdue"], obj=obj)
    assert result.exit_code == 0 and "overdue" in result.output
