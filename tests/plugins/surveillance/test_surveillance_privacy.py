"""Privacy: stream addresses never reach residents (every page and API response they can
reach is walked), footage opens only for an open incident with a purpose and every
attempt is logged, and retention purges respect the legal hold of open incidents."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from surveillance_kit import STREAM, add_camera, bearer, csrf

from core.audit.models import AccessEntry
from core.db import utcnow
from plugins.surveillance import services as svc
from plugins.surveillance.models import Clip, FootageAccess, Incident, PurgeRun

API = "/api/v1/surveillance"


@pytest.fixture(scope="module")
def world(sv):
    """A camera, a resident's report linked to it with a clip, and a public alert."""
    camera = add_camera(sv, "PRIV-1")
    client = sv.client["resident"]
    resp = client.post(
        "/surveillance/report",
        data={
            "csrf_token": csrf(client),
            "kind": "suspicious_activity",
            "description": "Someone trying car doors",
            "community": sv.C1,
            "location": "Car park",
            "photo": (io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"0" * 50), "p.png"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    iid = int(resp.headers["Location"].rsplit("/", 1)[1])
    with sv.kernel.db.session_scope() as session:
        incident = session.get(Incident, iid)
        incident.camera_id = camera.id
        incident.reporter_person_id = 4242  # as if bound to a registry person
        now = utcnow()
        clip = svc.add_clip(
            session,
            None,
            incident,
            camera=session.merge(camera),
            starts_at=now - timedelta(minutes=10),
            ends_at=now,
            reference="VMS-42",
        )
        alert = svc.raise_alert(
            session,
            sv.kernel.bus,
            dedupe_key="priv:1",
            kind="notice",
            severity="low",
            title="Notice",
            title_zh="通知",
            community_code=sv.C1,
        )
        svc.alert_action(session, sv.kernel.bus, None, alert, "publish")
        session.flush()
        return {"camera": camera, "incident_id": iid, "clip_id": clip.id, "alert_id": alert.id}


def _get_urls(app, values):
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        path = rule.rule
        try:
            for name in rule.arguments:
                path = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(values[name]), path)
        except KeyError:
            continue
        yield rule.endpoint, path


def test_residents_never_receive_stream_addresses(sv, world):
    values = {
        "camera_id": world["camera"].id,
        "incident_id": world["incident_id"],
        "alert_id": world["alert_id"],
        "clip_id": world["clip_id"],
        "camera_code": "PRIV-1",
        "code": "en",
        "filename": "shequ.css",
    }
    resident_token = sv.token("resident")
    checked = 0
    anonymous = sv.app.test_client()
    for endpoint, path in _get_urls(sv.app, values):
        for client, headers in (
            (sv.client["resident"], {}),
            (anonymous, {}),
            (sv.app.test_client(), bearer(resident_token)),
        ):
            resp = client.get(path, headers=headers)
            body = resp.get_data(as_text=True)
            assert STREAM not in body, f"{path} ({endpoint}) leaks a stream address"
            assert "secret-vms" not in body, path
            checked += 1
    assert checked > 60
    # the resident-facing ones really answered with camera data
    assert "PRIV-1" in anonymous.get(f"{API}/cameras/public").get_data(as_text=True)
    assert "Gate safety" in anonymous.get("/surveillance/cameras/where").get_data(as_text=True)
    # and the same walk as staff does see it, so the check can fail
    assert STREAM in sv.client["officer"].get(
        f"/surveillance/cameras/{world['camera'].id}"
    ).get_data(as_text=True)
    assert STREAM in sv.app.test_client().get(
        f"{API}/cameras", headers=bearer(sv.token("officer"))
    ).get_data(as_text=True)


def test_resident_api_report_has_no_staff_fields(sv, world):
    resp = sv.app.test_client().get(f"{API}/reports", headers=bearer(sv.token("resident")))
    assert resp.status_code == 200
    item = next(i for i in resp.json["items"] if i["id"] == world["incident_id"])
    assert set(item) == {
        "id",
        "kind",
        "status",
        "description",
        "location",
        "raised_at",
        "closed_at",
        "timeline",
    }
    assert all(set(step) == {"at", "action"} for step in item["timeline"])


def log_rows(sv, **where):
    with sv.kernel.db.session_scope() as session:
        query = select(func.count()).select_from(FootageAccess)
        for k, v in where.items():
            query = query.where(getattr(FootageAccess, k) == v)
        return session.scalar(query)


def test_footage_refused_without_an_incident_and_logged(sv, world):
    officer = sv.token("officer")
    url = f"{API}/clips/{world['clip_id']}/open"
    refused = sv.app.test_client().post(url, json={"purpose": "curious"}, headers=bearer(officer))
    assert refused.status_code == 403
    assert log_rows(sv, clip_id=world["clip_id"], outcome="refused", incident_id=None) == 1
    # a page request without the incident is refused and logged too
    page = sv.client["officer"]
    resp = page.post(
        f"/surveillance/clips/{world['clip_id']}/open",
        data={
            "csrf_token": csrf(page, "/surveillance/desk"),
            "purpose": "curious",
            "action": "view",
        },
    )
    assert resp.status_code == 403
    assert "VMS-42" not in resp.get_data(as_text=True)
    assert log_rows(sv, clip_id=world["clip_id"], outcome="refused") == 2
    # residents and auditors cannot even ask
    assert (
        sv.app.test_client()
        .post(url, json={"purpose": "x"}, headers=bearer(sv.token("resident")))
        .status_code
        == 403
    )
    # another community's officer: not found
    assert (
        sv.app.test_client()
        .post(
            url,
            json={"purpose": "x", "incident_id": world["incident_id"]},
            headers=bearer(sv.token("officer2")),
        )
        .status_code
        == 404
    )


def test_footage_opened_for_an_open_incident_is_logged(sv, world):
    url = f"{API}/clips/{world['clip_id']}/open"
    body = {
        "purpose": "identify the person trying car doors",
        "incident_id": world["incident_id"],
        "action": "export",
    }
    with sv.kernel.db.session_scope() as session:
        before = session.scalar(
            select(func.count())
            .select_from(AccessEntry)
            .where(AccessEntry.subject_person_id == 4242)
        )
    resp = sv.app.test_client().post(url, json=body, headers=bearer(sv.token("officer")))
    assert resp.status_code == 200, resp.json
    assert resp.json["reference"] == "VMS-42"
    assert log_rows(sv, clip_id=world["clip_id"], outcome="granted", action="export") == 1
    with sv.kernel.db.session_scope() as session:
        after = session.scalar(
            select(func.count())
            .select_from(AccessEntry)
            .where(AccessEntry.subject_person_id == 4242)
        )
    assert after == before + 1  # the reporter's "who looked at my data" log
    # the auditor reads the log; the officer cannot
    log = sv.app.test_client().get(f"{API}/footage-log", headers=bearer(sv.token("auditor")))
    assert log.status_code == 200
    assert {e["outcome"] for e in log.json["items"]} == {"granted", "refused"}
    assert sv.client["auditor"].get("/surveillance/footage-log").status_code == 200
    assert (
        sv.app.test_client()
        .get(f"{API}/footage-log", headers=bearer(sv.token("officer")))
        .status_code
        == 403
    )


def test_purge_respects_the_legal_hold(sv, world):
    from click.testing import CliRunner

    from core.cli import AppContext
    from plugins.surveillance.cli import surveillance

    media = Path(sv.app.instance_path) / "surveillance_media"
    old = utcnow() - timedelta(days=40)
    with sv.kernel.db.session_scope() as session:
        held = session.get(Incident, world["incident_id"])  # still open
        camera = session.get(type(world["camera"]), world["camera"].id)
        closed = svc.raise_incident(
            session,
            sv.kernel.bus,
            None,
            source="staff",
            kind="theft",
            community_code=sv.C1,
            raised_at=old,
        )
        svc.store_photo(closed, b"\xff\xd8\xff" + b"1" * 20, media, max_bytes=10_000)
        svc.transition(session, sv.kernel.bus, None, closed, "false_alarm",
                       note="nothing found")
        gone = svc.add_clip(
            session, None, closed, camera=camera, starts_at=old, ends_at=old + timedelta(minutes=5)
        )
        loose = Clip(
            camera_id=camera.id,
            incident_id=None,
            starts_at=old,
            ends_at=old + timedelta(minutes=5),
            created_at=old,
        )
        session.add(loose)
        session.flush()
        gone.created_at = old
        for clip in session.scalars(select(Clip).where(Clip.incident_id == held.id)):
            clip.created_at = old
        held.raised_at = old
        closed_photo = media / closed.photo_path
        held_photo = media / held.photo_path
        ids = {"gone": gone.id, "loose": loose.id, "closed": closed.id}
    assert closed_photo.is_file() and held_photo.is_file()
    ctx = AppContext()
    ctx._app = sv.app
    result = CliRunner().invoke(surveillance, ["purge"], obj=ctx)
    assert result.exit_code == 0, result.output
    assert "purged 2 footage references and 1 photos" in result.output
    assert "2 held" in result.output
    with sv.kernel.db.session_scope() as session:
        assert session.get(Clip, ids["gone"]) is None
        assert session.get(Clip, ids["loose"]) is None
        assert session.get(Clip, world["clip_id"]) is not None  # legal hold
        assert session.get(Incident, ids["closed"]).photo_path is None
        assert session.get(Incident, world["incident_id"]).photo_path is not None
        run = session.scalar(select(PurgeRun).order_by(PurgeRun.id.desc()))
        assert (run.clips_purged, run.media_purged, run.held) == (2, 1, 2)
    assert not closed_photo.exists() and held_photo.is_file()
    report = sv.client["auditor"].get("/surveillance/retention").get_data(as_text=True)
    assert 'id="purges"' in report
