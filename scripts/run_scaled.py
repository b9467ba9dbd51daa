"""Run the scaled deployment on this machine: PostgreSQL, Redis, N gunicorn workers, M
event workers — the shape of config/production.example.toml, on 127.0.0.1.

    python scripts/run_scaled.py start [--workers 4] [--event-workers 2] [--port 8000]
    python scripts/run_scaled.py stop      # from another terminal
    python scripts/run_scaled.py status

``start`` creates the database if it is missing, migrates it, starts ``shequ run`` and the
``shequ worker`` processes, records their process ids in ``instance/scaled/pids.json`` and
waits; Ctrl+C (or ``stop``) stops every process it started, by process id — TERM, then
KILL of the process group after a grace period. It never touches a process it did not
start. ``make run-scaled`` calls ``start``.

The only differences from a real district deployment: no TLS proxy in front (so
``app.secure_cookies = "off"`` — cookies over plain HTTP, on 127.0.0.1 only) and the
secret key is generated into the instance directory instead of coming from the service
environment.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = ROOT / "instance" / "scaled"
PIDS = INSTANCE / "pids.json"
SHEQU = str(Path(sys.executable).with_name("shequ"))
DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/shequ_scaled"


def _env(args: argparse.Namespace) -> dict[str, str]:
    INSTANCE.mkdir(parents=True, exist_ok=True)
    secret = INSTANCE / "secret_key"
    if not secret.exists():
        secret.write_text(secrets.token_urlsafe(48))
        secret.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEQU")}
    env.update(
        SHEQU_CONFIG=str(ROOT / "config" / "production.example.toml"),
        SHEQU_SECRET_KEY=secret.read_text().strip(),
        SHEQU__APP__INSTANCE_PATH=str(INSTANCE),
        SHEQU__APP__TRUSTED_HOSTS="[]",
        SHEQU__APP__SECURE_COOKIES="off",
        SHEQU__DATABASE__URL=args.database_url,
        SHEQU__LIMITS__STORAGE_URI=args.redis_url,
        SHEQU__SERVER__WORKERS=str(args.workers),
    )
    return env


def _ensure_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    admin = dict(host=u.host or "127.0.0.1", port=u.port or 5432, user=u.username or "postgres",
                 password=u.password, dbname="postgres", connect_timeout=5)
    with psycopg.connect(**{k: v for k, v in admin.items() if v is not None},
                         autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (u.database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{u.database}"')
            print(f"created database {u.database}")


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop_pids(pids: list[int], grace: float = 15) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not our child (stop from another terminal)
                done = 0 if _alive(pid) else pid
            if done:
                break
            time.sleep(0.2)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start(args: argparse.Namespace) -> int:
    if PIDS.exists() and any(_alive(p["pid"]) for p in json.loads(PIDS.read_text())):
        print(f"already running (see {PIDS}); `python scripts/run_scaled.py stop` first")
        return 1
    env = _env(args)
    _ensure_database(args.database_url)
    print("migrating ...")
    subprocess.run([SHEQU, "db", "upgrade"], cwd=ROOT, env=env, check=True)
    procs = [("web", _spawn([SHEQU, "run", "--host", "127.0.0.1", "--port", str(args.port),
                             "--workers", str(args.workers)], env, INSTANCE / "web.log"))]
    for i in range(args.event_workers):
        procs.append((f"worker-{i + 1}", _spawn([SHEQU, "worker"], env,
                                                INSTANCE / f"worker-{i + 1}.log")))
    PIDS.write_text(json.dumps([{"name": n, "pid": p.pid} for n, p in procs]))
    url = f"http://127.0.0.1:{args.port}"
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):  # noqa: S310 - http://127.0.0.1
                break
        except OSError:
            time.sleep(0.5)
    print(f"Shequ (scaled): {url}/  — {args.workers} web workers, {args.event_workers} event "
          f"workers, database {args.database_url}")
    print(f"logs in {INSTANCE}; Ctrl+C stops everything")
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stopping:
            for name, p in procs:
                if p.poll() is not None:
                    print(f"{name} exited with {p.returncode}; stopping the rest")
                    stopping = True
            time.sleep(0.5)
    finally:
        _stop_pids([p.pid for _, p in procs])
        PIDS.unlink(missing_ok=True)
        print("stopped")
    return 0


def stop(_args: argparse.Namespace) -> int:
    if not PIDS.exists():
        print("not running")
        return 0
    recorded = json.loads(PIDS.read_text())
    _stop_pids([p["pid"] for p in recorded])
    PIDS.unlink(missing_ok=True)
    print(f"stopped {', '.join(p['name'] for p in recorded)}")
    return 0


def status(_args: argparse.Namespace) -> int:
    if not PIDS.exists():
        print("not running")
        return 1
    for p in json.loads(PIDS.read_text()):
        print(f"{p['name']:<10} {p['pid']:>8}  {'running' if _alive(p['pid']) else 'gone'}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("start", help="migrate, start everything, wait for Ctrl+C")
    s.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 2))
    s.add_argument("--event-workers", type=int, default=2)
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--database-url", default=os.environ.get("SHEQU_SCALED_DATABASE_URL",
                                                            DEFAULT_DB))
    s.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    s.set_defaults(func=start)
    sub.add_parser("stop", help="stop what start started").set_defaults(func=stop)
    sub.add_parser("status", help="show the recorded processes").set_defaults(func=status)
    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
