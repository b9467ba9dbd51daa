"""Frigate over MQTT, against a real Mosquitto broker (127.0.0.1:1883; skipped with the
reason when it is not reachable). Messages are shaped like Frigate's documented
``frigate/events`` and ``frigate/reviews`` payloads and published with QoS 1; the worker
runs in a thread and the tests poll the database for its result.

What is held: one incident per Frigate id however many new/update/end messages arrive
and when they are published again, made through the analytics ingest (the same key
answers the HTTP ingest with the same incident; the raised event drives the same burst
rule); review items likewise; an unknown camera, or one outside the account's places, is
a maintenance alert the officer sees, once a day; a message published while the worker
was away arrives through the persistent session; the worker reconnects after its broker
is killed and restarted; the command stops cleanly on Ctrl+C; bad settings are refused
with a readable message.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select
from surveillance_kit import add_camera, bearer, make_user, sign_in, token

from core.events.delivery import deliver_pending
from core.testing import build_test_app

BROKER = ("127.0.0.1", 1883)
API = "/api/v1/surveillance"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


#: The broker binary, for the restart test (Debian puts it in /usr/sbin).
MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None)
NO_BROKER = "no MQTT broker on 127.0.0.1:1883 (.ci/run installs and starts mosquitto)"


def _raw(prefix: str, **over: Any) -> dict[str, Any]:
    raw = {
        "host": BROKER[0],
        "port": BROKER[1],
        "topic_prefix": prefix,
        "client_id": f"shequ-test-{uuid.uuid4().hex[:12]}",
        "account": "frigatebot",
        "messages": ["events", "reviews"],
        "session_expiry_seconds": 60,
        "reconnect_min_seconds": 1,
        "reconnect_max_seconds": 2,
        "cameras": {"front_gate": "GATE-F1", "far_yard": "YARD-F2", "lane": "LANE-F3"},
        "ignored_cameras": ["doorbell"],
    }
    raw.update(over)
    return raw


@pytest.fixture(scope="module")
def fr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from core.registry.testing import C1, C2, make_places

    if not _reachable(*BROKER):
        pytest.skip(NO_BROKER)
    prefix = f"shequ-test-{uuid.uuid4().hex[:8]}/frigate"
    app, cleanup = build_test_app(
        tmp_path_factory.mktemp("frigate"),
        plugins=["surveillance"],
        config={"plugins": {"surveillance": {"frigate": _raw(prefix)}}},
    )
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        make_places(session)
    ns = SimpleNamespace(app=app, kernel=kernel, C1=C1, C2=C2, prefix=prefix)
    ns.bot = make_user(app, "frigatebot", "security_officer", [("community", C1)])
    ns.officer = make_user(app, "officer1", "security_officer", [("community", C1)])
    ns.officer_client = sign_in(app, "officer1")
    add_camera(ns, "GATE-F1")
    add_camera(ns, "LANE-F3")
    add_camera(ns, "YARD-F2", community=C2)  # outside the bot's places
    yield ns
    cleanup()


def settings(fr: Any, **over: Any) -> dict[str, Any]:
    from plugins.surveillance.frigate.config import FrigateConfig

    raw = _raw(fr.prefix, **over)
    return FrigateConfig().load(raw)


# ------------------------------------------------------------------ Frigate's messages


def event(kind: str, ident: str, *, camera: str = "front_gate", label: str = "person",
          zones: list[str] = (), start: float | None = None, score: float = 0.8,
          end: bool = False) -> bytes:
    """A ``frigate/events`` message (Frigate's documented fields)."""
    start = start if start is not None else time.time() - 5

    def state(zs: list[str]) -> dict[str, Any]:
        return {
            "id": ident, "camera": camera, "frame_time": start + 2,
            "snapshot": {"frame_time": start + 1, "box": [415, 489, 528, 700],
                         "area": 12728, "region": [260, 446, 660, 846], "score": score,
                         "attributes": []},
            "label": label, "sub_label": None, "top_score": score, "false_positive": False,
            "start_time": start, "end_time": start + 30 if end else None, "score": score,
            "box": [424, 500, 536, 712], "area": 23744, "ratio": 2.11,
            "region": [264, 450, 667, 853], "stationary": False, "motionless_count": 0,
            "position_changes": 2, "current_zones": list(zs), "entered_zones": list(zs),
            "has_clip": True, "has_snapshot": True, "attributes": {},
            "current_attributes": [],
        }

    return json.dumps({"type": kind, "before": state([]), "after": state(zones)}).encode()


def review(kind: str, ident: str, *, camera: str = "lane", severity: str = "alert",
           objects: list[str] = ("car",), zones: list[str] = ("fire_lane",),
           start: float | None = None) -> bytes:
    """A ``frigate/reviews`` message (Frigate 0.14+)."""
    start = start if start is not None else time.time() - 5
    after = {
        "id": ident, "camera": camera, "start_time": start,
        "end_time": start + 40 if kind == "end" else None, "severity": severity,
        "thumb_path": f"/media/frigate/clips/review/thumb-{camera}-{ident}.webp",
        "data": {"detections": [f"{start}-abc123"], "objects": list(objects),
                 "sub_labels": [], "zones": list(zones), "audio": []},
    }
    before = dict(after, data=dict(after["data"], zones=[]))
    return json.dumps({"type": kind, "before": before, "after": after}).encode()


def publish(topic: str, *payloads: bytes, port: int = BROKER[1]) -> None:
    from paho.mqtt import client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(BROKER[0], port)
    client.loop_start()
    try:
        for payload in payloads:
            info = client.publish(topic, payload, qos=1)
            info.wait_for_publish(timeout=10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def wait_until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {check.__doc__ or check}")


@contextmanager
def running(fr: Any, config: dict[str, Any]) -> Iterator[Any]:
    from plugins.surveillance.frigate.worker import FrigateWorker

    worker = FrigateWorker(fr.app, config)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert worker.subscribed.wait(15), "the worker never subscribed"
        yield worker
    finally:
        worker.stop()
        thread.join(15)
        assert not thread.is_alive(), "the worker did not stop"


def incidents(fr: Any, key: str) -> list[Any]:
    from plugins.surveillance.models import Incident

    with fr.kernel.db.session_scope() as session:
        rows = list(session.scalars(select(Incident).where(Incident.idempotency_key == key)))
        for row in rows:
            _ = row.camera
            session.expunge(row)
        return rows


def problem_alerts(fr: Any, camera: str) -> list[Any]:
    from plugins.surveillance.models import Alert

    with fr.kernel.db.session_scope() as session:
        rows = list(session.scalars(
            select(Alert).where(Alert.dedupe_key.like(f"frigate-camera:{camera}:%"))))
        session.expunge_all()
        return rows


# ------------------------------------------------------------------ the tests


def test_an_event_is_one_incident_through_the_analytics_ingest(fr):
    from plugins.surveillance import services as svc
    from plugins.surveillance.models import Alert

    with fr.kernel.db.session_scope() as session:
        rule = svc.create_rule(session, None, name="Intruders", kind="burst",
                               incident_kind="suspicious_activity", threshold=1,
                               window_minutes=60, severity="high")
        session.flush()
        rule_id = rule.id
    ident = f"{time.time():.6f}-{uuid.uuid4().hex[:6]}"
    start = time.time() - 20
    messages = (
        event("new", ident, start=start),  # not yet in the restricted zone: unmapped
        event("update", ident, start=start, zones=["restricted"]),
        event("update", ident, start=start, zones=["restricted"], score=0.93),
        event("end", ident, start=start, zones=["restricted"], score=0.93, end=True),
    )
    key = f"frigate-event:{ident}"
    with running(fr, settings(fr)) as worker:
        publish(f"{fr.prefix}/events", *messages)
        wait_until(lambda: worker.counts["received"] >= 4)
        publish(f"{fr.prefix}/events", *messages)  # redelivered / published again
        wait_until(lambda: worker.counts["received"] >= 8)
    assert worker.counts["created"] == 1
    assert worker.counts["repeated"] == 5
    assert worker.counts["ignored:unmapped"] == 2
    [incident] = incidents(fr, key)
    assert (incident.kind, incident.severity, incident.source) == (
        "suspicious_activity", "medium", "analytics")
    assert incident.camera.code == "GATE-F1"
    assert incident.community_code == fr.C1
    assert incident.raised_by_id == fr.bot.id
    assert incident.ingest_client_id == fr.bot.id
    assert abs(incident.occurred_at.timestamp() - start) < 1
    assert incident.description == f"Frigate: person @ front_gate/restricted (event {ident})"

    # The same path as POST /ingest: the bot's token with the same key and body gets the
    # incident the worker made (200), not a second one.
    resp = fr.app.test_client().post(
        f"{API}/ingest",
        json={"camera_code": "GATE-F1", "kind": "suspicious_activity", "severity": "medium",
              "description": incident.description,
              "occurred_at": datetime.fromtimestamp(start, UTC).isoformat()},
        headers=bearer(token(fr.app, fr.bot, ["surveillance.incident.ingest"]),
                       **{"Idempotency-Key": key}),
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["id"] == incident.id
    # ... and the same early warning: the raised event fires the burst rule, once
    deliver_pending(fr.app)
    with fr.kernel.db.session_scope() as session:
        assert session.scalar(
            select(func.count()).select_from(Alert).where(Alert.rule_id == rule_id)) == 1


def test_a_review_item_is_one_incident(fr):
    ident = f"{time.time():.6f}-{uuid.uuid4().hex[:6]}"
    start = time.time() - 30
    messages = (
        review("new", ident, severity="detection", zones=[], start=start),
        review("update", ident, start=start),  # promoted to an alert in the fire lane
        review("end", ident, start=start),
    )
    with running(fr, settings(fr)) as worker:
        publish(f"{fr.prefix}/reviews", *messages)
        publish(f"{fr.prefix}/reviews", *messages)
        wait_until(lambda: worker.counts["received"] >= 6)
    [incident] = incidents(fr, f"frigate-review:{ident}")
    assert (incident.kind, incident.camera.code) == ("fire_lane_blocked", "LANE-F3")
    assert incident.description == f"Frigate: car @ lane/fire_lane (review {ident})"
    assert worker.counts["created"] == 1
    assert worker.counts["ignored:review_severity"] == 2


def test_unknown_cameras_are_problems_the_officer_sees_and_the_worker_goes_on(fr):
    ident = f"{time.time():.6f}-{uuid.uuid4().hex[:6]}"
    fine = f"{ident}-ok"
    with running(fr, settings(fr)) as worker:
        publish(
            f"{fr.prefix}/events",
            b"{not json",
            event("new", f"{ident}-a", camera="back_alley", zones=["restricted"]),
            event("update", f"{ident}-a", camera="back_alley", zones=["restricted"]),
            event("new", f"{ident}-b", camera="far_yard", zones=["restricted"]),
            event("new", f"{ident}-c", camera="doorbell", zones=["restricted"]),
            event("new", f"{ident}-d", label="dog", zones=["restricted"]),
            event("new", fine, zones=["restricted"]),
        )
        wait_until(lambda: worker.counts["received"] >= 7)
    assert worker.counts["ignored:not_json"] == 1
    assert worker.counts["ignored:ignored_camera"] == 1
    assert worker.counts["ignored:unmapped"] == 1
    assert worker.counts["problem"] == 3
    assert len(incidents(fr, f"frigate-event:{fine}")) == 1
    assert incidents(fr, f"frigate-event:{ident}-b") == []  # C2 is not the bot's place
    [unknown] = problem_alerts(fr, "back_alley")  # twice that day: one alert
    assert (unknown.kind, unknown.community_code) == ("maintenance", fr.C1)
    [outside] = problem_alerts(fr, "far_yard")
    assert "YARD-F2" in outside.body
    titles = [a["title"] for a in fr.officer_client.get(f"{API}/alerts").json["items"]]
    assert "Frigate camera back_alley is not mapped" in titles


def test_messages_published_while_the_worker_is_away_arrive(fr):
    config = settings(fr)  # one client id: the broker keeps its session
    ident = f"{time.time():.6f}-{uuid.uuid4().hex[:6]}"
    with running(fr, config):
        pass
    publish(f"{fr.prefix}/events", event("new", ident, zones=["restricted"]))
    with running(fr, config) as worker:
        wait_until(lambda: incidents(fr, f"frigate-event:{ident}"))
    assert worker.counts["created"] == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _broker(port: int, tmp_path: Any) -> subprocess.Popen:
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: _reachable("127.0.0.1", port), timeout=10)
    return proc


@pytest.mark.skipif(MOSQUITTO is None, reason="no mosquitto binary to start and restart")
def test_the_worker_reconnects_after_the_broker_restarts(fr, tmp_path):
    port = _free_port()
    broker = _broker(port, tmp_path)
    try:
        first, second = (f"{time.time():.6f}-{uuid.uuid4().hex[:6]}-{n}" for n in (1, 2))
        with running(fr, settings(fr, port=port)) as worker:
            publish(f"{fr.prefix}/events", event("new", first, zones=["restricted"]),
                    port=port)
            wait_until(lambda: incidents(fr, f"frigate-event:{first}"))
            broker.terminate()
            broker.wait(10)
            wait_until(lambda: worker.disconnections >= 1)
            broker = _broker(port, tmp_path)
            wait_until(lambda: worker.connections >= 2 and worker.subscribed.is_set())
            publish(f"{fr.prefix}/events", event("new", second, zones=["restricted"]),
                    port=port)
            wait_until(lambda: incidents(fr, f"frigate-event:{second}"))
    finally:
        broker.terminate()
        broker.wait(10)


def test_the_command_runs_until_ctrl_c(fr):
    """``shequ surveillance frigate`` with the app's own settings: a message published
    (again and again, harmlessly) becomes an incident, then SIGINT stops it cleanly."""
    from click.testing import CliRunner

    from core.cli import AppContext
    from plugins.surveillance.cli import surveillance

    ctx = AppContext()
    ctx._app = fr.app
    ident = f"{time.time():.6f}-{uuid.uuid4().hex[:6]}"
    made = threading.Event()

    def feed() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not incidents(fr, f"frigate-event:{ident}"):
            publish(f"{fr.prefix}/events", event("new", ident, zones=["restricted"]))
            time.sleep(0.2)
        made.set()
        if signal.getsignal(signal.SIGINT) is not before:  # the command's handler is in
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    threading.Thread(target=feed, daemon=True).start()
    result = CliRunner().invoke(surveillance, ["frigate"], obj=ctx)
    assert made.is_set()
    assert result.exit_code == 0, result.output
    assert "connected to 127.0.0.1:1883" in result.output
    assert "SIGINT: disconnecting" in result.output
    assert "frigate: stopped; " in result.output
    assert signal.getsignal(signal.SIGINT) is before
    assert len(incidents(fr, f"frigate-event:{ident}")) == 1


def test_the_command_says_what_to_configure(fr, tmp_path):
    from click.testing import CliRunner

    from core.cli import AppContext
    from plugins.surveillance.cli import surveillance

    app, cleanup = build_test_app(tmp_path, plugins=["surveillance"])
    try:
        ctx = AppContext()
        ctx._app = app
        result = CliRunner().invoke(surveillance, ["frigate"], obj=ctx)
    finally:
        cleanup()
    assert result.exit_code == 1
    assert "set [plugins.surveillance.frigate] account" in result.output


@pytest.mark.parametrize(("over", "says"), [
    ({"port": 0}, "plugins.surveillance.frigate.port"),
    ({"rules": [{"labels": ["person"], "kind": "burglary"}]},
     "plugins.surveillance.frigate.rules.0.kind"),
    ({"password": "secret"}, "plugins.surveillance.frigate.password: a password needs a username"),
    ({"topic_prefix": "frigate/#"}, "plugins.surveillance.frigate.topic_prefix"),
])
def test_bad_settings_are_refused_readably(tmp_path, over, says):
    from core.plugins import PluginError

    with pytest.raises(PluginError) as refused:
        build_test_app(tmp_path, plugins=["surveillance"], migrate=False,
                       config={"plugins": {"surveillance": {"frigate": over}}})
    assert says in str(refused.value)


def test_the_kinds_the_settings_accept_are_the_plugins_kinds():
    from plugins.surveillance import models
    from plugins.surveillance.frigate import config

    assert config.INCIDENT_KINDS == models.INCIDENT_KINDS
    assert config.SEVERITIES == models.SEVERITIES
