"""The access-log walk for the safety plugin: every staff page and API response that
names a resident — the incident detail page, the incident API (item and list), the
report's photo, footage opened for their report — writes an entry in that resident's
access log (``via`` surveillance), masked unless the viewer is the officer sent to the
scene. Pages that show no resident (the queue, alerts) name nobody. The retention purge
erases the reporter."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from surveillance_kit import (
    add_camera,
    add_clip,
    bearer,
    csrf,
    resident_with_person,
)

from core.db import utcnow
from core.testing import access_count, access_log

API = "/api/v1/surveillance"
NAME = "欧阳娜娜"
MASKED = "欧***"


@pytest.fixture(scope="module")
def report(sv):
    """A verified resident (a registry person) reports a theft at camera LOG-1."""
    camera = add_camera(sv, "LOG-1")
    reporter = resident_with_person(sv, "reporter1", NAME)
    resp = sv.app.test_client().post(
        f"{API}/reports",
        json={"kind": "theft", "description": "My bike was taken", "location": "Gate",
              "community_code": sv.C1},
        headers=bearer(_token(sv, reporter)),
    )
    assert resp.status_code == 201, resp.json
    iid = resp.json["id"]
    from pathlib import Path

    from plugins.surveillance import services as svc
    from plugins.surveillance.models import Incident

    with sv.kernel.db.session_scope() as session:
        incident = session.get(Incident, iid)
        incident.camera_id = camera.id
        media = svc.media_dir(sv.app.instance_path)
        svc.store_photo(incident, b"\xff\xd8\xff" + b"7" * 40, Path(media), max_bytes=10_000)
    now = utcnow()
    clip = add_clip(sv, iid, camera.id, now - timedelta(minutes=10), now, "VMS-LOG")
    return {"id": iid, "person": reporter.person_id, "clip": clip, "reporter": reporter}


def _token(sv, user):
    from surveillance_kit import token

    return token(sv.app, user)


def text(resp) -> str:
    """A page's text, or a JSON body with its Chinese unescaped."""
    if resp.is_json:
        return json.dumps(resp.json, ensure_ascii=False)
    return resp.get_data(as_text=True)


def grows(sv, person, call, **filters):
    before = access_count(sv.app, person, via="surveillance", **filters)
    resp = call()
    assert resp.status_code in (200, 201), (resp.status_code, resp.get_data(as_text=True)[:300])
    after = access_count(sv.app, person, via="surveillance", **filters)
    return resp, after - before


def test_every_staff_view_that_names_the_reporter_is_logged(sv, report):
    person, iid = report["person"], report["id"]
    officer = sv.client["officer"]
    headers = bearer(sv.token("officer"))
    api = sv.app.test_client()
    views = {
        "incident page": lambda: officer.get(f"/surveillance/incidents/{iid}"),
        "incident API": lambda: api.get(f"{API}/incidents/{iid}", headers=headers),
        "incident list API": lambda: api.get(f"{API}/incidents?page_size=100", headers=headers),
    }
    for label, call in views.items():
        resp, grew = grows(sv, person, call, actor="officer1")
        assert grew >= 1, f"{label} showed the reporter without an access-log entry"
        body = text(resp)
        assert NAME not in body, label
        assert MASKED in body, label
    entry = access_log(sv.app, person, via="surveillance", actor="officer1")[0]
    assert entry["fields"] == ["name"] and entry["masked"] is True
    assert "reporter" in entry["purpose"]
    # the report's photo is the resident's report too
    resp, grew = grows(sv, person, lambda: officer.get(f"/surveillance/incidents/{iid}/photo"))
    assert grew == 1 and resp.mimetype == "image/jpeg"
    photo = access_log(sv.app, person, via="surveillance", actor="officer1")[0]
    assert photo["fields"] == ["photo"]


def test_footage_opened_for_the_report_is_in_the_reporters_log(sv, report):
    person, iid, clip = report["person"], report["id"], report["clip"]
    body = {"incident_id": iid, "purpose": "who took the bike"}
    resp, grew = grows(sv, person, lambda: sv.app.test_client().post(
        f"{API}/clips/{clip}/open", json=body, headers=bearer(sv.token("officer"))))
    assert grew == 1 and resp.json["reference"] == "VMS-LOG"
    entry = next(e for e in access_log(sv.app, person, via="surveillance")
                 if e["fields"] == ["footage"])
    assert entry["actor"] == "officer1" and "who took the bike" in entry["purpose"]
    page = sv.client["officer"]
    _, grew = grows(sv, person, lambda: page.post(
        f"/surveillance/clips/{clip}/open",
        data={"csrf_token": csrf(page, "/surveillance/desk"), "incident_id": iid,
              "purpose": "second look", "action": "view"}))
    assert grew == 1


def test_pages_that_name_nobody_write_nothing(sv, report):
    person = report["person"]
    officer = sv.client["officer"]
    before = access_count(sv.app, person, via="surveillance")
    for path in ("/surveillance/incidents", "/surveillance/incidents?all=1",
                 "/surveillance/alerts", "/surveillance/desk"):
        body = officer.get(path).get_data(as_text=True)
        assert NAME not in body and MASKED not in body, path
    alerts = sv.app.test_client().get(f"{API}/alerts", headers=bearer(sv.token("officer")))
    assert alerts.status_code == 200 and NAME[0] not in text(alerts)
    assert access_count(sv.app, person, via="surveillance") == before
    # the resident's own report pages show them to themselves: not logged either
    mine = sv.app.test_client().get(f"{API}/reports/{report['id']}",
                                    headers=bearer(_token(sv, report["reporter"])))
    assert mine.status_code == 200
    assert access_count(sv.app, person, via="surveillance") == before


def test_only_the_officer_sent_sees_the_name_in_full_and_that_is_logged(sv, report):
    person, iid = report["person"], report["id"]
    officer = bearer(sv.token("officer"))
    api = sv.app.test_client()
    assert api.post(f"{API}/incidents/{iid}/transitions", json={"action": "acknowledge"},
                    headers=officer).status_code == 200
    sent = api.post(f"{API}/incidents/{iid}/transitions",
                    json={"action": "dispatch", "assignee_id": sv.officer3.id},
                    headers=officer)
    assert sent.status_code == 200, sent.json
    assert sent.json["reporter"] == MASKED and sent.json["reporter_masked"] is True
    resp, grew = grows(sv, person, lambda: sv.client["officer3"].get(
        f"/surveillance/incidents/{iid}"), actor="officer3")
    # the name, and the registered phone read through the registry to call them back
    assert grew == 2 and NAME in text(resp)
    entries = access_log(sv.app, person, via="surveillance", actor="officer3")
    assert all(e["masked"] is False for e in entries)
    assert sorted(tuple(e["fields"]) for e in entries) == [("name",), ("phone",)]
    item = api.get(f"{API}/incidents/{iid}", headers=bearer(sv.token("officer3"))).json
    assert item["reporter"] == NAME and item["reporter_masked"] is False
    # the rest of the desk, and the admin, still see it masked
    for who in ("officer", "admin"):
        other = api.get(f"{API}/incidents/{iid}", headers=bearer(sv.token(who))).json
        assert other["reporter"] == MASKED, who
    # once resolved, the officer sent sees it masked too
    assert api.post(f"{API}/incidents/{iid}/transitions",
                    json={"action": "resolve", "note": "Bike found and returned"},
                    headers=officer).status_code == 200
    after = api.get(f"{API}/incidents/{iid}", headers=bearer(sv.token("officer3"))).json
    assert after["reporter"] == MASKED
    # the resident's "who read my data" page names the officers who saw them
    from surveillance_kit import sign_in

    page = sign_in(sv.app, "reporter1").get("/account/access-log").get_data(as_text=True)
    assert "officer3" in page and "officer1" in page


def test_the_retention_purge_erases_the_reporter_of_closed_reports(sv, report):
    from plugins.surveillance import services as svc
    from plugins.surveillance.models import Incident, IncidentStep

    iid = report["id"]  # resolved by the test above
    with sv.kernel.db.session_scope() as session:
        incident = session.get(Incident, iid)
        assert incident.status == "resolved" and incident.reporter_id is not None
        # nothing of the resident was copied into the timeline
        names = [s.actor_name for s in session.query(IncidentStep).filter_by(incident_id=iid)]
        assert not any(n.startswith(NAME[0]) for n in names)
        incident.closed_at = utcnow() - timedelta(days=40)
        run = svc.purge(session, retention_days=30, directory=None)
        assert run.reports_erased >= 1
    with sv.kernel.db.session_scope() as session:
        incident = session.get(Incident, iid)
        assert (incident.reporter_id, incident.reporter_person_id, incident.description) == (
            None, None, "")
        assert incident.kind == "theft"  # the statistics stay
    before = access_count(sv.app, report["person"], via="surveillance")
    page = sv.client["officer"].get(f"/surveillance/incidents/{iid}").get_data(as_text=True)
    assert MASKED not in page
    assert access_count(sv.app, report["person"], via="surveillance") == before
    # and the resident no longer has it among their reports
    mine = sv.app.test_client().get(f"{API}/reports", headers=bearer(_token(sv, report[
        "reporter"])))
    assert iid not in [r["id"] for r in mine.json["items"]]
