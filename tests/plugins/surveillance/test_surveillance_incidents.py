"""Incidents: analytics ingest (scoped token, Idempotency-Key, DB constraint), the
workflow and its 409s, resident reports (own only, photos checked) and events."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from surveillance_kit import add_camera, bearer, csrf

from plugins.surveillance.models import Incident

API = "/api/v1/surveillance"
INGEST = "surveillance.incident.ingest"


@pytest.fixture(scope="module")
def cam(sv):
    return add_camera(sv, "GATE-1")


def ingest(sv, token, key, **body):
    payload = {"camera_code": "GATE-1", "kind": "fight", "severity": "high", **body}
    return sv.app.test_client().post(
        f"{API}/ingest", json=payload, headers=bearer(token, **{"Idempotency-Key": key})
    )


def count(sv, **where):
    with sv.kernel.db.session_scope() as session:
        query = select(func.count()).select_from(Incident)
        for k, v in where.items():
            query = query.where(getattr(Incident, k) == v)
        return session.scalar(query)


def test_ingest_same_key_twice_makes_one_incident(sv, cam):
    device = sv.token("officer", [INGEST])
    first = ingest(sv, device, "det-0001")
    assert first.status_code == 201, first.json
    again = ingest(sv, device, "det-0001")
    assert again.status_code == 200
    assert again.json["id"] == first.json["id"]
    assert count(sv, idempotency_key="det-0001") == 1
    other = ingest(sv, device, "det-0002")
    assert other.status_code == 201 and other.json["id"] != first.json["id"]
    assert first.json["community_code"] == sv.C1 and first.json["camera_code"] == "GATE-1"


def test_ingest_needs_the_key_and_the_scoped_permission(sv, cam):
    device = sv.token("officer", [INGEST])
    resp = sv.app.test_client().post(
        f"{API}/ingest", json={"camera_code": "GATE-1", "kind": "fight"}, headers=bearer(device)
    )
    assert resp.status_code == 422
    assert "Idempotency-Key" in str(resp.json)
    heartbeat_only = sv.token("officer", ["surveillance.device.heartbeat"])
    assert ingest(sv, heartbeat_only, "det-x").status_code == 403
    assert ingest(sv, sv.token("resident"), "det-y").status_code == 403
    # a device of another community cannot report for this camera
    assert ingest(sv, sv.token("officer2", [INGEST]), "det-z").status_code == 404


def test_idempotency_is_a_database_constraint(sv, cam):
    with sv.kernel.db.session_scope() as session:
        row = session.scalar(select(Incident).where(Incident.idempotency_key.is_not(None)))
        key, client = row.idempotency_key, row.ingest_client_id
    with pytest.raises(IntegrityError), sv.kernel.db.session_scope() as session:
        session.add(
            Incident(
                kind="fight",
                source="analytics",
                status="raised",
                idempotency_key=key,
                ingest_client_id=client,
            )
        )
        session.flush()


def test_workflow_and_illegal_transitions(sv, cam):
    officer = sv.token("officer")
    made = sv.app.test_client().post(
        f"{API}/incidents",
        json={
            "kind": "fire_hazard",
            "severity": "high",
            "camera_code": "GATE-1",
            "location": "Gas meter room",
            "description": "Boxes piled by the gas meter",
        },
        headers=bearer(officer),
    )
    assert made.status_code == 201, made.json
    iid = made.json["id"]

    def step(action, **extra):
        return sv.app.test_client().post(
            f"{API}/incidents/{iid}/transitions",
            json={"action": action, **extra},
            headers=bearer(officer),
        )

    assert step("resolve").status_code == 409  # not acknowledged yet
    assert step("acknowledge").status_code == 200
    assert step("acknowledge").status_code == 409
    assert step("dispatch").status_code == 422  # nobody chosen
    assert step("dispatch", assignee_id=sv.resident.id).status_code == 409
    done = step("dispatch", assignee_id=sv.worker.id)
    assert done.status_code == 200 and done.json["status"] == "dispatched"
    done = step("resolve", note="cleared")
    assert done.json["status"] == "resolved"
    assert [s["action"] for s in done.json["timeline"]] == [
        "raised",
        "acknowledged",
        "dispatched",
        "resolved",
    ]
    assert step("false_alarm").status_code == 409
    # another community's officer does not see it
    other = sv.app.test_client().get(f"{API}/incidents/{iid}", headers=bearer(sv.token("officer2")))
    assert other.status_code == 404


def test_events_published(sv, cam, monkeypatch):
    bus = sv.kernel.bus
    seen = []
    original = bus.publish

    def record(session, name, payload):
        seen.append((name, payload))
        return original(session, name, payload)

    monkeypatch.setattr(bus, "publish", record)
    officer = sv.token("officer")
    made = sv.app.test_client().post(
        f"{API}/incidents",
        json={"kind": "theft", "community_code": sv.C1, "location": "Bike shed"},
        headers=bearer(officer),
    )
    iid = made.json["id"]
    for action in ("acknowledge", "false_alarm"):
        sv.app.test_client().post(
            f"{API}/incidents/{iid}/transitions", json={"action": action, "note": "nobody there"},
            headers=bearer(officer),
        )
    names = [n for n, _ in seen]
    assert names == ["surveillance.incident.raised", "surveillance.incident.resolved"]
    assert seen[1][1] == {
        "incident_id": iid,
        "kind": "theft",
        "outcome": "false_alarm",
        "community_code": sv.C1,
    }


JPEG = b"\xff\xd8\xff\xe0" + b"0" * 100


def test_resident_reports_with_photo_and_sees_only_their_own(sv, cam):
    import io

    client = sv.client["resident"]
    token = csrf(client)
    resp = client.post(
        "/surveillance/report",
        data={
            "csrf_token": token,
            "kind": "fire_lane_blocked",
            "description": "Cars in the lane",
            "community": sv.C1,
            "location": "Building 3",
            "photo": (io.BytesIO(JPEG), "lane.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    iid = int(resp.headers["Location"].rsplit("/", 1)[1])
    assert "Building 3" in client.get(f"/surveillance/my-reports/{iid}").get_data(as_text=True)
    # someone else's report: 404, page and API
    assert sv.client["resident2"].get(f"/surveillance/my-reports/{iid}").status_code == 404
    api = sv.app.test_client().get(f"{API}/reports/{iid}", headers=bearer(sv.token("resident2")))
    assert api.status_code == 404
    assert (
        sv.app.test_client()
        .get(f"{API}/reports/{iid}", headers=bearer(sv.token("resident")))
        .status_code
        == 200
    )
    # the photo is kept outside the web root and served only to staff in place
    with sv.kernel.db.session_scope() as session:
        path = session.get(Incident, iid).photo_path
    assert path and "/" not in path
    assert (
        sv.app.instance_path
        and (
            __import__("pathlib").Path(sv.app.instance_path) / "surveillance_media" / path
        ).is_file()
    )
    photo = sv.client["officer"].get(f"/surveillance/incidents/{iid}/photo")
    assert photo.status_code == 200 and photo.data == JPEG
    assert sv.client["officer2"].get(f"/surveillance/incidents/{iid}/photo").status_code == 404
    assert sv.client["resident"].get(f"/surveillance/incidents/{iid}/photo").status_code == 403
    # the staff page shows the reporter masked
    page = sv.client["officer"].get(f"/surveillance/incidents/{iid}").get_data(as_text=True)
    assert "resident1" not in page and "r***" in page


def test_report_refuses_a_file_that_is_not_a_photo(sv):
    import io

    client = sv.client["resident"]
    before = count(sv, source="resident")
    resp = client.post(
        "/surveillance/report",
        data={
            "csrf_token": csrf(client),
            "kind": "theft",
            "description": "x",
            "community": sv.C1,
            "location": "Gate",
            "photo": (io.BytesIO(b"MZ\x90\x00 not an image"), "photo.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 400
    assert "JPEG or PNG" in resp.get_data(as_text=True) or "JPEG" in resp.get_data(as_text=True)
    assert count(sv, source="resident") == before


def test_merged_person_keeps_their_reports(sv):
    """The registry.person.merged subscriber moves reports to the surviving person."""
    from core.events.delivery import deliver_pending
    from plugins.surveillance import services as svc

    with sv.kernel.db.session_scope() as session:
        incident = svc.raise_incident(
            session,
            sv.kernel.bus,
            None,
            source="resident",
            kind="other",
            community_code=sv.C1,
            reporter_person_id=777001,
        )
        session.flush()
        iid = incident.id
        sv.kernel.bus.publish(
            session,
            "registry.person.merged",
            {"person_id": 777002, "duplicate_id": 777001, "via": "core"},
        )
    deliver_pending(sv.app)
    with sv.kernel.db.session_scope() as session:
        assert session.get(Incident, iid).reporter_person_id == 777002


def test_desk_shows_charts_with_their_numbers(sv):
    page = sv.client["officer"].get("/surveillance/desk").get_data(as_text=True)
    assert page.count('<svg class="chart"') == 2
    assert 'id="chart-day"' in page and "<table" in page
    # officer2 (another community) sees none of officer1's open incidents
    other = sv.client["officer2"].get("/surveillance/incidents").get_data(as_text=True)
    assert "GATE-1" not in other


def test_state_changing_pages_need_the_csrf_token(sv):
    """Every POST page of the plugin refuses a signed-in admin without the token: core's
    generic 400 page, not the plugin's form with its messages."""
    admin = sv.client["admin"]
    refused = []
    for rule in sv.app.url_map.iter_rules():
        if not rule.endpoint.startswith("surveillance.") or "POST" not in rule.methods:
            continue
        url = rule.rule
        for name in rule.arguments:
            url = url.replace(f"<int:{name}>", "1")
        resp = admin.post(url)
        body = resp.get_data(as_text=True)
        if resp.status_code != 400 or "<h1>抱歉，这个请求无法处理</h1>" not in body:
            refused.append((url, resp.status_code))
    assert not refused
    with_token = admin.post("/surveillance/rules", data={"csrf_token": csrf(admin)})
    assert "<h1>抱歉，这个请求无法处理</h1>" not in with_token.get_data(as_text=True)


def test_officer_adds_a_camera_on_the_page(sv):
    client = sv.client["officer"]
    token = csrf(client, "/surveillance/cameras/new")
    form = {
        "csrf_token": token,
        "code": "NEW-CAM-1",
        "name": "North gate",
        "community_code": sv.C1,
        "location": "North gate",
        "place_kind": "entrance",
        "purpose": "",
        "signage_confirmed": "y",
        "officer_id": str(sv.officer.id),
        "stream_url": "rtsp://vms.internal/new-cam-1",
    }
    missing = client.post("/surveillance/cameras/new", data=form)
    assert missing.status_code == 400  # no purpose: PIPL Art. 26 needs it stated
    elsewhere = client.post(
        "/surveillance/cameras/new", data={**form, "purpose": "Gate", "community_code": sv.C2}
    )
    assert elsewhere.status_code == 400
    assert "outside the areas" in elsewhere.get_data(as_text=True) or "不在您负责" in (
        elsewhere.get_data(as_text=True)
    )
    made = client.post("/surveillance/cameras/new", data={**form, "purpose": "Gate safety"})
    assert made.status_code == 302
    page = client.get(made.headers["Location"]).get_data(as_text=True)
    assert "rtsp://vms.internal/new-cam-1" in page and "officer1" in page
    assert sv.client["officer2"].get(made.headers["Location"]).status_code == 404
