"""The ``core.backup`` periodic job: writes a backup to ``[backup] directory``, checks it,
keeps the newest ``[backup] keep``, and reports its result in /metrics, /healthz and the
admin page. Runs on SQLite and (with ``SHEQU_TEST_DATABASE_URL``) on PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.core.test_metrics import parse, value

BACKUP = {"backup": {"enabled": True, "keep": 2, "every_hours": 6}}
pytestmark = [pytest.mark.with_plugins(), pytest.mark.shequ_config(BACKUP)]


def backups(kernel) -> list[str]:
    return sorted(p.name for p in kernel.config.backup_directory.glob("shequ-*")
                  if p.suffix in (".db", ".dump"))


@pytest.fixture(autouse=True)
def _tools():
    if os.environ.get("SHEQU_TEST_DATABASE_URL") and not shutil.which("pg_dump"):
        pytest.skip("pg_dump is not installed (Debian: apt-get install postgresql-client)")


def test_the_job_is_registered_only_when_enabled(app, make_app):
    job = app.extensions["shequ"].jobs["core.backup"]
    assert job.every == 6 * 3600
    off = make_app(plugins=[])
    assert "core.backup" not in off.extensions["shequ"].jobs


def test_the_job_writes_checks_and_prunes(app, client):
    from core.backup import fingerprint
    from core.jobs import run_job

    kernel = app.extensions["shequ"]
    job = kernel.jobs["core.backup"]
    for _ in range(3):
        ran, summary = run_job(app, job)
        assert ran and "written and checked" in summary
    kept = backups(kernel)
    assert len(kept) == 2, kept
    directory = kernel.config.backup_directory
    status = json.loads((directory / "backup-status.json").read_text())
    assert status["ok"] is True and status["last_file"] == kept[-1] and status["kept"] == 2
    assert not list(directory.glob("*.partial"))
    if kernel.db.dialect == "sqlite":
        # The check file is `shequ db check --json` of the copy: equal to the live database
        # (nothing wrote in between), so a restore is verified with one diff.
        check = (directory / f"{kept[-1]}.check.json").read_text()
        assert check == json.dumps(fingerprint(kernel.db.engine), indent=1, sort_keys=True) \
            + "\n"  # what `shequ db check --json` prints
        assert len(list(directory.glob("*.check.json"))) == 2  # pruned with their backups
    got = parse(client.get("/metrics").get_data(as_text=True))
    assert value(got, "shequ_backup_last_ok") == 1
    assert value(got, "shequ_backup_kept") == 2
    assert value(got, "shequ_job_runs_total", job="core.backup", outcome="ok") >= 3
    health = client.get("/healthz").get_json()
    assert health["checks"]["backup"]["ok"] is True


def test_a_failed_backup_keeps_the_old_ones_and_is_reported(app, client, client_as,
                                                           monkeypatch):
    from core import backup as backup_module
    from core.jobs import run_job

    kernel = app.extensions["shequ"]
    job = kernel.jobs["core.backup"]
    run_job(app, job)
    good = backups(kernel)

    def truncated(_engine, target):
        target.write_bytes(b"SQLite format 3\x00 but cut short")
        return target

    monkeypatch.setattr(backup_module, "backup", truncated)
    with pytest.raises(backup_module.BackupError):
        run_job(app, job)
    assert backups(kernel) == good  # the good backup stays, the bad one is not kept
    assert not list(kernel.config.backup_directory.glob("*.partial"))
    got = parse(client.get("/metrics").get_data(as_text=True))
    assert value(got, "shequ_backup_last_ok") == 0
    assert value(got, "shequ_backup_consecutive_failures") == 1
    assert value(got, "shequ_job_runs_total", job="core.backup", outcome="failed") >= 1
    health = client.get("/healthz")
    assert health.status_code == 200  # reported, not a reason to leave the balancer
    assert health.get_json()["checks"]["backup"]["ok"] is False
    page = client_as("admin").get("/admin/plugins").get_data(as_text=True)
    assert 'id="backup-status"' in page and ("备份失败" in page or "Backup failed" in page)


def test_the_check_refuses_a_file_that_is_not_a_backup(app, tmp_path):
    from core.backup import BackupError, check_backup

    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"x" * 100)
    with pytest.raises(BackupError):
        check_backup(app.extensions["shequ"].db.engine, bogus)


def test_a_shequ_worker_runs_it_and_its_counters_reach_the_metrics_directory(tmp_path):
    """The real path: `shequ worker` runs the job on its clock, and writes its job counters
    to the instance's metrics directory, which a web worker's scrape reads."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    shequ = str(Path(sys.executable).parent / "shequ")
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SHEQU") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(SHEQU__APP__INSTANCE_PATH=str(instance), SHEQU__APP__ENV="test",
               SHEQU__EVENTS__DELIVERY="worker", SHEQU__PLUGINS__ENABLED="[]",
               SHEQU__BACKUP__ENABLED="true", SHEQU__BACKUP__EVERY_HOURS="0.0003",
               SHEQU__BACKUP__KEEP="2")
    drop = None
    if os.environ.get("SHEQU_TEST_DATABASE_URL"):
        from core.testing import _postgres_schema_url

        env["SHEQU__DATABASE__URL"], drop = _postgres_schema_url(
            os.environ["SHEQU_TEST_DATABASE_URL"])
    try:
        assert subprocess.run([shequ, "db", "upgrade"], env=env, capture_output=True,
                              timeout=120).returncode == 0
        proc = subprocess.Popen([shequ, "worker", "--poll", "0.2"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        directory = instance / "backups"
        deadline = time.monotonic() + 40
        try:
            while time.monotonic() < deadline:
                if len(list(directory.glob("shequ-*"))) >= 2 and not list(
                        directory.glob("*.partial")):
                    break
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.3)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
        status = json.loads((directory / "backup-status.json").read_text())
        assert status["ok"] is True, (status, out)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(instance / "metrics"))
        text = generate_latest(registry).decode()
        assert 'shequ_job_runs_total{job="core.backup",outcome="ok"}' in text, text[:2000]
    finally:
        if drop:
            drop()
