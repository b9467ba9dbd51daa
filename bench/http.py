"""``api_read``: one authenticated JSON read through the whole stack, against a floor.

Shequ: ``shequ run --workers 2`` (embedded gunicorn, sync workers) serving
``GET /api/v1/identity/me`` with ``Authorization: Bearer <token>``, configured by a temporary
TOML file (production, events delivered by ``shequ worker`` so no delivery thread, all four
built-in plugins). Floor: ``gunicorn -w 2 bench.floors.bare_app:app``, bare Flask +
SQLAlchemy ORM + marshmallow reading the same user row by primary key from the same
database. Both servers stay up; load alternates between them for N interleaved rounds and
the median is reported: req/s (``api_read``, target ratio >= 0.6) and p99 latency
(``api_read_p99``, target ratio <= 2). Run on SQLite, then on PostgreSQL (``*_pg``) in the
dedicated database ``shequ_bench``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import ROOT, Result, Server, Settings, Target, free_port, log, median
from bench.load import LoadResult, generator_name, run_load

PLUGINS = ["gov_services", "commerce", "self_governance", "surveillance"]
ME_PATH = "/api/v1/identity/me"
PG_ADMIN_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PG_BENCH_DB = "shequ_bench"
SECRET = "bench-secret-key-not-for-production-use-0123456789"


@dataclass
class Instance:
    """A migrated Shequ instance with one account and its token."""

    tmp: Path
    config_path: Path
    db_url: str
    env: dict[str, str]
    user_id: int
    username: str
    token: str


def shequ_argv() -> list[str]:
    script = Path(sys.executable).with_name("shequ")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from core.cli import main; sys.exit(main())"]


def base_env() -> dict[str, str]:
    """The caller's environment without any Shequ configuration leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEQU")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


# ------------------------------------------------------------------------------ PostgreSQL


def _pg_conninfo(url: str, dbname: str | None = None) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    info: dict[str, Any] = {"host": u.host or "127.0.0.1", "port": u.port or 5432,
                            "user": u.username or "postgres", "dbname": dbname or u.database}
    if u.password:
        info["password"] = u.password
    return info


def postgres_version() -> str | None:
    try:
        import psycopg

        with psycopg.connect(**_pg_conninfo(PG_ADMIN_URL), connect_timeout=3) as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
    except Exception:
        return None


def reset_pg_database() -> str:
    """Create ``shequ_bench`` if absent and drop everything in it; return its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(**_pg_conninfo(PG_ADMIN_URL), autocommit=True,
                         connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (PG_BENCH_DB,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{PG_BENCH_DB}"')
    with psycopg.connect(**_pg_conninfo(PG_ADMIN_URL, PG_BENCH_DB), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg", database=PG_BENCH_DB)
    return url.render_as_string(hide_password=False)


# ------------------------------------------------------------------------------ set-up


def _config_toml(instance: Path, db_url: str) -> str:
    plugins = ", ".join(f'"{p}"' for p in PLUGINS)
    return f"""# Written by bench/http.py for one benchmark run.
[app]
env = "production"
instance_path = "{instance}"
demo_data = false

[database]
url = "{db_url}"

[server]
host = "127.0.0.1"
workers = 2

[events]
delivery = "worker"

[plugins]
enabled = [{plugins}]
strict = true
"""


def prepare_instance(backend: str, tmp: Path) -> Instance:
    instance = tmp / "instance"
    db_url = f"sqlite:///{instance}/shequ.db" if backend == "sqlite" else reset_pg_database()
    config_path = tmp / "shequ.toml"
    config_path.write_text(_config_toml(instance, db_url))
    env = base_env()
    env.update(SHEQU_CONFIG=str(config_path), SHEQU_SECRET_KEY=SECRET)
    out = subprocess.run([*shequ_argv(), "db", "upgrade"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=False, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"shequ db upgrade failed:\n{out.stdout}\n{out.stderr}")
    out = subprocess.run([sys.executable, "-m", "bench.seed"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=False, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"creating the bench user failed:\n{out.stderr}")
    seed = json.loads(out.stdout.strip().splitlines()[-1])
    return Instance(tmp, config_path, db_url, env, seed["user_id"], seed["username"],
                    seed["token"])


def start_shequ(inst: Instance, port: int) -> Server:
    argv = [*shequ_argv(), "run", "--host", "127.0.0.1", "--workers", "2", "--port", str(port)]
    return Server("shequ", argv, env=inst.env, port=port, log_path=inst.tmp / "shequ.log")


def start_floor(inst: Instance, port: int) -> Server:
    env = base_env()
    env["BENCH_DB_URL"] = inst.db_url
    argv = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
            "bench.floors.bare_app:app"]
    return Server("floor", argv, env=env, port=port, log_path=inst.tmp / "floor.log")


def _check_body(name: str, body: bytes, username: str) -> None:
    data = json.loads(body)
    if data.get("username") != username:
        raise RuntimeError(f"{name} answered {data!r}, not the bench user")


# ------------------------------------------------------------------------------ benchmark


def api_read(settings: Settings, backend: str = "sqlite") -> list[Result]:
    name = "api_read" if backend == "sqlite" else "api_read_pg"
    gen = generator_name(settings.python_load)
    if backend == "postgresql":
        version = postgres_version()
        if version is None:
            reason = f"PostgreSQL not reachable at {PG_ADMIN_URL} (set BENCH_PG_URL)"
            log(f"{name}: skipped, {reason}")
            return [Result(name, None, "req/s", None, Target("ratio", ">=", 0.6),
                           meta={"skipped": reason}),
                    Result(f"{name}_p99", None, "ms", None, Target("ratio", "<=", 2),
                           meta={"skipped": reason})]
    tmp = Path(tempfile.mkdtemp(prefix="shequ-bench-"))
    servers: list[Server] = []
    try:
        log(f"{name}: migrating a {backend} instance and creating a token")
        inst = prepare_instance(backend, tmp)
        shequ = start_shequ(inst, free_port())
        servers.append(shequ)
        floor = start_floor(inst, free_port())
        servers.append(floor)
        auth = {"Authorization": f"Bearer {inst.token}"}
        floor_path = f"/user/{inst.user_id}"
        _check_body("shequ", shequ.wait_ready(ME_PATH, auth), inst.username)
        _check_body("floor", floor.wait_ready(floor_path), inst.username)
        targets = {"shequ": (shequ, ME_PATH, auth), "floor": (floor, floor_path, {})}

        def load(side: str, seconds: int) -> LoadResult:
            server, path, headers = targets[side]
            return run_load(server.port, path, headers, seconds=seconds,
                            threads=settings.threads, connections=settings.connections,
                            force_python=settings.python_load)

        log(f"{name}: warming up both servers ({settings.warmup}s each, {gen})")
        load("shequ", settings.warmup)
        load("floor", settings.warmup)
        runs: dict[str, list[LoadResult]] = {"shequ": [], "floor": []}
        for i in range(settings.rounds):
            order = ("shequ", "floor") if i % 2 == 0 else ("floor", "shequ")
            for side in order:
                res = load(side, settings.duration)
                runs[side].append(res)
                log(f"{name} round {i + 1}/{settings.rounds} {side:<5}: {res.summary()}")
        for server in servers:
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} died during the run:\n{server.tail()}")
    except Exception as exc:
        log(f"{name}: FAILED: {exc}")
        err = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        return [Result(name, None, "req/s", None, Target("ratio", ">=", 0.6), meta=err),
                Result(f"{name}_p99", None, "ms", None, Target("ratio", "<=", 2), meta=err)]
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def med(side: str, attr: str) -> float:
        return median([getattr(r, attr) for r in runs[side]])

    errors = sum(r.errors for side in runs.values() for r in side)
    meta: dict[str, Any] = {
        "backend": backend,
        "load_generator": gen,
        "load": f"-t{settings.threads} -c{settings.connections} -d{settings.duration}s, "
                f"{settings.rounds} interleaved rounds, median",
        "servers": "gunicorn 2 sync workers each",
        "shequ": f"shequ run --workers 2: GET {ME_PATH} (Bearer token)",
        "floor_is": "bench.floors.bare_app: Flask + SQLAlchemy Session.get + marshmallow dump",
        "paired_round_ratios": [round(a.rps / b.rps, 3) for a, b in
                                zip(runs["shequ"], runs["floor"], strict=True)],
        "shequ_rounds": [round(r.rps) for r in runs["shequ"]],
        "floor_rounds": [round(r.rps) for r in runs["floor"]],
        "shequ_p50_ms": round(med("shequ", "p50_ms"), 2),
        "floor_p50_ms": round(med("floor", "p50_ms"), 2),
    }
    if errors:
        meta["error"] = f"{errors} non-2xx responses or socket errors during the load"
    return [
        Result(name, med("shequ", "rps"), "req/s", med("floor", "rps"),
               Target("ratio", ">=", 0.6), meta=meta),
        Result(f"{name}_p99", med("shequ", "p99_ms"), "ms", med("floor", "p99_ms"),
               Target("ratio", "<=", 2),
               meta={**{k: v for k, v in meta.items() if not k.endswith("_rounds")
                        and k != "paired_round_ratios"},
                     "shequ_rounds_p99_ms": [round(r.p99_ms, 2) for r in runs["shequ"]],
                     "floor_rounds_p99_ms": [round(r.p99_ms, 2) for r in runs["floor"]]}),
    ]


def api_read_pg(settings: Settings) -> list[Result]:
    return api_read(settings, "postgresql")
