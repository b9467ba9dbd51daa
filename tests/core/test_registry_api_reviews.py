"""The registry API's corrections, dashboard and export (issue 20 item 4): a resident files
and lists their own correction requests; a worker lists them within their places, reads
one (logged like the review page) and decides with a reason; the resident is told in
their language. The dashboard's figures are the page's, scoped; the export is the page's
file, each person in their access log the same way. 401/403/404/409/422 and the fuzzer."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select
from test_registry_api import HEAD_ID, build_world, sign_in, staff, token

from core.identity.models import Notification
from core.registry.corrections import Correction
from core.registry.models import Person
from core.registry.testing import C1, C2
from core.testing import access_log, assert_api_fuzzes, csrf_token, ensure_user

pytestmark = pytest.mark.with_plugins()

API = "/api/v1/registry"
PURPOSE = "Reviewing a correction request"


@pytest.fixture
def world(app):
    return build_world(app)


def test_a_resident_files_lists_and_is_told_the_decision(app, world):
    client = app.test_client()
    ra, rb = token(app, world.res_a), token(app, world.res_b)
    body = {"field": "phone", "value": "13912345678", "reason": "换了新号码"}
    assert client.post(f"{API}/me/corrections", json=body).status_code == 401
    plain = token(app, ensure_user(app, "resident", username="unverified"))
    assert client.post(f"{API}/me/corrections", json=body, headers=plain).status_code == 403
    # shape: an unknown field, no reason → 422; the register's rules → 409 at the field
    bad = client.post(f"{API}/me/corrections", json={**body, "field": "address"}, headers=ra)
    assert bad.status_code == 422 and "field" in bad.json["error"]["fields"]
    wrong = client.post(f"{API}/me/corrections", json={**body, "value": "12345"}, headers=ra)
    assert wrong.status_code == 409 and "value" in wrong.json["error"]["fields"]
    short = client.post(f"{API}/me/corrections", json={**body, "reason": "x"}, headers=ra)
    assert short.status_code == 409 and "reason" in short.json["error"]["fields"]
    made = client.post(f"{API}/me/corrections", json=body, headers=ra)
    assert made.status_code == 201, made.json
    cid = made.json["id"]
    assert made.json["status"] == "pending" and made.json["current_value"] == "138****0001"
    twice = client.post(f"{API}/me/corrections", json={**body, "value": "13912345679"},
                        headers=ra)
    assert twice.status_code == 409 and "field" in twice.json["error"]["fields"]
    mine = client.get(f"{API}/me/corrections", headers=ra).json["items"]
    assert [c["id"] for c in mine] == [cid]
    assert client.get(f"{API}/me/corrections", headers=rb).json["items"] == []
    assert client.get(f"{API}/me/corrections/{cid}", headers=rb).status_code == 404
    assert client.get(f"{API}/me/corrections/{cid}", headers=ra).json["field"] == "phone"

    # the worker of another community sees nothing of it
    h2 = token(app, world.w2)
    assert client.get(f"{API}/corrections", headers=h2).json["total"] == 0
    assert client.get(f"{API}/corrections/{cid}", headers=h2).status_code == 404
    decide = {"decision": "approve", "reason": ""}
    assert client.post(f"{API}/corrections/{cid}/decision", json=decide,
                       headers=h2).status_code == 404
    # a resident may not review
    assert client.get(f"{API}/corrections", headers=ra).status_code == 403

    h1 = token(app, world.w1)
    queue = client.get(f"{API}/corrections", headers=h1).json
    assert queue["total"] == 1 and queue["items"][0]["person_name"] == "王建国"
    assert client.get(f"{API}/corrections", query_string={"status": "nope"},
                      headers=h1).status_code == 422
    one = client.get(f"{API}/corrections/{cid}", headers=h1).json
    assert one["requested_value"] == "13912345678" and one["current_value"] == "138****0001"
    logged = access_log(app, world.ids.head, actor="wk1")
    assert logged and {e["purpose"] for e in logged} == {PURPOSE}
    assert any(not e["masked"] and "phone" in e["fields"] for e in logged)  # as the page
    stale = client.post(f"{API}/corrections/{cid}/decision",
                        json={**decide, "version": one["person_version"] + 5}, headers=h1)
    assert stale.status_code == 409 and "version" in stale.json["error"]["fields"]
    done = client.post(f"{API}/corrections/{cid}/decision",
                       json={**decide, "version": one["person_version"]}, headers=h1)
    assert done.status_code == 200, done.json
    assert done.json["status"] == "approved"
    again = client.post(f"{API}/corrections/{cid}/decision", json=decide, headers=h1)
    assert again.status_code == 409 and "status" in again.json["error"]["fields"]
    with world.kernel.db.session_scope() as db:
        assert db.get(Person, world.ids.head).phone == "13912345678"
        notes = db.scalars(select(Notification).where(
            Notification.user_id == world.res_a.id)).all()
        # told, in the resident's language (zh, the default), not the worker's
        assert [n.kind for n in notes] == ["correction_approved"]
        assert notes[0].title == "您的信息更正申请已批准"
    assert client.get(f"{API}/me/corrections/{cid}", headers=ra).json["new_value"] == \
        "139****5678"  # masked once decided

    # a refusal needs its reason, which the resident reads
    made = client.post(f"{API}/me/corrections", headers=ra, json={
        "field": "name", "value": "王建军", "reason": "户口本上是王建军"}).json["id"]
    refuse = {"decision": "refuse", "reason": ""}
    no_reason = client.post(f"{API}/corrections/{made}/decision", json=refuse, headers=h1)
    assert no_reason.status_code == 409 and "reason" in no_reason.json["error"]["fields"]
    refused = client.post(f"{API}/corrections/{made}/decision", headers=h1,
                          json={**refuse, "reason": "户口本原件显示为王建国"})
    assert refused.status_code == 200 and refused.json["status"] == "refused"
    assert client.get(f"{API}/me/corrections/{made}", headers=ra).json[
        "decision_reason"] == "户口本原件显示为王建国"
    with world.kernel.db.session_scope() as db:
        assert db.get(Person, world.ids.head).name == "王建国"
        assert db.scalar(select(Correction.status).where(Correction.id == made)) == "refused"


def test_the_dashboard_has_the_pages_numbers_within_ones_places(app, world):
    client = app.test_client()
    h1, h2 = token(app, world.w1), token(app, world.w2)
    assert client.get(f"{API}/dashboard").status_code == 401
    mine = client.get(f"{API}/dashboard", headers=h1).json
    assert mine["total"] == 2
    assert {r["key"]: r["count"] for r in mine["by_sex"]} == {"M": 1, "F": 1}
    assert sum(r["count"] for r in mine["by_age"]) == 2
    assert [r["key"] for r in mine["by_community"]] == [C1]
    assert client.get(f"{API}/dashboard", headers=h2).json["total"] == 1
    assert client.get(f"{API}/dashboard", query_string={"community": C2},
                      headers=h1).status_code == 404
    assert client.get(f"{API}/dashboard", query_string={"community": "12"},
                      headers=h1).status_code == 422
    # the page shows the same total
    page = sign_in(app, "wk1").get("/registry/dashboard").get_data(as_text=True)
    assert ">2<" in page.replace(" ", "")
    assert client.get(f"{API}/dashboard", headers=token(app, world.res_a)).status_code == 403


def _rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_export_is_the_pages_file_and_logs_each_person(app, world):
    client = app.test_client()
    h1 = token(app, world.w1)
    assert client.post(f"{API}/export", json={}).status_code == 401
    assert client.post(f"{API}/export", json={}, headers=token(
        app, staff(app, "hot", role="hotline_operator", communities=[C1]))).status_code == 403
    resp = client.post(f"{API}/export", json={}, headers=h1)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["X-Exported-Persons"] == "2"
    rows = _rows(resp.data)
    names = {r[0] for r in rows[1:]}
    assert names == {"王建国", "李芳"} and HEAD_ID not in resp.get_data(as_text=True)
    api_entries = access_log(app, world.ids.head, actor="wk1")
    assert len(api_entries) == 1 and api_entries[0]["masked"]
    # the page's export gives the same file
    worker = sign_in(app, "wk1")
    page = worker.post("/registry/export", data={
        "csrf_token": csrf_token(worker, "/registry/export"), "status": "active", "lang": "zh"})
    assert page.status_code == 200 and _rows(page.data) == rows
    # full values: a purpose, then the ID number in full and a full entry in the log
    reveal = client.post(f"{API}/export", json={"reveal": True}, headers=h1)
    assert reveal.status_code == 409 and "purpose" in reveal.json["error"]["fields"]
    full = client.post(f"{API}/export", json={"reveal": True, "purpose": "核对低保名单",
                                                "lang": "en"}, headers=h1)
    assert full.status_code == 200 and HEAD_ID in full.get_data(as_text=True)
    assert _rows(full.data)[0][0] != rows[0][0]  # English headings
    entry = access_log(app, world.ids.head, actor="wk1")[0]
    assert not entry["masked"] and entry["purpose"] == "核对低保名单"
    # one of someone else's communities: 404; a malformed code: 422
    assert client.post(f"{API}/export", json={"community": C2}, headers=h1).status_code == 404
    assert client.post(f"{API}/export", json={"community": "x"}, headers=h1).status_code == 422
    assert client.post(f"{API}/export", json={"extra": 1}, headers=h1).status_code == 422


def test_the_new_registry_operations_survive_the_fuzzer(app, world):
    for prefix in ("/api/v1/registry/corrections", "/api/v1/registry/me",
                   "/api/v1/registry/dashboard", "/api/v1/registry/export"):
        assert_api_fuzzes(app, prefix, max_examples=8)
