"""``/metrics``: the Prometheus text format, by endpoint and status, protected, and counted
across gunicorn workers (multiprocess mode)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

SHEQU = str(Path(sys.executable).parent / "shequ")


def scrape(client, **kwargs) -> dict[str, list]:
    resp = client.get("/metrics", **kwargs)
    assert resp.status_code == 200, resp.status_code
    assert resp.content_type.startswith("text/plain")
    return parse(resp.get_data(as_text=True))


def parse(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def value(samples: dict[str, list], name: str, **labels: str) -> float:
    return sum(v for lab, v in samples.get(name, [])
               if all(lab.get(k) == want for k, want in labels.items()))


@pytest.fixture
def bare(make_app):
    return make_app(plugins=[])


def test_requests_are_counted_by_endpoint_and_status_never_by_path(bare):
    client = bare.test_client()
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/registry/persons/110101199003074258/nowhere").status_code == 404
    after = scrape(client)
    key = {"endpoint": "health.healthz", "method": "GET", "status": "200"}
    assert value(after, "shequ_http_requests_total", **key) \
        - value(before, "shequ_http_requests_total", **key) == 3
    assert value(after, "shequ_http_request_duration_seconds_count",
                 endpoint="health.healthz", method="GET") >= 3
    assert value(after, "shequ_http_requests_total", endpoint="unmatched", status="404") >= 1
    labels = {v for lab, _ in after["shequ_http_requests_total"] for v in lab.values()}
    assert not any("/" in v or "110101" in v for v in labels), labels


def test_outbox_lag_and_dead_letters_per_subscriber(bare):
    from core.db import utcnow
    from core.events.models import Delivery, OutboxEvent

    kernel = bare.extensions["shequ"]
    with kernel.db.Session() as s:
        old = OutboxEvent(name="core.test.happened", payload={}, fanned_out=True,
                          created_at=utcnow() - timedelta(minutes=10))
        unfanned = OutboxEvent(name="core.test.happened", payload={}, fanned_out=False,
                               created_at=utcnow() - timedelta(minutes=2))
        s.add_all([old, unfanned])
        s.flush()
        s.add_all([Delivery(event_id=old.id, subscriber="t:slow", status="pending"),
                   Delivery(event_id=old.id, subscriber="t:broken", status="dead"),
                   Delivery(event_id=old.id, subscriber="t:fine", status="delivered")])
        s.commit()
    got = scrape(bare.test_client())
    assert value(got, "shequ_database_up") == 1
    assert 590 <= value(got, "shequ_outbox_lag_seconds", subscriber="t:slow") <= 700
    assert 110 <= value(got, "shequ_outbox_lag_seconds", subscriber="") <= 200
    assert value(got, "shequ_outbox_pending", subscriber="t:slow") == 1
    assert value(got, "shequ_outbox_pending", subscriber="") == 1
    assert value(got, "shequ_outbox_dead_letters", subscriber="t:broken") == 1
    assert value(got, "shequ_outbox_dead_letters", subscriber="t:fine") == 0


def test_scrape_is_protected_by_network_or_token(make_app):
    app = make_app(plugins=[], config={"metrics": {"token": "s3cret-scrape-token",
                                                   "allowed_networks": ["127.0.0.1/32"]}})
    client = app.test_client()
    outside = {"environ_base": {"REMOTE_ADDR": "10.9.8.7"}}
    assert client.get("/metrics", **outside).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"},
                      **outside).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"},
                      **outside).status_code == 200
    assert client.get("/metrics").status_code == 200  # 127.0.0.1


def test_no_token_means_networks_only_and_a_forwarded_header_is_not_trusted(bare):
    client = bare.test_client()
    outside = {"environ_base": {"REMOTE_ADDR": "192.0.2.1"}}
    assert client.get("/metrics", headers={"Authorization": "Bearer "}, **outside
                      ).status_code == 403
    # proxy_hops = 0: X-Forwarded-For cannot make an outside client look local
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}, **outside
                      ).status_code == 403


def test_disabled_metrics_are_404(make_app):
    app = make_app(plugins=[], config={"metrics": {"enabled": False}})
    assert app.test_client().get("/metrics").status_code == 404


def test_bad_network_is_a_config_error():
    from core.config import DEFAULT_CONFIG, ConfigError, load_config

    with pytest.raises(ConfigError, match="metrics.allowed_networks"):
        load_config(DEFAULT_CONFIG, overrides={"metrics": {"allowed_networks": ["lan"]}},
                    environ={})


@pytest.mark.with_plugins()
def test_logins_failures_and_lockouts_are_counted(app, client):
    import re

    from core.testing import login

    page = client.get("/account/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)

    def attempt(password: str) -> int:
        return client.post("/account/login", data={
            "username": "nobody-here", "password": password, "csrf_token": csrf}).status_code

    before = scrape(client)
    statuses = [attempt("wrong-password-1") for _ in range(7)]
    assert statuses[0] == 401 and 429 in statuses
    login(app.test_client(), app, "resident")
    after = scrape(client)
    delta = {o: value(after, "shequ_logins_total", outcome=o)
             - value(before, "shequ_logins_total", outcome=o)
             for o in ("failed", "locked_out", "succeeded")}
    assert delta == {"failed": statuses.count(401), "locked_out": statuses.count(429),
                     "succeeded": 1}


def test_access_log_writes_are_counted(bare):
    from core.audit.services import log_access

    client = bare.test_client()
    before = value(scrape(client), "shequ_access_log_entries_total")
    kernel = bare.extensions["shequ"]
    with bare.app_context(), kernel.db.Session() as s:
        log_access(s, actor=None, person_id=1, fields=["name"], purpose="test", masked=True)
        log_access(s, actor=None, person_id=2, fields=["name"], purpose="test", masked=True)
        s.rollback()
    assert value(scrape(client), "shequ_access_log_entries_total") - before == 2


def test_job_runs_and_failures_are_counted(bare):
    from core.jobs import Job, run_job

    def boom(_app):
        raise RuntimeError("job broke")

    client = bare.test_client()
    before = scrape(client)
    run_job(bare, Job("core.test_ok", 60, lambda _app: "fine"))
    with pytest.raises(RuntimeError):
        run_job(bare, Job("core.test_boom", 60, boom))
    after = scrape(client)
    for job, outcome in (("core.test_ok", "ok"), ("core.test_boom", "failed")):
        assert value(after, "shequ_job_runs_total", job=job, outcome=outcome) \
            - value(before, "shequ_job_runs_total", job=job, outcome=outcome) == 1


# ------------------------------------------------------------------ two gunicorn workers


@pytest.fixture
def served(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SHEQU") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(SHEQU__APP__INSTANCE_PATH=str(tmp_path / "instance"), SHEQU__APP__ENV="test",
               SHEQU__EVENTS__DELIVERY="manual", SHEQU__PLUGINS__ENABLED="[]")
    drop = None
    if os.environ.get("SHEQU_TEST_DATABASE_URL"):
        from core.testing import _postgres_schema_url

        env["SHEQU__DATABASE__URL"], drop = _postgres_schema_url(
            os.environ["SHEQU_TEST_DATABASE_URL"])
    up = subprocess.run([SHEQU, "db", "upgrade"], env=env, capture_output=True, text=True,
                        timeout=120)
    assert up.returncode == 0, up.stderr
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # A stale file of a process that is gone: the start-up must wipe it.
    stale = tmp_path / "instance" / "metrics"
    stale.mkdir(parents=True)
    (stale / "counter_999999.db").write_bytes(b"not a metrics file")
    proc = subprocess.Popen([SHEQU, "run", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{base}/api/v1/openapi.json", timeout=2).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.2)
        yield base, stale
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        if drop:
            drop()


def test_a_scrape_counts_every_gunicorn_worker(served):
    base, directory = served
    assert not (directory / "counter_999999.db").exists()
    sent = 40

    def hit() -> None:
        with urllib.request.urlopen(f"{base}/healthz", timeout=30) as resp:
            assert json.load(resp)["status"] == "ok"

    threads = [threading.Thread(target=hit) for _ in range(sent)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pids: set[str] = set()
    for _ in range(10):  # each scrape is answered by one worker; each sees all
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
            got = parse(resp.read().decode())
        assert value(got, "shequ_http_requests_total", endpoint="health.healthz",
                     status="200") == sent
        pids |= {lab["pid"] for lab, _ in got.get("shequ_worker_started_seconds", [])}
    assert len(pids) == 2, f"expected both workers in the scrape, saw pids {pids}"


@pytest.mark.with_plugins()
def test_registry_import_rows_are_counted(app, tmp_path):
    from core.registry.importer import import_persons
    from core.registry.testing import ensure_registry, make_places
    from tests.core.test_registry_import import good_rows, write_csv

    kernel = ensure_registry(app)
    client = app.test_client()
    before = scrape(client)
    with kernel.db.Session() as s:
        make_places(s)
        s.commit()
        report = import_persons(s, write_csv(tmp_path / "a.csv", good_rows()), bus=kernel.bus)
        s.commit()
        bad = good_rows()[:1]
        bad[0][1] = "110101199003070000"  # a wrong check digit
        rejected = import_persons(s, write_csv(tmp_path / "b.csv", bad), bus=kernel.bus)
    assert report.ok and not rejected.ok
    after = scrape(client)
    for outcome, n in (("accepted", 4), ("rejected", 1)):
        assert value(after, "shequ_registry_import_rows_total", outcome=outcome) \
            - value(before, "shequ_registry_import_rows_total", outcome=outcome) == n
