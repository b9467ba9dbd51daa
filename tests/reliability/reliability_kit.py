"""The reliability suite's harness: real databases, real processes, results on record.

Each scenario gets its own PostgreSQL database (``shequ_rel_<hex>``, dropped afterwards),
a config file, and processes started with ``subprocess.Popen`` in their own session and
stopped by process id (TERM, then KILL of the group). The test process itself builds an
app on the same database to publish events, read results and check invariants.

The suite runs only when asked (``make reliability`` sets ``SHEQU_RELIABILITY=1``): it
needs PostgreSQL and Redis on 127.0.0.1 and several minutes. Each test reports what it
injected, what it checked and its figures with :func:`record`; at the end of the session
the results go to ``reliability/results.json`` and docs/reliability.md is generated from
them (``tests/reliability/report.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SHEQU = str(Path(sys.executable).with_name("shequ"))
PG_ADMIN = os.environ.get("SHEQU_RELIABILITY_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("SHEQU_RELIABILITY_REDIS", "redis://127.0.0.1:6379/0")
RESULTS: list[dict[str, Any]] = []




def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.reliability)
            if not os.environ.get("SHEQU_RELIABILITY"):
                item.add_marker(pytest.mark.skip(
                    reason="reliability scenarios run with `make reliability` "
                           "(PostgreSQL and Redis on 127.0.0.1, several minutes)"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not RESULTS or not os.environ.get("SHEQU_RELIABILITY_REPORT"):
        return
    from report import write_report  # tests/reliability/report.py

    write_report(RESULTS)


def record(scenario: str, *, injected: str, checked: str, figures: dict[str, Any],
           passed: bool) -> None:
    """One row of reliability/results.json (also printed, so CI logs show the figures)."""
    row = {"scenario": scenario, "injected": injected, "checked": checked,
           "figures": figures, "pass": bool(passed)}
    RESULTS.append(row)
    print(f"\n[reliability] {json.dumps(row, ensure_ascii=False)}")


# ------------------------------------------------------------------------------ services


def _pg_up() -> str | None:
    import psycopg

    try:
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except Exception as exc:
        return f"PostgreSQL is not reachable at {PG_ADMIN}: {exc}"
    return None


def _redis_up() -> str | None:
    from urllib.parse import urlsplit

    parts = urlsplit(REDIS)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=3) as s:
            s.sendall(b"PING\r\n")
            if not s.recv(16).startswith(b"+PONG"):
                return f"Redis at {REDIS} did not answer PING"
    except OSError as exc:
        return f"Redis is not reachable at {REDIS}: {exc}"
    return None


@pytest.fixture(scope="session")
def services() -> None:
    problems = [p for p in (_pg_up(), _redis_up()) if p]
    if problems:
        pytest.fail("the reliability suite needs its services: " + "; ".join(problems))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------ processes


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the process (not its group: SIGKILL of one worker, as a crash would)."""
        if self.alive():
            os.kill(self.popen.pid, sig)

    def stop(self, timeout: float = 15) -> None:
        if not self.alive():
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


@dataclass
class Deployment:
    """One Shequ instance on its own PostgreSQL database: config, env, processes."""

    tmp: Path
    db_url: str
    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)
    port: int | None = None

    def shequ(self, *args: str, input: str | None = None, timeout: float = 300,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([SHEQU, *args], cwd=ROOT, env={**self.env, **(env or {})},
                              input=input, capture_output=True, text=True, timeout=timeout)

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        log = self.tmp / f"{name}.log"
        fh = open(log, "ab")  # noqa: SIM115 - closed when the process ends
        popen = subprocess.Popen([SHEQU, *args], cwd=ROOT, env={**self.env, **(env or {})},
                                 stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        fh.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def serve(self, workers: int = 2) -> Proc:
        self.port = free_port()
        proc = self.start("web", "run", "--host", "127.0.0.1", "--port", str(self.port),
                          "--workers", str(workers))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"the web server died:\n{proc.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return proc
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the web server did not answer in 60 s:\n{proc.tail()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def app(self) -> Any:
        """An app on this deployment's database, in the test process (probe included)."""
        sys.path.insert(0, str(HERE / "probe"))
        import shequ_probe

        from core.app import create_app
        from core.config import load_config

        os.environ.setdefault("PROBE_SUBSCRIBERS", self.env.get("PROBE_SUBSCRIBERS", "record"))
        cfg = load_config(self.env["SHEQU_CONFIG"], environ=self.env)
        return create_app(cfg, plugins={"probe": shequ_probe})


def _config(tmp: Path, db_url: str, plugins: list[str]) -> str:
    enabled = ", ".join(f'"{p}"' for p in plugins)
    return f"""# Written by tests/reliability for one scenario.
[app]
env = "production"
instance_path = "{tmp / 'instance'}"
demo_data = false
trusted_hosts = []
secure_cookies = "off"       # plain HTTP on 127.0.0.1

[database]
url = "{db_url}"
pool_size = 5

[server]
host = "127.0.0.1"
workers = 2
timeout = 30

[events]
delivery = "worker"
max_attempts = 4
backoff_base_seconds = 0.2
backoff_max_seconds = 1.0
batch_size = 200
poll_interval = 0.2

[limits]
storage_uri = "{REDIS}"

[plugins]
enabled = [{enabled}]
strict = true

[messaging]                  # production refuses the console channel; nothing is sent here
sms = "none"
email = "none"
"""


def _install_probe(tmp: Path) -> Path:
    """Install the probe plugin the way pip would: a dist-info with an entry point."""
    site = tmp / "site"
    dist = site / "shequ_probe-0.0.1.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shequ-probe\nVersion: 0.0.1\n")
    (dist / "entry_points.txt").write_text("[shequ.plugins]\nprobe = shequ_probe\n")
    return site


@pytest.fixture
def deployment(services: None, tmp_path: Path, request: pytest.FixtureRequest
               ) -> Iterator[Any]:
    """``deployment(plugins=[...], probe="record,flaky")`` → a migrated :class:`Deployment`
    on a fresh database; every process it started is stopped afterwards and the database
    dropped."""
    import psycopg

    made: list[tuple[Deployment, str]] = []

    def make(plugins: list[str] | None = None, probe: str | None = None) -> Deployment:
        name = f"shequ_rel_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        tmp = tmp_path / name
        tmp.mkdir()
        enabled = list(plugins or [])
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHEQU")}
        if probe is not None:
            enabled.append("probe")
            site = _install_probe(tmp)
            env["PYTHONPATH"] = os.pathsep.join([str(site), str(HERE / "probe"),
                                                 env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
            env["PROBE_SUBSCRIBERS"] = probe
            env["PROBE_LOG"] = str(tmp / "probe-runs.log")
        config = tmp / "shequ.toml"
        config.write_text(_config(tmp, db_url, enabled))
        env.update(SHEQU_CONFIG=str(config), SHEQU_SECRET_KEY="reliability-" + "k" * 40)
        dep = Deployment(tmp, db_url, env)
        made.append((dep, name))
        out = dep.shequ("db", "upgrade")
        assert out.returncode == 0, out.stdout + out.stderr
        if probe is not None:
            from shequ_probe import TABLES
            from sqlalchemy import create_engine, text

            engine = create_engine(db_url)
            with engine.begin() as conn:
                for ddl in TABLES:
                    conn.execute(text(ddl))
                conn.execute(text("INSERT INTO probe_switch (broken) VALUES (0)"))
            engine.dispose()
        return dep

    sys.path.insert(0, str(HERE / "probe"))
    try:
        yield make
    finally:
        for dep, name in made:
            dep.stop_all()
        for dep, name in made:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


# ------------------------------------------------------------------------------ data


def make_places(app: Any, rows: int, tmp: Path) -> Path:
    """The streets, communities and grids of a synthetic ``rows``-person CSV (written to
    ``tmp/persons.csv``, returned), created in the app's registry."""
    from bench.registry import _make_places
    from bench.registry_data import write_persons_csv

    path = tmp / "persons.csv"
    places = write_persons_csv(path, rows)
    _make_places(app.extensions["shequ"], places)
    return path


def staff_token(dep: Deployment, username: str, role: str = "community_worker") -> str:
    """A staff account acting in every community, and a bearer token for it."""
    from sqlalchemy import create_engine, text

    made = dep.shequ("user", "create", username, "--role", role, "--password-stdin",
                     input="reliability-pw-1\n")
    assert made.returncode == 0, made.stderr
    engine = create_engine(dep.db_url)
    with engine.begin() as conn:
        uid = conn.execute(text("SELECT id FROM identity_user WHERE username = :u"),
                           {"u": username}).scalar()
        conn.execute(text("INSERT INTO identity_user_scope (user_id, kind, code) "
                          "VALUES (:u, 'all', '')"), {"u": uid})
    engine.dispose()
    out = dep.shequ("token", "create", username)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1].split()[-1]


def session_cookie(base: str, username: str, password: str) -> str:
    """Sign in through the real form (CSRF token and all); the Cookie header to send."""
    import http.cookiejar
    import re
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/account/login", timeout=30) as resp:
        form = resp.read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "username": username,
                                   "password": password}).encode()
    with opener.open(urllib.request.Request(f"{base}/account/login", data=data), timeout=30):
        pass
    return "; ".join(f"{c.name}={c.value}" for c in jar)
