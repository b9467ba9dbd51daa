"""Finding 4 of issue 15, footage by pretext: a clip opens only when it covers the cited
incident's time of occurrence (± ``footage_margin_minutes``), and footage for an incident
the asker raised themself waits for a second security officer's approval. Every attempt —
granted, pending, refused — is logged."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from surveillance_kit import add_camera, add_clip, bearer, csrf, open_incident

from core.audit.models import AuditEntry
from core.db import utcnow
from plugins.surveillance.models import FootageAccess, FootageRequest

API = "/api/v1/surveillance"


@pytest.fixture(scope="module")
def cam(sv):
    return add_camera(sv, "FOOT-1")


def api(sv, who):
    client = sv.app.test_client()
    token = sv.token(who)

    def call(method, path, **kw):
        return client.open(f"{API}{path}", method=method, headers=bearer(token), **kw)

    return call


def log(sv, **where):
    with sv.kernel.db.session_scope() as session:
        query = select(FootageAccess).order_by(FootageAccess.id)
        for k, v in where.items():
            query = query.where(getattr(FootageAccess, k) == v)
        return [
            {c: getattr(r, c) for c in ("outcome", "reason", "actor_name", "approver_name",
                                        "request_id", "purpose")}
            for r in session.scalars(query)
        ]


def audit(sv, action, outcome=None):
    with sv.kernel.db.session_scope() as session:
        query = select(AuditEntry).where(AuditEntry.action == action)
        if outcome:
            query = query.where(AuditEntry.outcome == outcome)
        return list(session.scalars(query))


def test_a_clip_outside_the_incidents_time_is_refused_and_logged(sv, cam):
    """The pretext: an incident raised now cited for a clip recorded hours before."""
    iid = open_incident(sv, "officer3", "FOOT-1")  # raised by someone else: no approval
    now = utcnow()
    before = add_clip(sv, iid, cam.id, now - timedelta(hours=5), now - timedelta(hours=4),
                      "VMS-EARLIER")
    edge = add_clip(sv, iid, cam.id, now - timedelta(minutes=50), now - timedelta(minutes=25),
                    "VMS-EDGE")  # ends 25 min before: inside the 30-minute margin
    body = {"incident_id": iid, "purpose": "find the thief"}
    refused = api(sv, "officer")("POST", f"/clips/{before}/open", json=body)
    assert refused.status_code == 422, refused.json
    assert "VMS-EARLIER" not in refused.get_data(as_text=True)
    assert "incident_id" in refused.json["error"]["fields"], refused.json
    rows = log(sv, clip_id=before)
    assert [r["outcome"] for r in rows] == ["refused"]
    assert rows[0]["reason"] == "The clip does not cover the time the incident happened."
    assert audit(sv, "surveillance.footage.view", "denied")
    granted = api(sv, "officer")("POST", f"/clips/{edge}/open", json=body)
    assert granted.status_code == 200, granted.json
    assert granted.json["status"] == "granted" and granted.json["reference"] == "VMS-EDGE"


def test_the_time_of_occurrence_is_given_when_raising(sv, cam):
    earlier = utcnow() - timedelta(hours=5)
    iid = open_incident(sv, "officer3", "FOOT-1", occurred_at=earlier.isoformat())
    item = api(sv, "officer")("GET", f"/incidents/{iid}").json
    assert item["occurred_at"][:16] == earlier.isoformat()[:16]
    clip = add_clip(sv, iid, cam.id, earlier - timedelta(minutes=10), earlier, "VMS-FIVE")
    resp = api(sv, "officer")("POST", f"/clips/{clip}/open",
                              json={"incident_id": iid, "purpose": "the theft at five"})
    assert resp.status_code == 200, resp.json
    # a time in the future is refused by the clock, not the schema: 409 naming the field
    future = (utcnow() + timedelta(hours=2)).isoformat()
    bad = api(sv, "officer")("POST", "/incidents", json={
        "kind": "theft", "location": "Gate", "camera_code": "FOOT-1", "occurred_at": future})
    assert bad.status_code == 409 and "occurred_at" in bad.json["error"]["fields"], bad.json


def test_self_raised_incident_needs_a_second_officer(sv, cam):
    iid = open_incident(sv, "officer", "FOOT-1")  # officer1 raises it...
    now = utcnow()
    clip = add_clip(sv, iid, cam.id, now - timedelta(minutes=10), now, "VMS-SELF")
    body = {"incident_id": iid, "purpose": "check the gate", "action": "view"}
    # ...and asks for its footage: a pending request, no reference
    first = api(sv, "officer")("POST", f"/clips/{clip}/open", json=body)
    assert first.status_code == 202, first.json
    assert first.json["status"] == "pending" and "reference" not in first.json
    rid = first.json["request_id"]
    again = api(sv, "officer")("POST", f"/clips/{clip}/open", json=body)
    assert again.status_code == 202 and again.json["request_id"] == rid  # one request
    assert [r["outcome"] for r in log(sv, clip_id=clip)] == ["pending", "pending"]
    queue = api(sv, "officer3")("GET", "/footage-requests?status=pending").json["items"]
    assert [q["id"] for q in queue if q["incident_id"] == iid] == [rid]
    # the same officer cannot approve it (and the attempt is in the audit log)
    own = api(sv, "officer")("POST", f"/footage-requests/{rid}/decision",
                             json={"decision": "approve"})
    assert own.status_code == 403, own.json
    denied = audit(sv, "surveillance.footage.request_decided", "denied")
    assert any(e.target_id == str(rid) and e.actor_name == "officer1" for e in denied)
    # nor can an officer elsewhere (404), nor a resident or the auditor (403)
    assert api(sv, "officer2")("POST", f"/footage-requests/{rid}/decision",
                               json={"decision": "approve"}).status_code == 404
    for who in ("resident", "auditor"):
        assert api(sv, who)("POST", f"/footage-requests/{rid}/decision",
                            json={"decision": "approve"}).status_code == 403
    still = api(sv, "officer")("POST", f"/clips/{clip}/open", json=body)
    assert still.status_code == 202
    # a second officer in the same community approves; then the clip opens, once
    ok = api(sv, "officer3")("POST", f"/footage-requests/{rid}/decision",
                             json={"decision": "approve", "note": "theft confirmed"})
    assert ok.status_code == 200, ok.json
    assert ok.json["status"] == "approved" and ok.json["decided_by_name"] == "officer3"
    twice = api(sv, "officer3")("POST", f"/footage-requests/{rid}/decision",
                                json={"decision": "refuse"})
    assert twice.status_code == 409
    opened = api(sv, "officer")("POST", f"/clips/{clip}/open", json=body)
    assert opened.status_code == 200, opened.json
    assert opened.json["reference"] == "VMS-SELF" and opened.json["request_id"] == rid
    granted = log(sv, clip_id=clip, outcome="granted")
    assert len(granted) == 1 and granted[0]["approver_name"] == "officer3"
    with sv.kernel.db.session_scope() as session:
        assert session.get(FootageRequest, rid).status == "opened"
    # the approval was for one opening: the next one is a new request
    next_time = api(sv, "officer")("POST", f"/clips/{clip}/open", json=body)
    assert next_time.status_code == 202 and next_time.json["request_id"] != rid
    # the timeline tells the story
    steps = [s["action"] for s in api(sv, "officer3")("GET", f"/incidents/{iid}").json[
        "timeline"]]
    assert {"footage_requested", "footage_request_approved", "footage_view"} <= set(steps)


def test_a_refused_request_is_logged_and_never_opens(sv, cam):
    iid = open_incident(sv, "officer", "FOOT-1")
    now = utcnow()
    clip = add_clip(sv, iid, cam.id, now - timedelta(minutes=10), now, "VMS-NO")
    body = {"incident_id": iid, "purpose": "just looking", "action": "export"}
    rid = api(sv, "officer")("POST", f"/clips/{clip}/open", json=body).json["request_id"]
    # the second officer refuses on the page
    page = sv.client["officer3"]
    queue = page.get("/surveillance/footage-requests?status=pending").get_data(as_text=True)
    assert f'id="request-{rid}"' in queue and "just looking" in queue
    assert f"/surveillance/footage-requests/{rid}/decision" in queue
    resp = page.post(f"/surveillance/footage-requests/{rid}/decision",
                     data={"csrf_token": csrf(page, "/surveillance/desk"), "decision": "refuse"})
    assert resp.status_code == 302
    refused = log(sv, clip_id=clip, outcome="refused")
    assert len(refused) == 1
    assert refused[0]["approver_name"] == "officer3" and refused[0]["request_id"] == rid
    assert refused[0]["reason"] == "A second officer refused the request."
    assert audit(sv, "surveillance.footage.request_decided", "ok")
    # the asker cannot open it: another request waits instead
    retry = api(sv, "officer")("POST", f"/clips/{clip}/open", json=body)
    assert retry.status_code == 202 and retry.json["request_id"] != rid
    assert not log(sv, clip_id=clip, outcome="granted")
    # the auditor sees pending and refused in the footage log
    text = sv.client["auditor"].get("/surveillance/footage-log").get_data(as_text=True)
    assert "officer3" in text


def test_the_pages_for_the_asker_and_the_second_officer(sv, cam):
    iid = open_incident(sv, "officer", "FOOT-1")
    now = utcnow()
    clip = add_clip(sv, iid, cam.id, now - timedelta(minutes=10), now, "VMS-PAGE")
    asker = sv.client["officer"]
    token = csrf(asker, f"/surveillance/incidents/{iid}")
    resp = asker.post(f"/surveillance/clips/{clip}/open",
                      data={"csrf_token": token, "incident_id": iid,
                            "purpose": "who broke the lock", "action": "view"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'id="footage-pending"' in body
    assert "VMS-PAGE" not in body
    with sv.kernel.db.session_scope() as session:
        rid = session.scalar(select(FootageRequest.id).where(FootageRequest.clip_id == clip))
    own_queue = asker.get("/surveillance/footage-requests").get_data(as_text=True)
    block = re.search(rf'id="request-{rid}".*?</li>', own_queue, re.S).group(0)
    assert "/decision" not in block  # no approve button on one's own request
    # trying anyway is refused
    denied = asker.post(f"/surveillance/footage-requests/{rid}/decision",
                        data={"csrf_token": token, "decision": "approve"})
    assert denied.status_code == 303
    second = sv.client["officer3"]
    ok = second.post(f"/surveillance/footage-requests/{rid}/decision",
                     data={"csrf_token": csrf(second, "/surveillance/desk"),
                           "decision": "approve"})
    assert ok.status_code == 302
    # the asker opens the approved request from the queue
    queue = asker.get("/surveillance/footage-requests").get_data(as_text=True)
    block = re.search(rf'id="request-{rid}".*?</li>', queue, re.S).group(0)
    assert f"/surveillance/clips/{clip}/open" in block
    opened = asker.post(f"/surveillance/clips/{clip}/open",
                        data={"csrf_token": token, "incident_id": iid,
                              "purpose": "who broke the lock", "action": "view"})
    assert opened.status_code == 200 and "VMS-PAGE" in opened.get_data(as_text=True)
    incident_page = sv.client["officer3"].get(f"/surveillance/incidents/{iid}")
    assert 'id="footage-requests"' in incident_page.get_data(as_text=True)


def test_own_analytics_token_counts_as_raising_it(sv, cam):
    device = sv.token("officer", ["surveillance.incident.ingest"])
    resp = sv.app.test_client().post(
        f"{API}/ingest",
        json={"camera_code": "FOOT-1", "kind": "fight"},
        headers=bearer(device, **{"Idempotency-Key": "self-made-1"}),
    )
    assert resp.status_code == 201, resp.json
    iid = resp.json["id"]
    assert resp.json["raised_by_id"] == sv.officer.id
    now = utcnow()
    clip = add_clip(sv, iid, cam.id, now - timedelta(minutes=5), now)
    opened = api(sv, "officer")("POST", f"/clips/{clip}/open",
                                json={"incident_id": iid, "purpose": "the fight"})
    assert opened.status_code == 202
    other = api(sv, "officer3")("POST", f"/clips/{clip}/open",
                                json={"incident_id": iid, "purpose": "the fight"})
    assert other.status_code == 200  # not raised by officer3


def test_the_margin_is_configurable_and_validated(tmp_path):
    from core.testing import build_test_app

    with pytest.raises(Exception, match="footage_margin_minutes"):
        build_test_app(tmp_path / "bad", plugins=["surveillance"],
                       config={"plugins": {"surveillance": {"footage_margin_minutes": 0}}})
    app, cleanup = build_test_app(
        tmp_path / "wide", plugins=["surveillance"],
        config={"plugins": {"surveillance": {"footage_margin_minutes": 600}}})
    try:
        from core.toolkit import plugin_settings

        assert plugin_settings("surveillance", app)["footage_margin_minutes"] == 600
    finally:
        cleanup()
