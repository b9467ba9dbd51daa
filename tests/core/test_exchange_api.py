"""Exchange-client administration through the API (/api/v1/exchange/clients, /deliveries):
the same services as the /admin/exchange pages and ``shequ exchange``, the same
permissions (read: core.exchange.read; changes: core.exchange.manage), the same audit
entries; secrets and tokens shown once; 401/403/404/409/422 and the fuzzer."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.audit.models import AuditEntry
from core.events.delivery import deliver_pending
from core.exchange import services as ex
from core.registry import services as reg
from core.registry.testing import make_id, make_places
from core.testing import assert_api_fuzzes, build_test_app
from core.testing_matrix import token_for_app

API = "/api/v1/exchange"
HOOK = "http://127.0.0.1:9/hook"  # a closed port: deliveries fail and are retried


@pytest.fixture(scope="module")
def xapp(tmp_path_factory):
    app, cleanup = build_test_app(
        tmp_path_factory.mktemp("exchange_api"), plugins=[],
        config={"exchange": {"allowed_networks": ["127.0.0.0/8"]}},
    )
    yield app
    cleanup()


@pytest.fixture(scope="module")
def auth(xapp):
    made = {role: {"Authorization": f"Bearer {token_for_app(xapp, role)}"}
            for role in ("admin", "auditor", "community_worker")}
    return made


def audit_actions(app, target_id):
    with app.extensions["shequ"].db.session_scope() as db:
        return [(a.action, a.actor_name) for a in db.scalars(
            select(AuditEntry).where(AuditEntry.target_type == "exchange_client",
                                     AuditEntry.target_id == str(target_id))
            .order_by(AuditEntry.id))]


def test_register_list_change_suspend_rotate(xapp, auth):
    http = xapp.test_client()
    admin, auditor = auth["admin"], auth["auditor"]
    body = {"name": "民政局", "contact": "王科长", "callback_url": "https://mz.example.gov.cn/h",
            "event_types": ["registry.person.moved"], "scopes": ["registry.person.basic"]}
    assert http.post(f"{API}/clients", json=body).status_code == 401
    assert http.post(f"{API}/clients", json=body, headers=auditor).status_code == 403
    assert http.get(f"{API}/clients", headers=auth["community_worker"]).status_code == 403
    assert http.post(f"{API}/clients", json={**body, "x": 1}, headers=admin).status_code == 422
    made = http.post(f"{API}/clients", json=body, headers=admin)
    assert made.status_code == 201, made.json
    secret, token = made.json["secret"], made.json["token"]
    assert secret.startswith("whsec_") and token.startswith("shx_")
    cid = made.json["client"]["id"]
    # refusals of the data: 409 at the field
    for change, field in (({"name": "民政局"}, "name"), ({"name": "b", "callback_url": "ftp://x"},
                          "callback_url"), ({"name": "c", "event_types": ["no.such"]},
                          "event_types"), ({"name": "d", "scopes": ["nope"]}, "scopes")):
        refused = http.post(f"{API}/clients", json={**body, **change}, headers=admin)
        assert refused.status_code == 409 and field in refused.json["error"]["fields"], change
    # auditors read; nothing secret is ever listed again
    listed = http.get(f"{API}/clients", headers=auditor)
    assert listed.status_code == 200 and [c["name"] for c in listed.json["items"]] == ["民政局"]
    assert secret not in listed.get_data(as_text=True) and token not in listed.get_data(
        as_text=True)
    assert http.get(f"{API}/clients/{cid}", headers=auditor).json["token_prefix"] == token[:10]
    assert http.get(f"{API}/clients/999999", headers=auditor).status_code == 404
    # narrowing, as the edit page does
    narrowed = http.put(f"{API}/clients/{cid}", headers=admin, json={
        **body, "callback_url": None, "event_types": []})
    assert narrowed.status_code == 200 and narrowed.json["callback_url"] is None
    assert narrowed.json["event_types"] == []
    # suspend: a reason; then the feed token is refused
    assert http.post(f"{API}/clients/{cid}/suspend", json={},
                     headers=admin).status_code == 422
    assert http.post(f"{API}/clients/{cid}/suspend", json={"reason": "   "},
                     headers=admin).status_code == 409
    feed = {"Authorization": f"Exchange {token}"}
    assert http.get(f"{API}/events", headers=feed).status_code == 200
    down = http.post(f"{API}/clients/{cid}/suspend", json={"reason": "审计"}, headers=admin)
    assert down.status_code == 200 and down.json["status"] == "suspended"
    assert http.get(f"{API}/events", headers=feed).status_code == 401
    up = http.post(f"{API}/clients/{cid}/resume", headers=admin)
    assert up.status_code == 200 and up.json["status"] == "active"
    assert http.post(f"{API}/clients/{cid}/resume", headers=auditor).status_code == 403
    # rotations: shown once; the old token stops at once
    rotated = http.post(f"{API}/clients/{cid}/rotate", json={"what": "token"}, headers=admin)
    assert rotated.status_code == 200 and rotated.json["secret"] is None
    assert http.get(f"{API}/events", headers=feed).status_code == 401
    new_feed = {"Authorization": f"Exchange {rotated.json['token']}"}
    assert http.get(f"{API}/events", headers=new_feed).status_code == 200
    secret2 = http.post(f"{API}/clients/{cid}/rotate", json={"what": "secret", "at_once": True},
                        headers=admin).json["secret"]
    assert secret2.startswith("whsec_") and secret2 != secret
    assert http.post(f"{API}/clients/{cid}/rotate", json={"what": "both"},
                     headers=admin).status_code == 422
    # audited like the pages, naming the administrator
    actions = audit_actions(xapp, cid)
    assert [a for a, _ in actions] == [
        "exchange.client.created", "exchange.client.updated", "exchange.client.suspended",
        "exchange.client.resumed", "exchange.client.token_rotated",
        "exchange.client.secret_rotated"]
    assert {who for _, who in actions} == {"test_admin"}


def test_deliveries_replay_redeliver_and_backfill(xapp, auth):
    http = xapp.test_client()
    admin, auditor = auth["admin"], auth["auditor"]
    made = http.post(f"{API}/clients", headers=admin, json={
        "name": "人社局", "callback_url": HOOK, "event_types": ["registry.person.registered"],
        "scopes": ["registry.person.basic"]})
    assert made.status_code == 201
    cid = made.json["client"]["id"]
    kernel = xapp.extensions["shequ"]
    with kernel.db.session_scope() as session:
        places = make_places(session)
        reg.register_person(session, {"name": "陈五", "id_number": make_id(seq=77)},
                            bus=kernel.bus, dwelling_id=places.d1.id)
    deliver_pending(xapp)  # nobody listens on port 9: the webhook is retried
    rows = http.get(f"{API}/clients/{cid}/deliveries", headers=auditor).json["items"]
    assert len(rows) == 1 and rows[0]["status"] == "retrying" and rows[0]["attempts"] == 1
    assert ex.NETWORK_ERROR in rows[0]["last_error"]
    failed = http.get(f"{API}/deliveries", query_string={"status": "failed"}, headers=auditor)
    assert [d["id"] for d in failed.json["items"]] == [rows[0]["id"]]
    assert http.get(f"{API}/deliveries", query_string={"status": "odd"},
                    headers=auditor).status_code == 422
    # still being tried: not redelivered (409); nobody's delivery: 404
    busy = http.post(f"{API}/deliveries/{rows[0]['id']}/redeliver", headers=admin)
    assert busy.status_code == 409
    assert http.post(f"{API}/deliveries/999999/redeliver", headers=admin).status_code == 404
    event_id = rows[0]["event_id"]
    replayed = http.post(f"{API}/clients/{cid}/replay", headers=admin,
                         json={"from_id": event_id, "to_id": event_id})
    assert replayed.status_code == 200 and replayed.json == {"queued": 1}
    empty = http.post(f"{API}/clients/{cid}/replay", headers=admin,
                      json={"from_id": event_id + 1, "to_id": event_id})
    assert empty.status_code == 409 and "to_id" in empty.json["error"]["fields"]
    assert len(http.get(f"{API}/clients/{cid}/deliveries", headers=auditor).json["items"]) == 2
    # backfill: one of the two ways, with a reason in the audit log
    both = http.post(f"{API}/clients/{cid}/backfill", headers=admin,
                     json={"since_event": 1, "since": "2026-01-01", "reason": "补数"})
    assert both.status_code == 409 and "since" in both.json["error"]["fields"]
    granted = http.post(f"{API}/clients/{cid}/backfill", headers=admin,
                        json={"since_event": 1, "reason": "补数"})
    assert granted.status_code == 200 and granted.json == {"feed_start": 0}
    # a suspended client replays nothing
    http.post(f"{API}/clients/{cid}/suspend", json={"reason": "停用"}, headers=admin)
    refused = http.post(f"{API}/clients/{cid}/replay", headers=admin,
                        json={"from_id": 1, "to_id": event_id})
    assert refused.status_code == 409 and "client" in refused.json["error"]["fields"]
    assert [a for a, _ in audit_actions(xapp, cid)][-3:] == [
        "exchange.client.replayed", "exchange.client.backfill_granted",
        "exchange.client.suspended"]


def test_the_client_administration_survives_the_fuzzer(xapp):
    assert_api_fuzzes(xapp, f"{API}/clients", max_examples=8)
    assert_api_fuzzes(xapp, f"{API}/deliveries", max_examples=8)
