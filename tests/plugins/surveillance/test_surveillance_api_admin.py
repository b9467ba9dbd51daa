"""The API of what the staff pages had alone (issue 20 item 4): early-warning rules
(list, create, change, disable), clip references registered on an incident with their
retention schedule, the retention report, one camera and its status, the desk's numbers
— with the pages' permissions and place checks, 401/403/404/409/422 and the fuzzer."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from surveillance_kit import add_camera, bearer, open_incident

from core.audit.models import AuditEntry
from core.db import utcnow
from core.events.delivery import deliver_pending
from core.testing import assert_api_fuzzes
from plugins.surveillance import services as svc
from plugins.surveillance.models import Alert

API = "/api/v1/surveillance"


def _audit(sv, action):
    with sv.kernel.db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == action))


def _flood(sv, http, admin):
    made = http.post(f"{API}/incidents", headers=admin, json={
        "kind": "flooding", "community_code": sv.C2, "location": "Underpass"})
    assert made.status_code == 201, made.json


def test_rules_are_listed_made_changed_and_disabled(sv):
    http = sv.app.test_client()
    admin = bearer(sv.token("admin"))
    body = {"name": "Floods", "kind": "burst", "incident_kind": "flooding", "threshold": 2,
            "window_minutes": 30, "severity": "high"}
    assert http.post(f"{API}/rules", json=body).status_code == 401
    assert http.get(f"{API}/rules", headers=bearer(sv.token("officer"))).status_code == 403
    assert http.post(f"{API}/rules", json={**body, "threshold": 0},
                     headers=admin).status_code == 422
    assert http.post(f"{API}/rules", json={**body, "kind": "sometimes"},
                     headers=admin).status_code == 422
    made = http.post(f"{API}/rules", json=body, headers=admin)
    assert made.status_code == 201, made.json
    rid = made.json["id"]
    assert made.json["active"] is True and made.json["community_code"] is None
    assert rid in [r["id"] for r in http.get(f"{API}/rules", headers=admin).json["items"]]
    assert http.get(f"{API}/rules/{rid}", headers=admin).json["name"] == "Floods"
    assert http.get(f"{API}/rules/999999", headers=admin).status_code == 404
    assert http.patch(f"{API}/rules/999999", json={}, headers=admin).status_code == 404
    # disabled, it does not fire
    off = http.patch(f"{API}/rules/{rid}", json={"active": False}, headers=admin)
    assert off.status_code == 200 and off.json["active"] is False
    for _ in range(2):
        _flood(sv, http, admin)
    deliver_pending(sv.app)
    with sv.kernel.db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Alert).where(
            Alert.rule_id == rid)) == 0
    # changed and enabled again, it does
    on = http.patch(f"{API}/rules/{rid}", json={"active": True, "threshold": 3,
                                                "name": "Floods, 3"}, headers=admin)
    assert on.status_code == 200 and on.json["threshold"] == 3 and on.json["active"]
    _flood(sv, http, admin)
    deliver_pending(sv.app)
    with sv.kernel.db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Alert).where(
            Alert.rule_id == rid)) == 1
    assert http.patch(f"{API}/rules/{rid}", json={"window_minutes": 99999},
                      headers=admin).status_code == 422
    assert http.patch(f"{API}/rules/{rid}", json={"name": "   "},
                      headers=admin).status_code == 422
    assert http.patch(f"{API}/rules/{rid}", json={"colour": "red"},
                      headers=admin).status_code == 422
    assert _audit(sv, "surveillance.rule.created") >= 1
    assert _audit(sv, "surveillance.rule.changed") >= 2


def test_clips_are_registered_within_ones_places_with_their_purge_date(sv):
    http = sv.app.test_client()
    officer, officer2 = bearer(sv.token("officer")), bearer(sv.token("officer2"))
    cam = add_camera(sv, "CLIP-C1")
    add_camera(sv, "CLIP-C2", community=sv.C2)
    incident = open_incident(sv, "officer", cam.code)
    start = utcnow() - timedelta(minutes=10)
    body = {"camera_code": cam.code, "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=5)).isoformat(), "reference": "VMS-77"}
    url = f"{API}/incidents/{incident}/clips"
    assert http.post(url, json=body).status_code == 401
    assert http.post(url, json=body, headers=bearer(sv.token("resident"))).status_code == 403
    assert http.post(url, json=body, headers=officer2).status_code == 404  # not their place
    assert http.get(url, headers=officer2).status_code == 404
    assert http.post(url, json={**body, "camera_code": "CLIP-C2"},
                     headers=officer).status_code == 404  # a camera outside their places
    backwards = http.post(url, headers=officer, json={**body, "ends_at": start.isoformat(),
                                                      "starts_at": body["ends_at"]})
    assert backwards.status_code == 409 and "ends_at" in backwards.json["error"]["fields"]
    naive = http.post(url, headers=officer, json={**body, "starts_at": "2026-01-01T10:00:00"})
    assert naive.status_code == 422
    made = http.post(url, json=body, headers=officer)
    assert made.status_code == 201, made.json
    clip = made.json
    assert "reference" not in clip and "VMS-77" not in made.get_data(as_text=True)
    assert clip["held"] is True  # the incident is open: kept past its purge date
    listed = http.get(url, headers=officer).json["items"]
    assert [c["id"] for c in listed] == [clip["id"]]
    with sv.kernel.db.session_scope() as session:
        from plugins.surveillance.models import Incident

        assert "clip_added" in [s.action for s in session.get(Incident, incident).timeline]
    # the retention report: the period, the schedule, then a purge run
    retention = http.get(f"{API}/retention", headers=bearer(sv.token("auditor")))
    assert retention.status_code == 200
    report = retention.json
    assert report["retention_days"] == 30 and report["purge_interval_seconds"] == 3600
    assert report["clips"] >= 1
    assert http.get(f"{API}/retention", headers=bearer(sv.token("resident"))).status_code == 403
    with sv.kernel.db.session_scope() as session:
        svc.purge(session, retention_days=30, directory=None)
    after = http.get(f"{API}/retention", headers=officer).json
    assert after["last_run_at"] is not None and len(after["runs"]) == len(report["runs"]) + 1
    assert after["next_run_after"] > after["last_run_at"]


def test_one_camera_its_status_the_desk_and_no_photo(sv):
    http = sv.app.test_client()
    officer, officer2 = bearer(sv.token("officer")), bearer(sv.token("officer2"))
    cam = add_camera(sv, "ITEM-C1")
    one = http.get(f"{API}/cameras/{cam.id}", headers=officer)
    assert one.status_code == 200 and one.json["stream_url"].endswith("ITEM-C1")
    assert http.get(f"{API}/cameras/{cam.id}", headers=officer2).status_code == 404
    assert http.get(f"{API}/cameras/{cam.id}",
                    headers=bearer(sv.token("resident"))).status_code == 403
    status = f"{API}/cameras/{cam.id}/status"
    assert http.post(status, json={"status": "broken"}, headers=officer).status_code == 422
    assert http.post(status, json={"status": "maintenance"},
                     headers=officer2).status_code == 404
    done = http.post(status, json={"status": "maintenance"}, headers=officer)
    assert done.status_code == 200 and done.json["status"] == "maintenance"
    assert _audit(sv, "surveillance.camera.status_changed") >= 1
    incident = open_incident(sv, "officer", cam.code)
    desk = http.get(f"{API}/desk", headers=officer).json
    assert desk["open_incidents"] >= 1 and len(desk["per_day"]) == 14
    assert sum(r["count"] for r in desk["per_kind"]) == desk["recent_total"]
    assert http.get(f"{API}/desk", headers=bearer(sv.token("resident"))).status_code == 403
    photo = http.get(f"{API}/incidents/{incident}/photo", headers=officer)
    assert photo.status_code == 404 and photo.is_json


def test_the_new_operations_survive_the_fuzzer(sv):
    """The rules, retention and desk operations here; the clips, one camera and its status
    and the photo sit under /incidents and /cameras, which core's whole-API fuzz
    (tests/core/test_fuzz.py) covers with every other operation there."""
    for prefix in ("/rules", "/retention", "/desk"):
        assert_api_fuzzes(sv.app, API + prefix, max_examples=8)
