"""Early warning: burst rules fire once per window (from the event bus and the periodic
check, the database refusing a second alert), offline detection with a maintenance
alert, unacknowledged incidents, alert actions and the public alert's exact payload."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from surveillance_kit import add_camera, bearer

from core.db import utcnow
from core.events.delivery import deliver_pending
from plugins.surveillance import services as svc
from plugins.surveillance.models import Alert, Camera

API = "/api/v1/surveillance"


def alerts(sv, **where):
    with sv.kernel.db.session_scope() as session:
        query = select(func.count()).select_from(Alert)
        for k, v in where.items():
            query = query.where(getattr(Alert, k) == v)
        return session.scalar(query)


@pytest.fixture(scope="module")
def burst_rule(sv):
    with sv.kernel.db.session_scope() as session:
        rule = svc.create_rule(
            session,
            None,
            name="Fights",
            kind="burst",
            incident_kind="fight",
            threshold=3,
            window_minutes=60,
            severity="high",
        )
        session.flush()
        return rule.id


def raise_fight(sv, community):
    resp = sv.app.test_client().post(
        f"{API}/incidents",
        json={"kind": "fight", "community_code": community, "location": "Square"},
        headers=bearer(sv.token("admin")),
    )
    assert resp.status_code == 201, resp.json


def test_burst_rule_fires_exactly_once_per_window(sv, burst_rule):
    for _ in range(2):
        raise_fight(sv, sv.C1)
    deliver_pending(sv.app)
    assert alerts(sv, rule_id=burst_rule) == 0  # below the threshold
    for _ in range(4):
        raise_fight(sv, sv.C1)
    deliver_pending(sv.app)  # each raised event evaluates the rule again
    assert alerts(sv, rule_id=burst_rule) == 1
    # the periodic check evaluates again: still one
    with sv.kernel.db.session_scope() as session:
        svc.check(session, sv.kernel.bus, offline_after_minutes=10)
    assert alerts(sv, rule_id=burst_rule) == 1
    # another area is another alert
    for _ in range(3):
        raise_fight(sv, sv.C2)
    deliver_pending(sv.app)
    assert alerts(sv, rule_id=burst_rule) == 2
    # the next window fires again, once
    later = utcnow() + timedelta(minutes=61)
    with sv.kernel.db.session_scope() as session:
        from plugins.surveillance.models import Incident

        for incident in session.scalars(select(Incident).where(Incident.kind == "fight")):
            incident.raised_at = later - timedelta(minutes=5)
    for _ in range(2):
        with sv.kernel.db.session_scope() as session:
            svc.evaluate_burst(
                session, sv.kernel.bus, kind="fight", community_code=sv.C1, now=later
            )
    assert alerts(sv, rule_id=burst_rule) == 3


def test_the_dedupe_key_is_enforced_by_the_database(sv, burst_rule):
    with sv.kernel.db.session_scope() as session:
        key = session.scalar(select(Alert.dedupe_key).where(Alert.rule_id == burst_rule))
    with pytest.raises(IntegrityError), sv.kernel.db.session_scope() as session:
        session.add(Alert(dedupe_key=key, kind="burst", severity="high", title="x", title_zh="x"))
        session.flush()
    with sv.kernel.db.session_scope() as session:
        assert (
            svc.raise_alert(
                session,
                sv.kernel.bus,
                dedupe_key=key,
                kind="burst",
                severity="high",
                title="x",
                title_zh="x",
            )
            is None
        )


def test_silent_camera_goes_offline_with_one_maintenance_alert(sv):
    from click.testing import CliRunner

    camera = add_camera(sv, "SILENT-1")
    with sv.kernel.db.session_scope() as session:
        session.get(Camera, camera.id).last_heartbeat_at = utcnow() - timedelta(minutes=30)
    # a heartbeat with a scoped device token keeps another camera online
    live = add_camera(sv, "LIVE-1")
    device = sv.token("officer", ["surveillance.device.heartbeat"])
    beat = sv.app.test_client().post(
        f"{API}/cameras/LIVE-1/heartbeat", json={}, headers=bearer(device)
    )
    assert beat.status_code == 200 and beat.json["status"] == "online"
    assert "stream_url" not in beat.json
    ingest_only = sv.token("officer", ["surveillance.incident.ingest"])
    assert (
        sv.app.test_client()
        .post(f"{API}/cameras/LIVE-1/heartbeat", json={}, headers=bearer(ingest_only))
        .status_code
        == 403
    )

    from plugins.surveillance.cli import surveillance

    runner = CliRunner()
    result = runner.invoke(surveillance, ["check"], obj=_ctx(sv))
    assert result.exit_code == 0, result.output
    assert "cameras gone offline: 1" in result.output
    with sv.kernel.db.session_scope() as session:
        assert session.get(Camera, camera.id).status == "offline"
        assert session.get(Camera, live.id).status == "online"
    assert alerts(sv, kind="maintenance", camera_id=camera.id) == 1
    runner.invoke(surveillance, ["check"], obj=_ctx(sv))
    assert alerts(sv, kind="maintenance", camera_id=camera.id) == 1  # once per outage
    # it comes back with a heartbeat
    sv.app.test_client().post(f"{API}/cameras/SILENT-1/heartbeat", json={}, headers=bearer(device))
    with sv.kernel.db.session_scope() as session:
        assert session.get(Camera, camera.id).status == "online"


def _ctx(sv):
    from core.cli import AppContext

    ctx = AppContext()
    ctx._app = sv.app
    return ctx


def test_unacknowledged_incident_raises_one_alert(sv):
    with sv.kernel.db.session_scope() as session:
        rule = svc.create_rule(
            session,
            None,
            name="Falls",
            kind="unacknowledged",
            incident_kind="elderly_fallen",
            threshold=1,
            window_minutes=15,
            severity="critical",
        )
        incident = svc.raise_incident(
            session,
            sv.kernel.bus,
            None,
            source="staff",
            kind="elderly_fallen",
            community_code=sv.C1,
            raised_at=utcnow() - timedelta(minutes=20),
        )
        session.flush()
        rule_id, iid = rule.id, incident.id
    for _ in range(2):
        with sv.kernel.db.session_scope() as session:
            svc.check(session, sv.kernel.bus, offline_after_minutes=10)
    assert alerts(sv, rule_id=rule_id, incident_id=iid) == 1


def test_alert_actions_and_the_public_alert_payload(sv, monkeypatch):
    bus = sv.kernel.bus
    seen = []
    original = bus.publish
    monkeypatch.setattr(bus, "publish", lambda s, n, p: (seen.append((n, p)), original(s, n, p))[1])
    with sv.kernel.db.session_scope() as session:
        alert = svc.raise_alert(
            session,
            bus,
            dedupe_key="t:notice",
            kind="notice",
            severity="medium",
            title="Water off",
            title_zh="停水",
            body="Tomorrow 9-12",
            community_code=sv.C1,
        )
        session.flush()
        aid = alert.id
        from core.registry.models import Community

        community_id = session.scalar(select(Community.id).where(Community.code == sv.C1))
    officer = sv.token("officer")

    def act(action, token=officer):
        return sv.app.test_client().post(
            f"{API}/alerts/{aid}/actions", json={"action": action}, headers=bearer(token)
        )

    assert act("publish", sv.token("officer2")).status_code == 404  # not their community
    assert act("escalate").json["severity"] == "high"
    assert act("escalate").status_code == 409
    published = act("publish")
    assert published.status_code == 200 and published.json["public"] is True
    assert act("publish").status_code == 409
    assert act("acknowledge").json["status"] == "acknowledged"
    public = [p for n, p in seen if n == "surveillance.public_alert.published"]
    assert public == [
        {
            "alert_id": aid,
            "community_id": community_id,
            "title": "Water off",
            "title_zh": "停水",
            "body": "Tomorrow 9-12",
            "severity": "high",
        }
    ]
    assert "surveillance.alert.raised" in [n for n, _ in seen]
    # residents see it on the public page
    assert "停水" in sv.app.test_client().get("/surveillance/").get_data(as_text=True)


def test_admin_configures_rules_on_the_page(sv):
    from surveillance_kit import csrf

    admin = sv.client["admin"]
    token = csrf(admin, "/surveillance/rules")
    bad = admin.post(
        "/surveillance/rules",
        data={
            "csrf_token": token,
            "name": "",
            "kind": "burst",
            "threshold": "0",
            "window_minutes": "60",
        },
    )
    assert bad.status_code == 400
    good = admin.post(
        "/surveillance/rules",
        data={
            "csrf_token": token,
            "name": "Floods",
            "kind": "burst",
            "incident_kind": "flooding",
            "community_code": "",
            "threshold": "2",
            "window_minutes": "120",
            "severity": "high",
        },
    )
    assert good.status_code == 302
    assert "Floods" in admin.get("/surveillance/rules").get_data(as_text=True)
    assert sv.client["officer"].get("/surveillance/rules").status_code == 403
