"""The resident registry at a million persons: CSV import against a raw bulk insert, and
search latency.

* ``registry_import``: ``core.registry.importer.import_persons`` of an N-row CSV (the
  template's Chinese headers, made by :mod:`bench.registry_data` with the demo
  generator's person generator) into an empty SQLite registry — every row validated (ID
  number and phone checks, sex and birth date derived and compared, codes, places,
  households), pinyin search keys, dwellings, households and residences created, indexes
  rebuilt — timed from the call to the commit. Floor: raw ``sqlite3`` ``executemany`` of
  **the same person rows** (read back from the imported table, so the same values and the
  same 24 columns and types) into an index-free table of that shape, in a fresh database
  file with the app's pragmas (WAL, synchronous=NORMAL), one transaction; median of 3.
  Target: ratio >= 0.15.
* ``registry_import_pg``: the same file into PostgreSQL (``shequ_bench``), against psycopg
  ``COPY`` of the same rows into an index-free ``LIKE registry_person`` table. Reported,
  no target.
* ``registry_search_*``: ``services.search_persons`` on the databases those imports built,
  queries drawn from the data (a seeded sample of persons): ``name`` (the first two
  characters of a Chinese name: a prefix search), ``initials`` (the person's pinyin
  initials), ``id`` (the full ID number), ``phone``; p95 latency in ms, target < 50, on
  SQLite and (``*_pg``) PostgreSQL. p50/p99/max and the match counts are in ``meta``.

A separate small file with a few percent of bad rows checks, before anything is timed,
that every bad row is reported with its reason and nothing is written — in one process
and with the validating process — so the timed file holds valid rows only.
"""

from __future__ import annotations

import atexit
import contextlib
import random
import resource
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Result, Settings, Target, log, median
from bench.registry_data import Places, write_bad_csv, write_persons_csv

PLUGINS: list[str] = []  # the registry is core; plugins would only slow the set-up
IMPORT_TARGET = Target("ratio", ">=", 0.15)
SEARCH_TARGET = Target("value", "<", 50)
SEARCH_KINDS = ("name", "initials", "id", "phone")


@dataclass
class _Built:
    """A registry filled by an import run, kept for the search benchmark."""

    backend: str
    url: str
    kernel: Any
    rows: int
    tmp: Path


@dataclass
class _State:
    tmp: Path | None = None
    csv: Path | None = None
    rows: int = 0
    places: Places | None = None
    built: dict[str, _Built] = field(default_factory=dict)


_STATE = _State()


# ------------------------------------------------------------------------------ set-up


def _tmpdir() -> Path:
    if _STATE.tmp is None:
        _STATE.tmp = Path(tempfile.mkdtemp(prefix="shequ-bench-registry-"))
        atexit.register(cleanup)  # --only registry_import leaves no gigabyte behind
    return _STATE.tmp


def _rows(settings: Settings) -> int:
    return settings.registry_rows


def _csv(settings: Settings) -> tuple[Path, Places]:
    """The timed file: made once per run (about 25 s for a million rows)."""
    rows = _rows(settings)
    if _STATE.csv is None or _STATE.rows != rows:
        path = _tmpdir() / f"persons-{rows}.csv"
        log(f"registry: writing {rows:,} persons to {path.name}")
        t0 = time.perf_counter()
        _STATE.places = write_persons_csv(
            path,
            rows,
            progress=lambda n: log(f"registry: {n:,} rows written") if n % 250_000 == 0 else None,
        )
        _STATE.csv, _STATE.rows = path, rows
        log(
            f"registry: file written in {time.perf_counter() - t0:.0f}s "
            f"({path.stat().st_size / 1e6:.0f} MB)"
        )
    assert _STATE.places is not None
    return _STATE.csv, _STATE.places


def _kernel(url: str, tmp: Path) -> Any:
    """A migrated app for ``url`` (events delivered manually: nothing runs beside us)."""
    from core import migrate as migrations
    from core.app import create_app
    from core.config import DEFAULT_CONFIG, load_config
    from core.registry.events import declare_registry_events

    overrides = {
        "app": {
            "env": "production",
            "instance_path": str(tmp / "instance"),
            "secret_key": "bench-secret-key-not-for-production-use-0123456789",
            "demo_data": False,
        },
        "database": {"url": url},
        "events": {"delivery": "manual"},
        "server": {"workers": 1},  # in-process: no per-worker limit counts to share
        "messaging": {"sms": "none", "email": "none"},  # production refuses "console"
        "plugins": {"enabled": PLUGINS},
    }
    app = create_app(load_config(DEFAULT_CONFIG, overrides=overrides, environ={}))
    kernel = app.extensions["shequ"]
    migrations.upgrade(kernel.db.engine, migrations.trees_for(kernel.plugins))
    declare_registry_events(kernel.bus)
    return kernel


def _make_places(kernel: Any, places: Places) -> None:
    """The streets, communities and grids the file names (an import never creates
    communities), through the plain Core path: set-up, not measured."""
    from sqlalchemy import insert

    from core.registry.models import Community, Grid, Street

    with kernel.db.session_scope() as s:
        street_ids = {code: i for i, (code, _name) in enumerate(places.streets, start=1)}
        s.execute(
            insert(Street),
            [
                {"id": i, "code": c, "name": n}
                for (c, n), i in zip(places.streets, street_ids.values(), strict=True)
            ],
        )
        community_ids = {code: i for i, (code, _n, _s) in enumerate(places.communities, start=1)}
        s.execute(
            insert(Community),
            [
                {"id": community_ids[c], "code": c, "name": n, "street_id": street_ids[st]}
                for c, n, st in places.communities
            ],
        )
        s.execute(
            insert(Grid),
            [
                {"id": i, "code": g, "name": n, "community_id": community_ids[c]}
                for i, (g, n, c) in enumerate(places.grids, start=1)
            ],
        )
        if kernel.db.dialect == "postgresql":
            from sqlalchemy import text

            for table in ("registry_street", "registry_community", "registry_grid"):
                s.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _import(kernel: Any, path: Path, rows: int, name: str, **kwargs: Any) -> tuple[Any, dict]:
    """Run the import, committed; returns the report and timing facts."""
    from core.registry.importer import import_persons

    step = max(rows // 10, 10_000)
    done = [0]

    def progress(n: int) -> None:
        before = done[0]
        done[0] += n
        if done[0] // step != before // step:
            log(f"{name}: {done[0]:,} rows")

    session = kernel.db.Session()
    try:
        cpu0, child0 = time.process_time(), _children_cpu()
        t0 = time.perf_counter()
        report = import_persons(
            session, path, bus=kernel.bus, via="bench", progress=progress, **kwargs
        )
        session.commit()
        seconds = time.perf_counter() - t0
        facts = {
            "seconds": round(seconds, 2),
            "cpu_seconds_writer": round(time.process_time() - cpu0, 1),
            "cpu_seconds_validator": round(_children_cpu() - child0, 1),
        }
    finally:
        session.close()
    return report, facts


# ------------------------------------------------------------------------------ bad rows


def _bad_rows_check(tmp: Path) -> dict[str, Any]:
    """A small file, about 3 % of its rows spoiled in known ways: every spoiled row must
    come back with that field among its reasons, no good row may, nothing may be written —
    with and without the validating process, with the same report."""
    from sqlalchemy import func, select

    from core.registry.importer import import_persons
    from core.registry.models import Person

    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "bad-rows.csv"
    places, spoiled = write_bad_csv(path, 3300)
    kernel = _kernel(f"sqlite:///{tmp}/bad-rows.db", tmp / "bad")
    try:
        _make_places(kernel, places)
        reports = []
        for parallel in (False, True):
            with kernel.db.Session() as session:
                report = import_persons(session, path, bus=kernel.bus, parallel=parallel)
                session.commit()
                written = session.scalar(select(func.count()).select_from(Person))
            reports.append(report)
            by_row: dict[int, set[str]] = {}
            for e in report.rejected:
                by_row.setdefault(e.row, set()).add(e.field)
            problems = [
                f"row {r}: {f} not reported"
                for r, f in spoiled.items()
                if f not in by_row.get(r, set())
            ]
            problems += [f"row {r} rejected but was good" for r in by_row if r not in spoiled]
            if written or report.committed:
                problems.append(f"{written} persons written although rows were rejected")
            if problems:
                raise RuntimeError(
                    f"bad-rows check failed (parallel={parallel}): " + "; ".join(problems[:5])
                )
        one, two = ([(e.row, e.field, e.message, e.value) for e in r.rejected] for r in reports)
        if one != two:
            raise RuntimeError("bad-rows check: the validating process reported differently")
        fields: dict[str, int] = {}
        for f in spoiled.values():
            fields[f] = fields.get(f, 0) + 1
        return {
            "rows": reports[0].total,
            "spoiled": len(spoiled),
            "rejected_rows": len(reports[0].rejected_rows),
            "reasons": len(reports[0].rejected),
            "spoiled_fields": fields,
            "written": 0,
            "same_report_with_validating_process": True,
        }
    finally:
        kernel.db.dispose()


# ------------------------------------------------------------------------------ floors


def _sqlite_floor(db_path: Path, tmp: Path, runs: int = 3) -> tuple[list[float], int]:
    """rows/s of raw executemany of the imported person rows into an index-free table of
    the same columns and types, fresh file, WAL + synchronous=NORMAL, one transaction."""
    src = sqlite3.connect(db_path)
    try:
        columns = src.execute("PRAGMA table_info(registry_person)").fetchall()
        rows = src.execute("SELECT * FROM registry_person ORDER BY id").fetchall()
    finally:
        src.close()
    ddl = ", ".join(f'"{c[1]}" {c[2]}' + (" PRIMARY KEY" if c[5] else "") for c in columns)
    sql = f"INSERT INTO floor VALUES ({', '.join('?' * len(columns))})"
    rates = []
    for i in range(runs):
        path = tmp / f"floor-{i}.db"
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"CREATE TABLE floor ({ddl})")
            t0 = time.perf_counter()
            conn.execute("BEGIN")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")
            rates.append(len(rows) / (time.perf_counter() - t0))
        finally:
            conn.close()
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    Path(f"{path}{suffix}").unlink()
    return rates, len(columns)


def _pg_floor(url: str, runs: int = 3) -> tuple[list[float], int]:
    """rows/s of psycopg COPY of the imported person rows into an index-free
    ``LIKE registry_person`` table, one transaction each."""
    import psycopg

    from bench.http import _pg_conninfo

    info = _pg_conninfo(url)
    with psycopg.connect(**info) as conn:
        rows = conn.execute("SELECT * FROM registry_person ORDER BY id").fetchall()
        width = len(rows[0]) if rows else 0
    rates = []
    for _ in range(runs):
        with psycopg.connect(**info, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_floor")
            conn.execute("CREATE TABLE bench_floor (LIKE registry_person)")
            t0 = time.perf_counter()
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy("COPY bench_floor FROM STDIN") as cp,
            ):
                for row in rows:
                    cp.write_row(row)
            rates.append(len(rows) / (time.perf_counter() - t0))
            conn.execute("DROP TABLE bench_floor")
    return rates, width


# ------------------------------------------------------------------------------ imports


def _build(settings: Settings, backend: str) -> tuple[_Built, Any, dict[str, Any]]:
    """Import the timed file into a fresh registry on ``backend``; keep it for search."""
    from sqlalchemy import func, select

    from core.registry.models import Person

    old = _STATE.built.pop(backend, None)
    if old is not None:
        old.kernel.db.dispose()
    path, places = _csv(settings)
    rows = _rows(settings)
    tmp = _tmpdir() / backend
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if backend == "sqlite":
        url = f"sqlite:///{tmp}/registry.db"
    else:
        from bench.http import reset_pg_database

        url = reset_pg_database()
    kernel = _kernel(url, tmp)
    _make_places(kernel, places)
    name = "registry_import" if backend == "sqlite" else "registry_import_pg"
    log(f"{name}: importing {rows:,} rows")
    report, facts = _import(kernel, path, rows, name)
    if not report.ok or not report.committed or report.created != rows:
        raise RuntimeError(
            f"{name}: the import did not load the file: {report.summary()}; "
            f"{[(e.row, e.field, e.message) for e in report.rejected[:5]]}"
        )
    with kernel.db.Session() as s:
        count = s.scalar(select(func.count()).select_from(Person))
    if count != rows:
        raise RuntimeError(f"{name}: {count} persons in the registry, not {rows}")
    built = _Built(backend, url, kernel, rows, tmp)
    _STATE.built[backend] = built
    facts.update(
        rows=rows,
        rows_per_s=round(rows / facts["seconds"]),
        new_dwellings=report.new_dwellings,
        new_households=report.new_households,
        indexes_rebuilt=report.indexes_rebuilt,
    )
    log(
        f"{name}: {report.summary()} in {facts['seconds']:.1f}s "
        f"({facts['rows_per_s']:,} rows/s; CPU: writer {facts['cpu_seconds_writer']}s, "
        f"validating process {facts['cpu_seconds_validator']}s)"
    )
    return built, report, facts


def registry_import(settings: Settings) -> list[Result]:
    tmp = _tmpdir()
    log("registry_import: bad-rows check (3,300 rows, ~3 % spoiled)")
    check = _bad_rows_check(tmp / "bad-rows")
    log(
        f"registry_import: bad rows: {check['rejected_rows']} of {check['rows']} rejected as "
        f"expected, nothing written; same report with the validating process"
    )
    built, _report, facts = _build(settings, "sqlite")
    log("registry_import: floor: raw sqlite3 executemany of the same rows (3 runs)")
    rates, width = _sqlite_floor(built.tmp / "registry.db", built.tmp)
    floor = median(rates)
    meta = {
        **facts,
        "floor_is": f"raw sqlite3 executemany of the same {width}-column person rows into an "
        "index-free table, fresh file, WAL + synchronous=NORMAL, one transaction",
        "floor_runs_rows_per_s": [round(r) for r in rates],
        "timed": "import_persons() from the call to session.commit(), index rebuild included",
        "file": "template headers (zh), 19 columns; valid rows only (bad rows: see bad_rows_check)",
        "bad_rows_check": check,
    }
    log(
        f"registry_import: {facts['rows_per_s']:,} rows/s against {floor:,.0f} "
        f"(ratio {facts['rows_per_s'] / floor:.3f})"
    )
    return [
        Result("registry_import", facts["rows_per_s"], "rows/s", floor, IMPORT_TARGET, meta=meta)
    ]


def _pg_reachable() -> str | None:
    from bench.http import PG_ADMIN_URL, postgres_version

    if postgres_version() is None:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL} (set BENCH_PG_URL)"
    return None


def registry_import_pg(settings: Settings) -> list[Result]:
    reason = _pg_reachable()
    if reason:
        log(f"registry_import_pg: skipped, {reason}")
        return [Result("registry_import_pg", None, "rows/s", None, meta={"skipped": reason})]
    built, _report, facts = _build(settings, "postgresql")
    log("registry_import_pg: floor: psycopg COPY of the same rows (3 runs)")
    rates, width = _pg_floor(built.url)
    floor = median(rates)
    meta = {
        **facts,
        "floor_is": f"psycopg COPY of the same {width}-column person rows into an index-free "
        "LIKE registry_person table, one transaction",
        "floor_runs_rows_per_s": [round(r) for r in rates],
        "timed": "import_persons() from the call to session.commit(), index rebuild included",
    }
    log(
        f"registry_import_pg: {facts['rows_per_s']:,} rows/s against {floor:,.0f} "
        f"(ratio {facts['rows_per_s'] / floor:.3f})"
    )
    return [Result("registry_import_pg", facts["rows_per_s"], "rows/s", floor, meta=meta)]


# ------------------------------------------------------------------------------ search


def _queries(session: Any, n: int, seed: int = 7) -> dict[str, list[str]]:
    """Per kind, ``n`` queries drawn from a seeded sample of persons."""
    from sqlalchemy import func, select

    from core.registry.models import Person

    top = session.scalar(select(func.max(Person.id))) or 0
    rng = random.Random(seed)  # a reproducible sample, not a secret
    ids = sorted({rng.randint(1, top) for _ in range(n * 3)})
    people = session.execute(
        select(Person.name, Person.name_initials, Person.id_number, Person.phone).where(
            Person.id.in_(ids)
        )
    ).all()
    rng.shuffle(people)
    han = [p for p in people if "\u4e00" <= p.name[:1] <= "\u9fff" and len(p.name) >= 2]
    return {
        "name": [p.name[:2] for p in han][:n],
        "initials": [p.name_initials for p in people if p.name_initials][:n],
        # GB 11643 numbers (a passport number is not searched as an ID number)
        "id": [p.id_number for p in people if p.id_number and len(p.id_number) == 18][:n],
        "phone": [p.phone for p in people if p.phone][:n],
    }


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _search(built: _Built, settings: Settings) -> list[Result]:
    from core.registry.services import search_persons

    suffix = "" if built.backend == "sqlite" else "_pg"
    n = settings.registry_queries
    session = built.kernel.db.Session()
    results = []
    try:
        queries = _queries(session, n)
        session.rollback()
        # Warm-up: the statement cache and the first pages of each index.
        for kind in SEARCH_KINDS:
            for q in queries[kind][:20]:
                search_persons(session, actor=None, query=q)
                session.rollback()
        for kind in SEARCH_KINDS:
            latencies, totals, kinds = [], [], set()
            for q in queries[kind]:
                t0 = time.perf_counter()
                page = search_persons(session, actor=None, query=q)
                latencies.append((time.perf_counter() - t0) * 1000)
                session.rollback()
                totals.append(page.total or 0)
                kinds.add(page.kind)
                if not page.items:
                    raise RuntimeError(f"search {kind} {q!r} found nobody")
            latencies.sort()
            totals.sort()
            name = f"registry_search_{kind}{suffix}"
            meta = {
                "backend": built.backend,
                "persons": built.rows,
                "queries": len(latencies),
                "p50_ms": round(_percentile(latencies, 0.50), 2),
                "p95_ms": round(_percentile(latencies, 0.95), 2),
                "p99_ms": round(_percentile(latencies, 0.99), 2),
                "max_ms": round(latencies[-1], 2),
                "understood_as": sorted(kinds),
                "matches_median": totals[len(totals) // 2],
                "matches_max": totals[-1],
                "examples": queries[kind][:3] if kind in ("name", "initials") else [],
                "call": "services.search_persons(session, actor=None, query=q), first page "
                "of 20 with the total, one call per query",
            }
            log(
                f"{name}: p50 {meta['p50_ms']} ms, p95 {meta['p95_ms']} ms, "
                f"p99 {meta['p99_ms']} ms, max {meta['max_ms']} ms "
                f"({len(latencies)} queries, median {meta['matches_median']} matches)"
            )
            results.append(Result(name, meta["p95_ms"], "ms", None, SEARCH_TARGET, meta=meta))
    finally:
        session.close()
    return results


def registry_search(settings: Settings) -> list[Result]:
    results: list[Result] = []
    try:
        for backend in ("sqlite", "postgresql"):
            if backend == "postgresql" and (reason := _pg_reachable()):
                log(f"registry_search_pg: skipped, {reason}")
                results += [
                    Result(f"registry_search_{k}_pg", None, "ms", None, meta={"skipped": reason})
                    for k in SEARCH_KINDS
                ]
                continue
            built = _STATE.built.get(backend)
            if built is None or built.rows != _rows(settings):
                log(f"registry_search: building the {backend} registry first")
                built, _r, _f = _build(settings, backend)
            results += _search(built, settings)
    finally:
        cleanup()
    return results


def cleanup() -> None:
    for built in _STATE.built.values():
        with contextlib.suppress(Exception):
            built.kernel.db.dispose()
    _STATE.built.clear()
    if _STATE.tmp is not None:
        shutil.rmtree(_STATE.tmp, ignore_errors=True)
    _STATE.tmp = _STATE.csv = None
    _STATE.rows = 0
