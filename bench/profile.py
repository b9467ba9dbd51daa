"""Where ``api_read``'s time goes, in-process: ``python -m bench.profile [--pg] [--me]``.

Builds the same instance as the benchmark (migrated, seeded by ``bench.seed``), then, with
Flask's test client (no gunicorn, no sockets):

* lists the SQL statements one ``GET /api/v1/registry/persons/<id>`` (``--me``: the
  lighter ``GET /api/v1/identity/me``) runs, against the floor's (``/person/<id>``,
  ``/user/<id>``);
* times N requests of each (µs per request, best of 5 batches);
* times the token lookup as core does it against cheaper formulations of the same check
  (best of 9, µs per lookup including the session), the evidence for docs/performance.md;
* profiles the Shequ requests with pyinstrument (if installed) and writes the call tree to
  ``bench/results/profile_api_read[_pg].txt``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.common import RESULTS_DIR, log
from bench.http import prepare_instance


def _record_sql(engine: Any) -> list[str]:
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", before)
    return statements


def _pool_events(engine: Any) -> dict[str, int]:
    counts = {"checkout": 0, "connect": 0}

    def checkout(*_a: Any) -> None:
        counts["checkout"] += 1

    def connect(*_a: Any) -> None:
        counts["connect"] += 1

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "connect", connect)
    return counts


def pg_round_trips(
    engine: Any, client: Any, path: str, headers: dict[str, str], trace_path: Path
) -> tuple[int, list[str]]:
    """Trace one request's PostgreSQL protocol traffic (libpq trace on the pooled
    connection): the number of round trips (ReadyForQuery) and the queries sent."""
    from psycopg import pq

    fairy = engine.raw_connection()
    dbapi = fairy.dbapi_connection
    fairy.close()
    with trace_path.open("w") as f:
        dbapi.pgconn.trace(f.fileno())
        dbapi.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        client.get(path, headers=headers)
        dbapi.pgconn.untrace()
    trips, sent = 0, []
    for line in trace_path.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) > 3 and parts[0] == "F" and parts[2] in ("Query", "Parse"):
            sent.append(" ".join(parts[3:])[:100])
        if len(parts) > 2 and parts[0] == "B" and parts[2] == "ReadyForQuery":
            trips += 1
    return trips, sent


def _us_per_request(client: Any, path: str, headers: dict[str, str], n: int) -> float:
    batches = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            resp = client.get(path, headers=headers)
            assert resp.status_code == 200, resp.status_code
        batches.append((time.perf_counter() - t0) / n * 1e6)
    return min(batches)


def _best_us(fn: Any, n: int) -> float:
    import timeit

    for _ in range(100):
        fn()
    return min(timeit.repeat(fn, number=n, repeat=9)) / n * 1e6


def lookup_variants(app: Any, floor: Any, inst: Any, n: int) -> dict[str, float]:
    """The bearer check three ways, and the floor's whole database work, in µs."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import sessionmaker

    from bench.floors.bare_app import User as FloorUser
    from core.identity.models import ApiToken, User, UserRole
    from core.identity.services import _digest, token_lookup

    kernel = app.extensions["shequ"]
    Session = kernel.db.Session
    FloorSession = sessionmaker(floor.extensions["bench.engine"])
    digest = _digest(inst.token)
    one_statement = (
        select(
            ApiToken.id,
            ApiToken.user_id,
            ApiToken.permissions,
            ApiToken.expires_at,
            ApiToken.revoked_at,
            ApiToken.last_used_at,
            User.username,
            User.display_name,
            User.kind,
            User.is_active,
            User.session_version,
            UserRole.role,
        )
        .join(User, User.id == ApiToken.user_id)
        .outerjoin(UserRole, UserRole.user_id == User.id)
        .where(ApiToken.digest == digest)
    )
    out: dict[str, float] = {}

    def floor_get() -> None:
        with FloorSession() as s:
            s.get(FloorUser, inst.user_id)

    def core_lookup() -> None:
        with Session() as s:
            token_lookup(s, inst.token)

    def single_core_statement() -> None:
        with Session() as s:
            s.execute(one_statement).all()

    out["floor: Session.get(User) + close"] = _best_us(floor_get, n)
    out["core: token_lookup() + close (ORM: token+user joined, selectin loads)"] = _best_us(
        core_lookup, n
    )
    out["alternative: one Core SELECT token+user+roles + close"] = _best_us(
        single_core_statement, n
    )
    if kernel.db.dialect != "sqlite":
        plain = create_engine(kernel.db.url, pool_size=5, max_overflow=5)
        PlainSession = sessionmaker(plain, expire_on_commit=False)

        def core_lookup_no_ping() -> None:
            with PlainSession() as s:
                token_lookup(s, inst.token)

        def single_no_ping() -> None:
            with PlainSession() as s:
                s.execute(one_statement).all()

        with plain.connect() as conn:
            raw = conn.connection.dbapi_connection

            def round_trip() -> None:
                raw.execute("SELECT 1").fetchone()

            out["one round trip to PostgreSQL (SELECT 1, open connection)"] = _best_us(
                round_trip, n
            )
            raw.rollback()
        out["core token_lookup() without pool_pre_ping"] = _best_us(core_lookup_no_ping, n)
        out["alternative: one Core SELECT, without pool_pre_ping"] = _best_us(single_no_ping, n)
        plain.dispose()
    return out


def _cprofile(client: Any, path: str, headers: dict[str, str], n: int, pg: bool) -> None:
    """The standard library's profiler over ``n`` requests: the functions by cumulative
    and by own time, written to ``bench/results/cprofile_api_read[_pg].txt``."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        client.get(path, headers=headers)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(40)
    text = out.getvalue()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    target = RESULTS_DIR / f"cprofile_api_read{'_pg' if pg else ''}.txt"
    target.write_text(text)
    print(f"\ncProfile of {n} requests -> {target}")
    print(text[:8000])


def _ab(app: Any, client: Any, floor_client: Any, read_path: str, floor_path: str,
        auth: dict[str, str], n: int) -> None:
    """The changes of 2026-12-07 (docs/performance.md) switched off and on, in batches of
    ``n`` requests interleaved over 5 rounds (median µs per request): the bearer-token
    cache, the held access-log counts, flask-limiter's early return for the API. "Off"
    restores the earlier behaviour exactly: a cache time of 0 (every request reads its
    token), no key remembered as written (every masked display upserted), flask-limiter's
    own ``before_request``."""
    import functools
    import statistics

    from flask_limiter import Limiter

    from core.audit import services as audit
    from core.identity.services.per_request import TOKEN_CACHE_SECONDS, token_cache

    kernel = app.extensions["shequ"]
    cache = token_cache(kernel.db.engine)
    held = audit._held_for(kernel.db.engine)
    funcs = app.before_request_funcs[None]
    at = next(i for i, f in enumerate(funcs)
              if getattr(f, "__name__", "") == "_check_request_limit")
    ours = funcs[at]
    theirs = functools.partial(Limiter._check_request_limit, ours.__self__)
    known = audit._KNOWN_KEYS

    def configure(tokens: bool, counts: bool, limiter: bool) -> None:
        cache.ttl = TOKEN_CACHE_SECONDS if tokens else 0.0
        cache.clear()
        audit._KNOWN_KEYS = known if counts else 0
        held.remember([])  # applies the size at once
        funcs[at] = ours if limiter else theirs

    reveal = {"fields": ["id_number"], "purpose": "Benchmark: checking the ID number"}
    sides: list[tuple[str, Any, tuple[bool, bool, bool] | None]] = [
        ("read, all three off (as before)", lambda: client.get(read_path, headers=auth),
         (False, False, False)),
        ("read, token cache on", lambda: client.get(read_path, headers=auth),
         (True, False, False)),
        ("read, token cache + held counts", lambda: client.get(read_path, headers=auth),
         (True, True, False)),
        ("read, all three on (now)", lambda: client.get(read_path, headers=auth),
         (True, True, True)),
        ("reveal, all three off (as before)",
         lambda: client.post(f"{read_path}/reveal", headers=auth, json=reveal),
         (False, False, False)),
        ("reveal, all three on (now)",
         lambda: client.post(f"{read_path}/reveal", headers=auth, json=reveal),
         (True, True, True)),
        ("floor GET /person/<id>", lambda: floor_client.get(floor_path), None),
    ]
    times: dict[str, list[float]] = {label: [] for label, _f, _c in sides}
    cpu: dict[str, list[float]] = {label: [] for label, _f, _c in sides}
    try:
        for r in range(5):
            for label, fn, config in sides[r % len(sides):] + sides[:r % len(sides)]:
                if config is not None:
                    configure(*config)
                for _ in range(20):
                    fn()
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(n):
                    resp = fn()
                    assert resp.status_code == 200, (label, resp.status_code)
                times[label].append((time.perf_counter() - t0) / n * 1e6)
                cpu[label].append((time.process_time() - c0) / n * 1e6)
    finally:
        configure(True, True, True)
    floor_label = "floor GET /person/<id>"
    floor_cpu = statistics.median(cpu[floor_label])
    print(f"\nA/B in-process ({n} requests per batch, 5 interleaved rounds, median; CPU time "
          "of this process, which a shared machine disturbs less than the wall clock — on "
          "PostgreSQL the server's own work is in the wall time only):")
    print("    CPU µs   wall µs  floor/CPU")
    for label in times:
        c, w = statistics.median(cpu[label]), statistics.median(times[label])
        print(f"  {c:8.0f}  {w:8.0f}  {floor_cpu / c:6.2f}x  {label}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument(
        "--me",
        action="store_true",
        help="profile GET /api/v1/identity/me instead of the person read",
    )
    parser.add_argument("-n", type=int, default=500, help="requests per timing batch")
    parser.add_argument("--ab", action="store_true",
                        help="only the before/after comparison of each change")
    args = parser.parse_args()
    backend = "postgresql" if args.pg else "sqlite"
    tmp = Path(tempfile.mkdtemp(prefix="shequ-profile-"))
    try:
        inst = prepare_instance(backend, tmp)
        for key in ("SHEQU_CONFIG", "SHEQU_SECRET_KEY"):
            os.environ[key] = inst.env[key]
        from bench.floors.bare_app import make_app
        from core.app import create_app
        from core.config import load_config

        app = create_app(load_config())
        floor = make_app(inst.db_url)
        auth = {"Authorization": f"Bearer {inst.token}"}
        shequ_client, floor_client = app.test_client(), floor.test_client()
        floor_path = f"/user/{inst.user_id}" if args.me else f"/person/{inst.person_id}"
        shequ_path = "/api/v1/identity/me" if args.me else inst.person_path
        for client, path, headers in (
            (shequ_client, shequ_path, auth),
            (floor_client, floor_path, {}),
        ):
            for _ in range(50):
                client.get(path, headers=headers)

        if args.ab:
            _ab(app, shequ_client, floor_client, shequ_path, floor_path, auth, args.n)
            return
        kernel = app.extensions["shequ"]
        sql = _record_sql(kernel.db.engine)
        pool = _pool_events(kernel.db.engine)
        shequ_client.get(shequ_path, headers=auth)
        pre_ping = bool(getattr(kernel.db.engine.pool, "_pre_ping", False))
        print(
            f"\nShequ GET {shequ_path}: {len(sql)} SQL statements, "
            f"{pool['checkout']} pool checkouts (pool_pre_ping={pre_ping}"
            f"{': +1 round trip per checkout' if pre_ping else ''})"
        )
        for s in sql:
            print(f"  - {s[:160]}")
        fsql = _record_sql(floor.extensions["bench.engine"])
        floor_client.get(floor_path)
        print(f"Floor GET {floor_path}: {len(fsql)} SQL statements")
        for s in fsql:
            print(f"  - {s[:160]}")
        sql.clear()
        if kernel.db.dialect == "postgresql":
            for label, eng, client, path, headers in (
                ("Shequ", kernel.db.engine, shequ_client, shequ_path, auth),
                ("Floor", floor.extensions["bench.engine"], floor_client, floor_path, {}),
            ):
                trips, sent = pg_round_trips(eng, client, path, headers, tmp / "pq.trace")
                print(f"{label}: {trips} round trips to PostgreSQL per request")
                for q in sent:
                    print(f"  > {q}")
            sql.clear()

        shequ_us = _us_per_request(shequ_client, shequ_path, auth, args.n)
        floor_us = _us_per_request(floor_client, floor_path, {}, args.n)
        print(
            f"\nin-process, test client: Shequ {shequ_us:.0f} µs/request, "
            f"floor {floor_us:.0f} µs/request (ratio {floor_us / shequ_us:.2f} "
            f"in throughput terms)"
        )

        print("\nbearer-token lookup variants (best of 9, µs each):")
        for label, us in lookup_variants(app, floor, inst, max(100, args.n // 2)).items():
            print(f"  {us:8.0f}  {label}")

        try:
            from pyinstrument import Profiler
        except ImportError:
            log("pyinstrument is not installed: cProfile instead (pip install pyinstrument "
                "for the call tree)")
            _cprofile(shequ_client, shequ_path, auth, args.n * 2, args.pg)
            return
        profiler = Profiler(interval=0.0002)
        profiler.start()
        for _ in range(args.n * 4):
            shequ_client.get(shequ_path, headers=auth)
        profiler.stop()
        text = profiler.output_text(unicode=True, color=False, show_all=False)
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"profile_api_read{'_pg' if args.pg else ''}.txt"
        out.write_text(text)
        print(f"\npyinstrument call tree ({args.n * 4} requests) -> {out}")
        print(text[:6000])
        kernel.db.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
