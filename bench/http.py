"""The HTTP benchmarks: whole requests through gunicorn, against floors in the same run.

Shequ: ``shequ run --workers 2`` (embedded gunicorn, sync workers), configured by a
temporary TOML file (production, events delivered by ``shequ worker`` so no delivery
thread, every plugin ``config/default.toml`` enables). Floor: ``gunicorn -w 2
bench.floors.bare_app:app`` (bare Flask + SQLAlchemy ORM + marshmallow, and a plain Jinja
page). One instance, one Shequ server and one floor server per database serve every part
of the suite:

* ``api_read``: ``GET /api/v1/registry/persons/<id>`` with ``Authorization: Bearer``, a
  staff account reading one person of its community (token, permission check, place
  scope, masking, marshmallow); floor ``GET /person/<id>`` (the same row). req/s (target
  ratio >= 0.6) and p99 (``api_read_p99``, ratio <= 2).
* ``api_read_sensitive``: ``POST /api/v1/registry/persons/<id>/reveal`` with a JSON body
  naming ``id_number`` and a purpose: the same read, the ID number in full, one access-log
  row written and committed per request; against the same floor (ratio >= 0.4).
* ``page_resident_home`` (SQLite only): ``GET /`` for a resident signed in through the
  real login form (session cookie), on an instance with the demo data loaded; floor
  ``GET /page``, a Jinja page of the same size (ratio >= 0.5).

Load alternates between the sides for N interleaved rounds (order rotated every round),
and medians are reported. Run on SQLite, then on PostgreSQL (``*_pg``) in the dedicated
database ``shequ_bench``.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.common import (
    ROOT,
    Result,
    Server,
    Settings,
    Target,
    free_port,
    log,
    median,
    shipped_plugins,
)
from bench.load import LoadResult, Request, generator_name, run_load

#: Every plugin ``config/default.toml`` enables: the platform as shipped.
PLUGINS = shipped_plugins()
ME_PATH = "/api/v1/identity/me"
PERSON_PATH = "/api/v1/registry/persons/{id}"
REVEAL_BODY = json.dumps(
    {"fields": ["id_number"], "purpose": "Benchmark: checking the ID number for a certificate"},
    ensure_ascii=False,
).encode()
#: Sent by the login and by every page request, so Flask-Login's session protection sees
#: the same client throughout (wrk sends no User-Agent of its own).
USER_AGENT = "shequ-bench/1.0"
PG_ADMIN_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PG_BENCH_DB = "shequ_bench"
SECRET = "bench-secret-key-not-for-production-use-0123456789"


@dataclass
class Instance:
    """A migrated Shequ instance with what ``bench.seed`` created in it."""

    tmp: Path
    config_path: Path
    db_url: str
    env: dict[str, str]
    user_id: int
    username: str
    token: str
    person_id: int = 0
    resident: str = ""
    resident_password: str = ""
    demo: bool = False

    @property
    def person_path(self) -> str:
        return PERSON_PATH.format(id=self.person_id)

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


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
    info: dict[str, Any] = {
        "host": u.host or "127.0.0.1",
        "port": u.port or 5432,
        "user": u.username or "postgres",
        "dbname": dbname or u.database,
    }
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

    with psycopg.connect(**_pg_conninfo(PG_ADMIN_URL), autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (PG_BENCH_DB,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{PG_BENCH_DB}"')
    with psycopg.connect(**_pg_conninfo(PG_ADMIN_URL, PG_BENCH_DB), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg", database=PG_BENCH_DB)
    return url.render_as_string(hide_password=False)


# ------------------------------------------------------------------------------ set-up


def _config_toml(instance: Path, db_url: str, plugins: list[str] | None = None) -> str:
    enabled = ", ".join(f'"{p}"' for p in (PLUGINS if plugins is None else plugins))
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
threads = {os.environ.get("BENCH_SERVER_THREADS", "0")}  # 0: the shipped rule (sync with 2 workers)

[limits]
# production config refuses memory:// with several workers (finding 10); BENCH_LIMITS_URI
storage_uri = "{os.environ.get("BENCH_LIMITS_URI", "redis://127.0.0.1:6379/15")}"
key_prefix = "bench{os.getpid()}"

[events]
delivery = "worker"

[messaging]
# production refuses the console channel; the bench sends nothing
sms = "none"
email = "none"

[plugins]
enabled = [{enabled}]
strict = true
"""


def migrate_instance(
    backend: str,
    tmp: Path,
    plugins: list[str] | None = None,
    env_extra: dict[str, str] | None = None,
) -> tuple[Path, str, dict[str, str]]:
    """A fresh, migrated instance (SQLite file in ``tmp``, or the reset ``shequ_bench``
    database): its config file, database URL and the environment that selects it."""
    instance = tmp / "instance"
    db_url = f"sqlite:///{instance}/shequ.db" if backend == "sqlite" else reset_pg_database()
    config_path = tmp / "shequ.toml"
    config_path.write_text(_config_toml(instance, db_url, plugins))
    env = base_env()
    env.update(SHEQU_CONFIG=str(config_path), SHEQU_SECRET_KEY=SECRET, **(env_extra or {}))
    out = subprocess.run(
        [*shequ_argv(), "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if out.returncode != 0:
        raise RuntimeError(f"shequ db upgrade failed:\n{out.stdout}\n{out.stderr}")
    return config_path, db_url, env


def prepare_instance(backend: str, tmp: Path, *, demo: bool = False) -> Instance:
    """Migrate a fresh instance and seed it with ``bench.seed`` (``demo``: the demo data
    first)."""
    config_path, db_url, env = migrate_instance(backend, tmp)
    out = subprocess.run(
        [sys.executable, "-m", "bench.seed", *(["--demo"] if demo else [])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if out.returncode != 0:
        raise RuntimeError(f"seeding the bench instance failed:\n{out.stderr[-3000:]}")
    seed = json.loads(out.stdout.strip().splitlines()[-1])
    return Instance(
        tmp,
        config_path,
        db_url,
        env,
        seed["user_id"],
        seed["username"],
        seed["token"],
        seed["person_id"],
        seed["resident"],
        seed["resident_password"],
        demo,
    )


def start_shequ(inst: Instance, port: int, workers: int = 2) -> Server:
    argv = [
        *shequ_argv(),
        "run",
        "--host",
        "127.0.0.1",
        "--workers",
        str(workers),
        "--port",
        str(port),
    ]
    return Server("shequ", argv, env=inst.env, port=port, log_path=inst.tmp / "shequ.log")


def start_floor(inst: Instance, port: int, workers: int = 2, page_bytes: int = 5600) -> Server:
    env = base_env()
    env["BENCH_DB_URL"] = inst.db_url
    env["BENCH_PAGE_BYTES"] = str(page_bytes)
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "bench.floors.bare_app:app",
    ]
    return Server("floor", argv, env=env, port=port, log_path=inst.tmp / "floor.log")


# ------------------------------------------------------------------------------ requests


def fetch(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, list[str]], bytes]:
    """One request to 127.0.0.1 (redirects not followed); status, headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        got: dict[str, list[str]] = {}
        for key, value in resp.getheaders():
            got.setdefault(key.lower(), []).append(value)
        return resp.status, got, resp.read()
    finally:
        conn.close()


def _cookies(headers: dict[str, list[str]]) -> dict[str, str]:
    # Set-Cookie carries ``Secure`` in production; a client on plain HTTP to 127.0.0.1
    # (wrk) just sends the value back, so the flags are ignored here.
    out = {}
    for line in headers.get("set-cookie", []):
        name, _, value = line.split(";", 1)[0].partition("=")
        out[name.strip()] = value.strip()
    return out


def sign_in(port: int, username: str, password: str) -> dict[str, str]:
    """Sign in through the real form (GET the page for its CSRF token and session, POST
    it); returns the headers that make later requests this signed-in resident."""
    base = {"User-Agent": USER_AGENT}
    status, headers, body = fetch(port, "GET", "/account/login", base)
    if status != 200:
        raise RuntimeError(f"GET /account/login answered {status}")
    found = re.search(rb'name="csrf_token"(?: type="hidden")? value="([^"]+)"', body)
    if found is None:
        raise RuntimeError("no csrf_token on the login page")
    jar = _cookies(headers)
    form = urllib_encode(
        {"username": username, "password": password, "csrf_token": found.group(1).decode()}
    )
    status, headers, body = fetch(
        port,
        "POST",
        "/account/login",
        {
            **base,
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()),
        },
        form,
    )
    if status != 302:
        raise RuntimeError(f"login as {username} answered {status}: {body[:300]!r}")
    jar.update(_cookies(headers))
    # Open the page the sign-in leads to, as a browser does: it shows (and so removes from
    # the session) the "Signed in." message. Without this every measured page showed that
    # message again and answered with a fresh session cookie — not the steady state of a
    # signed-in resident, and ~100 bytes and a cookie signature more per page.
    signed_in = {**base, "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}
    target = (headers.get("location") or ["/"])[0]
    status, headers, _body = fetch(port, "GET", urlsplit(target).path or "/", signed_in)
    if status != 200:
        raise RuntimeError(f"the page after the sign-in answered {status}")
    jar.update(_cookies(headers))
    return {**base, "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}


def urllib_encode(data: dict[str, str]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(data).encode()


def expect(port: int, req: Request, check: Any, what: str) -> bytes:
    """Send ``req`` once; it must answer 200 and ``check(body)`` must hold."""
    status, _, body = fetch(port, req.method, req.path, req.headers, req.body)
    if status != 200:
        raise RuntimeError(f"{what}: {req.method} {req.path} answered {status}: {body[:300]!r}")
    if not check(body):
        raise RuntimeError(f"{what}: unexpected answer to {req.method} {req.path}: {body[:300]!r}")
    return body


def access_log_count(inst: Instance) -> int:
    """Full (revealed) displays in the access log (``audit_access``): identical displays
    of a day share one row and add to its ``count``, so the counts are summed — at least
    one per reveal answered, which the load's count checks."""
    from sqlalchemy import create_engine, func, select

    from core.audit.models import AccessEntry

    engine = create_engine(inst.db_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.coalesce(func.sum(AccessEntry.count), 0))
                                   .where(AccessEntry.masked.is_(False))))
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------ suite


SIDES = {
    "api_read": "read",
    "api_read_sensitive": "reveal",
    "page_resident_home": "page",
}


def _failed(name: str, meta: dict[str, Any]) -> list[Result]:
    base = name.removesuffix("_pg")
    pg = "_pg" if name.endswith("_pg") else ""
    if base == "api_read":
        return [
            Result(name, None, "req/s", None, Target("ratio", ">=", 0.6), meta=meta),
            Result(f"api_read{pg}_p99", None, "ms", None, Target("ratio", "<=", 2), meta=meta),
        ]
    if base == "api_read_sensitive":
        return [Result(name, None, "req/s", None, Target("ratio", ">=", 0.4), meta=meta)]
    return [Result(name, None, "req/s", None, Target("ratio", ">=", 0.5), meta=meta)]


def http_suite(settings: Settings, backend: str = "sqlite") -> list[Result]:
    """The parts of the suite named in ``settings.parts`` (all when empty), on one
    instance with one Shequ and one floor server."""
    suffix = "" if backend == "sqlite" else "_pg"
    parts = [p for p in SIDES if backend == "sqlite" or p != "page_resident_home"]
    if settings.parts:
        parts = [p for p in parts if f"{p}{suffix}" in settings.parts]
    names = [f"{p}{suffix}" for p in parts]
    gen = generator_name(settings.python_load)
    if backend == "postgresql" and postgres_version() is None:
        reason = f"PostgreSQL not reachable at {PG_ADMIN_URL} (set BENCH_PG_URL)"
        log(f"{', '.join(names)}: skipped, {reason}")
        return [r for n in names for r in _failed(n, {"skipped": reason})]
    tmp = Path(tempfile.mkdtemp(prefix="shequ-bench-"))
    servers: list[Server] = []
    want_page = "page_resident_home" in parts
    try:
        log(
            f"http{suffix}: migrating a {backend} instance and seeding it"
            + (" (demo data too)" if want_page else "")
        )
        inst = prepare_instance(backend, tmp, demo=want_page)
        shequ = start_shequ(inst, free_port())
        servers.append(shequ)
        shequ.wait_ready("/healthz")
        read = Request("GET", inst.person_path, inst.bearer)
        sides: dict[str, tuple[Server | None, Request]] = {}
        page_bytes = 0
        if "api_read" in parts:
            expect(
                shequ.port,
                read,
                lambda b: (
                    json.loads(b)["id"] == inst.person_id and "*" in json.loads(b)["id_number"]
                ),
                "shequ read (masked)",
            )
            sides["read"] = (shequ, read)
        if "api_read_sensitive" in parts:
            reveal = Request(
                "POST",
                f"{inst.person_path}/reveal",
                {**inst.bearer, "Content-Type": "application/json"},
                REVEAL_BODY,
            )
            expect(
                shequ.port,
                reveal,
                lambda b: (
                    json.loads(b)["revealed"] == ["id_number"]
                    and "*" not in json.loads(b)["id_number"]
                ),
                "shequ reveal",
            )
            sides["reveal"] = (shequ, reveal)
        if want_page:
            cookie = sign_in(shequ.port, inst.resident, inst.resident_password)
            page = Request("GET", "/", cookie)
            body = expect(
                shequ.port,
                page,
                lambda b: b"/account/logout" in b,
                "resident home (signed in)",
            )
            page_bytes = len(body)
            sides["page"] = (shequ, page)
        floor = start_floor(inst, free_port(), page_bytes=page_bytes or 5600)
        servers.append(floor)
        floor.wait_ready("/page")
        if {"read", "reveal"} & set(sides):
            fread = Request("GET", f"/person/{inst.person_id}", {})
            expect(floor.port, fread, lambda b: json.loads(b)["id"] == inst.person_id, "floor read")
            sides["floor_read"] = (floor, fread)
        if want_page:
            fpage = Request("GET", "/page", {})
            floor_bytes = len(expect(floor.port, fpage, lambda b: b"</html>" in b, "floor page"))
            sides["floor_page"] = (floor, fpage)

        def load(side: str, seconds: int) -> LoadResult:
            server, req = sides[side]
            return run_load(
                server.port,
                req.path,
                req.headers,
                seconds=seconds,
                threads=settings.threads,
                connections=settings.connections,
                force_python=settings.python_load,
                method=req.method,
                body=req.body,
            )

        order = list(sides)
        log(f"http{suffix}: warming up {', '.join(order)} ({settings.warmup}s each, {gen})")
        for side in order:
            load(side, settings.warmup)
        reveals_before = access_log_count(inst) if "reveal" in sides else 0
        runs: dict[str, list[LoadResult]] = {side: [] for side in order}
        for i in range(settings.rounds):
            rotated = order[i % len(order) :] + order[: i % len(order)]
            for side in rotated:
                res = load(side, settings.duration)
                runs[side].append(res)
                log(f"http{suffix} round {i + 1}/{settings.rounds} {side:<10}: {res.summary()}")
        for server in servers:
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} died during the run:\n{server.tail()}")
        reveals_logged = access_log_count(inst) - reveals_before if "reveal" in sides else 0
        answered = sum(x.requests for x in runs.get("reveal", []))
        if reveals_logged < answered:  # every reveal is durable before its answer
            raise RuntimeError(f"{answered} reveals answered, {reveals_logged} in the access log")
    except Exception as exc:
        log(f"http{suffix}: FAILED: {exc}")
        err = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        return [r for n in names for r in _failed(n, err)]
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def med(side: str, attr: str) -> float:
        return median([getattr(r, attr) for r in runs[side]])

    common: dict[str, Any] = {
        "backend": backend,
        "load_generator": gen,
        "load": f"-t{settings.threads} -c{settings.connections} -d{settings.duration}s, "
        f"{settings.rounds} interleaved rounds ({', '.join(order)}), median",
        "servers": "gunicorn 2 sync workers each (shequ run --workers 2; gunicorn -w 2)",
    }

    def result(
        name: str, side: str, floor_side: str, target: Target, extra: dict[str, Any]
    ) -> Result:
        errors = sum(r.errors for r in runs[side]) + sum(r.errors for r in runs[floor_side])
        meta = {
            **common,
            **extra,
            "paired_round_ratios": [
                round(a.rps / b.rps, 3) for a, b in zip(runs[side], runs[floor_side], strict=True)
            ],
            "shequ_rounds": [round(r.rps) for r in runs[side]],
            "floor_rounds": [round(r.rps) for r in runs[floor_side]],
            "shequ_p50_ms": round(med(side, "p50_ms"), 2),
            "shequ_p99_ms": round(med(side, "p99_ms"), 2),
            "floor_p50_ms": round(med(floor_side, "p50_ms"), 2),
            "floor_p99_ms": round(med(floor_side, "p99_ms"), 2),
        }
        if errors:
            meta["error"] = f"{errors} non-2xx responses or socket errors during the load"
        return Result(name, med(side, "rps"), "req/s", med(floor_side, "rps"), target, meta=meta)

    floor_read = (
        "floor: bench.floors.bare_app GET /person/<id>: Flask + SQLAlchemy "
        "Session.get(registry_person row) + marshmallow dump of its 21 columns"
    )
    results: list[Result] = []
    if "read" in runs:
        r = result(
            f"api_read{suffix}",
            "read",
            "floor_read",
            Target("ratio", ">=", 0.6),
            {
                "shequ": f"GET {PERSON_PATH} (Bearer token, staff account scoped to the "
                "person's community): masked person",
                "floor_is": floor_read,
            },
        )
        results.append(r)
        p99_meta = {
            k: v
            for k, v in r.meta.items()
            if not k.endswith("_rounds") and k != "paired_round_ratios"
        }
        p99_meta["shequ_rounds_p99_ms"] = [round(x.p99_ms, 2) for x in runs["read"]]
        p99_meta["floor_rounds_p99_ms"] = [round(x.p99_ms, 2) for x in runs["floor_read"]]
        results.append(
            Result(
                f"api_read{suffix}_p99",
                med("read", "p99_ms"),
                "ms",
                med("floor_read", "p99_ms"),
                Target("ratio", "<=", 2),
                meta=p99_meta,
            )
        )
    if "reveal" in runs:
        sent = sum(x.requests for x in runs["reveal"])
        results.append(
            result(
                f"api_read_sensitive{suffix}",
                "reveal",
                "floor_read",
                Target("ratio", ">=", 0.4),
                {
                    "shequ": f"POST {PERSON_PATH}/reveal {REVEAL_BODY.decode()} (Bearer): the ID "
                    "number in full, one access-log row written and committed",
                    "floor_is": floor_read,
                    "access_log_reveals_written": reveals_logged,
                    "requests_counted_by_load": sent,
                },
            )
        )
    if "page" in runs:
        results.append(
            result(
                "page_resident_home",
                "page",
                "floor_page",
                Target("ratio", ">=", 0.5),
                {
                    "shequ": "GET / as a resident signed in through /account/login (session "
                    f"cookie), demo data loaded, {len(PLUGINS)} plugins' nav and widgets",
                    "floor_is": "bench.floors.bare_app GET /page: Flask rendering a Jinja "
                    "layout (nav loop, card loop, autoescape) of the same size",
                    "shequ_page_bytes": page_bytes,
                    "floor_page_bytes": floor_bytes,
                },
            )
        )
    return results


def http_suite_pg(settings: Settings) -> list[Result]:
    return http_suite(settings, "postgresql")
