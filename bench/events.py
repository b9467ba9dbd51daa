"""The event bus: publishing (in-process) and delivery by ``shequ worker`` processes.

* ``event_publish`` (SQLite; ``event_publish_pg`` on PostgreSQL): µs per
  ``bus.publish(session, "registry.person.registered", payload)`` in its own transaction
  (a session from the kernel's sessionmaker, publish, commit): payload validation by the
  declared marshmallow schema (load + dump), the outbox row added through the ORM, the
  after-commit tracking, the commit. Floor: the equivalent row inserted with SQLAlchemy
  Core in its own transaction on the same engine (``engine.begin()`` +
  ``insert(events_outbox)``). Interleaved batches, median. Target ratio <= 2.
* ``event_delivery_1`` / ``event_delivery_2`` (PostgreSQL): events per second delivered
  by one and by two ``shequ worker`` processes to a no-op subscriber (the bench-only
  plugin ``bench.noop_plugin``, discovered through an entry point the bench writes into a
  temporary directory on the workers' ``PYTHONPATH``). The workers are started and idle
  first; the bench then commits N events in one transaction and times from that commit
  until every delivery row is ``delivered`` (fan-out included). Targets: >= 2,000/s with
  one worker; two workers >= 1.6x one (``event_delivery_2``'s floor is the one-worker
  figure, so its ratio is the scaling factor).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Result, Server, Settings, Target, log, median
from bench.http import PLUGINS, SECRET, migrate_instance, postgres_version, shequ_argv

EVENT = "registry.person.registered"
PAYLOAD = {
    "person_id": 12345,
    "community": "110105001001",
    "grid": "110105001001001",
    "via": "core",
}


def _app(config_path: Path, extra: dict[str, Any] | None = None) -> Any:
    from core.app import create_app
    from core.config import load_config

    return create_app(load_config(config_path, environ={"SHEQU_SECRET_KEY": SECRET}), plugins=extra)


# ------------------------------------------------------------------------------ publish


def _publish_one(settings: Settings, backend: str) -> Result:
    name = "event_publish" if backend == "sqlite" else "event_publish_pg"
    target = Target("ratio", "<=", 2)
    if backend == "postgresql" and postgres_version() is None:
        return Result(name, None, "µs", None, target, meta={"skipped": "no PostgreSQL"})
    tmp = Path(tempfile.mkdtemp(prefix="shequ-bench-"))
    app = None
    try:
        config_path, _, _ = migrate_instance(backend, tmp)
        app = _app(config_path)
        kernel = app.extensions["shequ"]
        bus, Session, engine = kernel.bus, kernel.db.Session, kernel.db.engine
        from sqlalchemy import insert

        from core.db import utcnow
        from core.events.models import OutboxEvent

        stmt = insert(OutboxEvent.__table__)
        # A durable PostgreSQL commit waits for the WAL flush (milliseconds on a shared
        # disk), so fewer publishes per batch keep the run short; the ratio is unaffected.
        n = settings.publish_batch if backend == "sqlite" else max(25, settings.publish_batch // 4)

        def shequ_batch() -> float:
            t0 = time.perf_counter()
            for _ in range(n):
                with Session() as session:
                    bus.publish(session, EVENT, PAYLOAD)
                    session.commit()
            return (time.perf_counter() - t0) / n * 1e6

        def floor_batch() -> float:
            t0 = time.perf_counter()
            for _ in range(n):
                with engine.begin() as conn:
                    conn.execute(
                        stmt,
                        {
                            "name": EVENT,
                            "payload": dict(PAYLOAD),
                            "created_at": utcnow(),
                            "fanned_out": False,
                        },
                    )
            return (time.perf_counter() - t0) / n * 1e6

        shequ_batch(), floor_batch()  # warm-up: statement caches, pool, pages
        shequ_runs, floor_runs = [], []
        for i in range(settings.repeats):
            for side in ("shequ", "floor") if i % 2 == 0 else ("floor", "shequ"):
                (shequ_runs if side == "shequ" else floor_runs).append(
                    shequ_batch() if side == "shequ" else floor_batch()
                )
        log(
            f"{name}: bus.publish {median(shequ_runs):.0f} µs, Core insert "
            f"{median(floor_runs):.0f} µs per transaction"
        )
    except Exception as exc:
        log(f"{name}: FAILED: {exc}")
        return Result(
            name, None, "µs", None, target, meta={"error": f"{type(exc).__name__}: {exc}"[:2000]}
        )
    finally:
        if app is not None:
            app.extensions["shequ"].bus.stop()
            app.extensions["shequ"].db.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    return Result(
        name,
        median(shequ_runs),
        "µs",
        median(floor_runs),
        target,
        meta={
            "backend": backend,
            "measures": f"with Session() as s: bus.publish(s, '{EVENT}', payload); s.commit()",
            "floor_is": "with engine.begin() as c: c.execute(insert(events_outbox), row) "
            "(same engine, same row)",
            "batch": n,
            "batches": settings.repeats,
            "shequ_batches_us": [round(x, 1) for x in shequ_runs],
            "floor_batches_us": [round(x, 1) for x in floor_runs],
        },
    )


def event_publish(settings: Settings) -> list[Result]:
    wanted = settings.parts or {"event_publish", "event_publish_pg"}
    results = []
    if "event_publish" in wanted:
        results.append(_publish_one(settings, "sqlite"))
    if "event_publish_pg" in wanted:
        results.append(_publish_one(settings, "postgresql"))
    return results


# ------------------------------------------------------------------------------ delivery


def _entry_point_dir(tmp: Path) -> Path:
    """A directory that makes ``bench.noop_plugin`` an installed-looking plugin: a
    ``dist-info`` with an entry point in the ``shequ.plugins`` group (what ``pip install``
    of a plugin package writes), found by ``importlib.metadata`` on ``sys.path``."""
    site = tmp / "plugins"
    dist = site / "shequ_bench_noop-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: shequ-bench-noop\nVersion: 0.1.0\n"
    )
    (dist / "entry_points.txt").write_text("[shequ.plugins]\nbench_noop = bench.noop_plugin\n")
    return site


def _start_worker(env: dict[str, str], tmp: Path, i: int) -> Server:
    argv = [*shequ_argv(), "worker", "--poll", "0.05", "--report", "3600"]
    server = Server(f"worker{i}", argv, env=env, port=0, log_path=tmp / f"worker{i}.log")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"shequ worker exited:\n{server.tail()}")
        if "worker:" in server.tail():
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"shequ worker not ready after 60 s:\n{server.tail()}")


def _delivery_run(
    app: Any, n: int, timeout: float, on_start: Any = None
) -> tuple[float, dict[str, Any]]:
    """Publish ``n`` events in one transaction; seconds until all are delivered."""
    from sqlalchemy import delete, func, select

    from bench.noop_plugin import EVENT as PING
    from core.events.models import Delivery, OutboxEvent

    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        session.execute(delete(Delivery))
        session.execute(delete(OutboxEvent))
    with kernel.db.Session() as session:
        for i in range(n):
            kernel.bus.publish(session, PING, {"n": i, "note": "bench"})
        session.commit()
    if on_start is not None:
        on_start()  # the CPU accounting starts where the clock does
    t0 = time.perf_counter()
    done = 0
    count = select(func.count()).select_from(Delivery).where(Delivery.status == "delivered")
    with kernel.db.engine.connect() as conn:
        while time.perf_counter() - t0 < timeout:
            done = conn.scalar(count)
            conn.rollback()
            if done >= n:
                break
            time.sleep(0.02)
    seconds = time.perf_counter() - t0
    if done < n:
        raise RuntimeError(f"only {done} of {n} events delivered after {timeout:.0f} s")
    return seconds, {"events": n, "seconds": round(seconds, 3)}


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from ``/proc`` (0 when it
    is gone): the evidence of where a delivery run's CPU went."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _postgres_cpu() -> float:
    """CPU seconds used so far by every ``postgres`` process on this machine (the server
    and its backends; backends that ended during a run are not counted, the bench's are
    long-lived)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += _proc_cpu(int(entry.name))
            except OSError:
                continue
    return total


def _cpu_projection(cpu: dict[int, list[dict[str, float]]], n: int) -> dict[str, Any]:
    """What the CPU accounting says (docs/performance.md, event_delivery): events per
    CPU-second of the workers alone (the database's CPU excluded), of workers and
    database together, and what N workers would deliver if each came with one more core
    for itself and its share of the database — N x the single worker's rate per
    core-second of (worker + database), discounted by any extra CPU per event the second
    worker costs (contention shows up there, not in the wall clock)."""
    out: dict[str, Any] = {}
    per_event: dict[int, float] = {}
    for count, runs in cpu.items():
        if not runs:
            continue
        w = median([r["workers_cpu_s"] for r in runs])
        pg = median([r["postgres_cpu_s"] for r in runs])
        wall = median([r["wall_s"] for r in runs])
        per_event[count] = (w + pg) / n
        out[f"cpu_{count}_worker"] = {
            "wall_s": round(wall, 3),
            "workers_cpu_s": round(w, 3),
            "postgres_cpu_s": round(pg, 3),
            "cores_busy": round((w + pg) / wall, 2) if wall else None,
            "events_per_worker_cpu_s": round(n / w) if w else None,
            "events_per_cpu_s_workers_and_db": round(n / (w + pg)) if w + pg else None,
        }
    if 1 in per_event:
        one_core = 1.0 / per_event[1]  # events/s one worker + its database share per core
        overhead = per_event.get(2, per_event[1]) / per_event[1]
        out["cpu_per_event_2_over_1"] = round(overhead, 3)
        out["projected_events_per_s_one_core_each"] = {
            str(k): round(k * one_core / (overhead if k > 1 else 1.0)) for k in (1, 2, 3, 4)
        }
        out["projected_scaling_2_over_1"] = round(2 / overhead, 3)
    return out


def event_delivery(settings: Settings) -> list[Result]:
    t1, t2 = Target("value", ">=", 2000), Target("ratio", ">=", 1.6)
    if postgres_version() is None:
        meta = {"skipped": "no PostgreSQL"}
        return [
            Result("event_delivery_1", None, "events/s", None, t1, meta=meta),
            Result("event_delivery_2", None, "events/s", None, t2, meta=meta),
        ]
    tmp = Path(tempfile.mkdtemp(prefix="shequ-bench-"))
    workers: list[Server] = []
    app = None
    rates: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    n = settings.delivery_events
    try:
        site = _entry_point_dir(tmp)
        pythonpath = os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")])
        config_path, _, env = migrate_instance(
            "postgresql",
            tmp,
            [*PLUGINS, "bench_noop"],
            {"PYTHONPATH": pythonpath.rstrip(os.pathsep), "PYTHONUNBUFFERED": "1"},
        )
        from bench import noop_plugin

        app = _app(config_path, {"bench_noop": noop_plugin})
        log(f"event_delivery: {n} events per run, {settings.delivery_runs} run(s) per worker count")
        workers.append(_start_worker(env, tmp, 1))
        for run in range(settings.delivery_runs):
            for count in (1, 2) if run % 2 == 0 else (2, 1):
                if count == 2 and len(workers) == 1:
                    workers.append(_start_worker(env, tmp, 2))
                if count == 1 and len(workers) == 2:
                    workers.pop().stop()
                pids = [w.proc.pid for w in workers]
                base: list[float] = []

                def start_cpu(pids: list[int] = pids, base: list[float] = base) -> None:
                    base[:] = [sum(_proc_cpu(p) for p in pids), _postgres_cpu()]

                seconds, _ = _delivery_run(app, n, max(120.0, n / 50), start_cpu)
                w_cpu = sum(_proc_cpu(p) for p in pids) - base[0]
                pg_cpu = _postgres_cpu() - base[1]  # with the bench's count every 20 ms
                rates[count].append(n / seconds)
                cpu[count].append(
                    {"wall_s": seconds, "workers_cpu_s": w_cpu, "postgres_cpu_s": pg_cpu}
                )
                log(
                    f"event_delivery: {count} worker(s): {n} events in {seconds:.2f} s "
                    f"= {n / seconds:,.0f}/s; CPU: workers {w_cpu:.2f} s, "
                    f"postgres {pg_cpu:.2f} s"
                )
        for w in workers:
            if w.proc.poll() is not None:
                raise RuntimeError(f"{w.name} died:\n{w.tail()}")
    except Exception as exc:
        log(f"event_delivery: FAILED: {exc}")
        err = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        return [
            Result("event_delivery_1", None, "events/s", None, t1, meta=err),
            Result("event_delivery_2", None, "events/s", None, t2, meta=err),
        ]
    finally:
        for w in workers:
            w.stop()
        if app is not None:
            app.extensions["shequ"].bus.stop()
            app.extensions["shequ"].db.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    meta = {
        "backend": "postgresql",
        "events_per_run": n,
        "measures": "shequ worker --poll 0.05 (events.batch_size 100, events.claim_chunk "
        "100): "
        "from the commit of N events to the last delivery marked delivered, "
        "fan-out included; no-op subscriber (bench.noop_plugin)",
        "rates_1_worker": [round(r) for r in rates[1]],
        "rates_2_workers": [round(r) for r in rates[2]],
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        **_cpu_projection(cpu, n),
    }
    r1, r2 = median(rates[1]), median(rates[2])
    return [
        Result("event_delivery_1", r1, "events/s", None, t1, meta=meta),
        Result(
            "event_delivery_2",
            r2,
            "events/s",
            r1,
            t2,
            meta={**meta, "scaling_2_over_1": round(r2 / r1, 3)},
        ),
    ]


if __name__ == "__main__":  # pragma: no cover - manual use
    sys.exit("run through python -m bench --only event_publish,event_delivery")
