"""``/metrics``: Prometheus metrics through the official client library (prometheus_client).

Two kinds of figures, collected two ways:

* **Counted as they happen** — requests (count and latency by Flask endpoint, method and
  status), sign-ins and lock-outs, job runs and failures, access-log writes. With
  ``PROMETHEUS_MULTIPROC_DIR`` set (``core.server`` sets it per instance, under the
  instance path, before gunicorn forks) every process writes its counters to files in that
  directory and a scrape adds up every worker's files, so whichever worker answers the
  scrape reports them all. Without it (the Flask development server, the test client) the
  counters live in this process.
* **Read at scrape time** — outbox lag and dead letters per subscriber, from the database
  (two grouped queries on indexed columns), and the last scheduled backup's result (a small
  status file written by the backup job). These are true whichever process did the work, so
  they need no multiprocess bookkeeping.

The endpoint label is the Flask endpoint name (``registry.person``), never the raw path: a
path carries ids (and could carry personal data), and would give one series per URL.

Why the metric objects are made lazily: multiprocess mode is chosen by prometheus_client
when a metric is constructed, from the environment. ``shequ run`` builds the app first and
sets the directory afterwards (it is the instance's), so nothing is constructed at import.
This module is foundation-layer: it imports no area of core (the tables it reads at scrape
time are named in SQL, and are part of the migrations' contract).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Latency buckets (seconds): a page should answer in well under a second.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: The name of the backup job's status file, in ``[backup] directory``.
BACKUP_STATUS = "backup-status.json"

_lock = threading.Lock()
_metrics: dict[str, Any] = {}


def prepare_multiprocess(directory: str | Path) -> Path:
    """Make ``directory`` this instance's multiprocess directory, wiping the files of
    processes that are gone (a restart starts its counters from zero; a live ``shequ
    worker`` sharing the directory keeps its own). Call before any worker forks."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for f in path.glob("*.db"):
        pid = f.stem.rsplit("_", 1)[-1]
        if not (pid.isdigit() and _alive(int(pid))) or pid == str(os.getpid()):
            f.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)
    _metrics.clear()  # made before the directory was set: make them again, in its mode
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_process_dead(pid: int) -> None:
    """gunicorn's ``child_exit``: drop a dead worker's live gauges (counters stay)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def _m() -> dict[str, Any]:
    """The metric objects, made on first use in the mode the environment asks for."""
    if _metrics:
        return _metrics
    with _lock:
        if _metrics:
            return _metrics
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

        # The client picks its value class once, at import; an earlier import (before the
        # directory was set) would otherwise pin this process to single-process values.
        values.ValueClass = values.get_value_class()
        registry = CollectorRegistry(auto_describe=True)
        _metrics.update(
            registry=registry,
            worker=Gauge("shequ_worker_started_seconds",
                         "Start of each live process that has counted something (Unix time; "
                         "one series per gunicorn worker, label pid)",
                         registry=registry, multiprocess_mode="liveall"),
            requests=Counter("shequ_http_requests_total", "HTTP requests answered",
                             ["endpoint", "method", "status"], registry=registry),
            latency=Histogram("shequ_http_request_duration_seconds",
                              "Time to answer a request", ["endpoint", "method"],
                              buckets=BUCKETS, registry=registry),
            logins=Counter("shequ_logins_total",
                           "Sign-in attempts by outcome (succeeded, failed, locked_out)",
                           ["outcome"], registry=registry),
            jobs=Counter("shequ_job_runs_total", "Periodic job runs by outcome (ok, failed)",
                         ["job", "outcome"], registry=registry),
            job_seconds=Histogram("shequ_job_duration_seconds", "Time a periodic job ran",
                                  ["job"], buckets=(0.1, 1, 10, 60, 300, 1800, 3600),
                                  registry=registry),
            access=Counter("shequ_access_log_entries_total",
                           "Displays of personal data written to the access log",
                           registry=registry),
            imported=Counter("shequ_registry_import_rows_total",
                             "Registry rows imported, by outcome", ["outcome"],
                             registry=registry),
        )
    return _metrics


# ------------------------------------------------------------------------ counted


_STARTED: dict[int, float] = {}
_GAUGED: dict[int, Any] = {}


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    m = _m()
    pid = os.getpid()  # after a fork the child counts as itself (its own files)
    gauge = m["worker"]
    if _GAUGED.get(pid) is not gauge:  # once per process and gauge: an mmap write, locked
        gauge.set(_STARTED.setdefault(pid, time.time()))
        _GAUGED[pid] = gauge
    name = endpoint or "unmatched"  # a 404 from routing has no endpoint
    m["requests"].labels(name, method, str(status)).inc()
    m["latency"].labels(name, method).observe(seconds)
    if name == "identity.login" and method == "POST":
        outcome = {401: "failed", 429: "locked_out"}.get(status)
        if outcome is None and 300 <= status < 400:
            outcome = "succeeded"
        if outcome:
            m["logins"].labels(outcome).inc()


def job_ran(name: str, ok: bool, seconds: float) -> None:
    m = _m()
    m["jobs"].labels(name, "ok" if ok else "failed").inc()
    m["job_seconds"].labels(name).observe(seconds)


def access_logged(n: int = 1) -> None:
    """``n`` displays of personal data were queued for the access log."""
    if n:
        _m()["access"].inc(n)


def rows_imported(accepted: int, rejected: int = 0) -> None:
    m = _m()
    if accepted:
        m["imported"].labels("accepted").inc(accepted)
    if rejected:
        m["imported"].labels("rejected").inc(rejected)


# ------------------------------------------------------------------------ at scrape time


def _db_families(kernel: Any) -> Iterable[Any]:
    from prometheus_client.core import GaugeMetricFamily
    from sqlalchemy import text

    from core.db import UTCDateTime, utcnow

    lag = GaugeMetricFamily("shequ_outbox_lag_seconds",
                            "Age of the oldest event not yet delivered, per subscriber "
                            "(subscriber \"\": not yet fanned out)", labels=["subscriber"])
    waiting = GaugeMetricFamily("shequ_outbox_pending", "Deliveries waiting, per subscriber",
                                labels=["subscriber"])
    dead = GaugeMetricFamily("shequ_outbox_dead_letters",
                             "Deliveries parked as dead letters, per subscriber",
                             labels=["subscriber"])
    up = GaugeMetricFamily("shequ_database_up", "1 when the scrape could read the database")
    now = utcnow()
    try:
        with kernel.db.engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT d.subscriber, d.status, COUNT(*) AS n, MIN(o.created_at) AS oldest "
                "FROM events_delivery d JOIN events_outbox o ON o.id = d.event_id "
                "WHERE d.status IN ('pending', 'dead') GROUP BY d.subscriber, d.status"
            ).columns(oldest=UTCDateTime())).all()
            unfanned = conn.execute(text(
                "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM events_outbox "
                "WHERE fanned_out = :f"
            ).columns(oldest=UTCDateTime()), {"f": False}).one()
    except Exception:  # a scrape reports a database outage, it does not fail on one
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    known = sorted(getattr(kernel.bus, "subscribers", {}))
    ages = dict.fromkeys(known, 0.0)
    counts = {"pending": dict.fromkeys(known, 0), "dead": dict.fromkeys(known, 0)}
    for sub, status, n, oldest in rows:
        counts[status][sub] = n
        if status == "pending":
            ages[sub] = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    ages[""] = max(0.0, (now - unfanned.oldest).total_seconds()) if unfanned.oldest else 0.0
    counts["pending"][""] = unfanned.n
    for sub, age in ages.items():
        lag.add_metric([sub], age)
    for sub, n in counts["pending"].items():
        waiting.add_metric([sub], n)
    for sub, n in counts["dead"].items():
        dead.add_metric([sub], n)
    return [up, lag, waiting, dead]


def backup_status(kernel: Any) -> dict[str, Any] | None:
    """The backup job's last recorded result, or ``None`` (never ran, or disabled)."""
    try:
        path = kernel.config.backup_directory / BACKUP_STATUS
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, AttributeError):
        return None


def _backup_families(kernel: Any) -> Iterable[Any]:
    from prometheus_client.core import GaugeMetricFamily

    status = backup_status(kernel)
    if status is None:
        return []
    ok = GaugeMetricFamily("shequ_backup_last_ok",
                           "1 when the last scheduled backup was written and checked")
    ok.add_metric([], 1 if status.get("ok") else 0)
    last = GaugeMetricFamily("shequ_backup_last_success_timestamp_seconds",
                             "When the last good scheduled backup finished (Unix time)")
    last.add_metric([], float(status.get("last_success_at") or 0))
    kept = GaugeMetricFamily("shequ_backup_kept", "Backups kept in the backup directory")
    kept.add_metric([], float(status.get("kept") or 0))
    failures = GaugeMetricFamily("shequ_backup_consecutive_failures",
                                 "Scheduled backups that failed since the last good one")
    failures.add_metric([], float(status.get("failures") or 0))
    return [ok, last, kept, failures]


class _Scrape:
    """A collector that reads the database and the backup status when scraped."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel

    def collect(self) -> Iterable[Any]:
        yield from _db_families(self.kernel)
        yield from _backup_families(self.kernel)


def exposition(kernel: Any) -> tuple[bytes, str]:
    """The text to answer a scrape with, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    m = _m()
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward(m["registry"]))
    registry.register(_Scrape(kernel))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Forward:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def collect(self) -> Iterable[Any]:
        return self.inner.collect()


# ------------------------------------------------------------------------ the endpoint


def allowed(settings: dict[str, Any], remote_addr: str | None, authorization: str) -> bool:
    """A scrape is allowed with the configured bearer token, or from an allowed network."""
    token = settings.get("token") or ""
    if token and authorization.startswith("Bearer ") and hmac.compare_digest(
            authorization[7:].strip().encode(), token.encode()):
        return True
    try:
        addr = ipaddress.ip_address((remote_addr or "").strip())
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(n, strict=False)
               for n in settings.get("allowed_networks", []))


def init_app(app: Any, kernel: Any) -> None:
    """Time every request, and serve ``/metrics`` when ``[metrics] enabled``."""
    from flask import Response, abort, g, request

    def start_timer() -> None:
        g.shequ_started = time.perf_counter()

    def count(response: Any) -> Any:
        started = g.pop("shequ_started", None)
        if started is not None and request.endpoint != "metrics":
            observe_request(request.endpoint, request.method, response.status_code,
                            time.perf_counter() - started)
        return response

    # First, so a request refused by another before_request (a bad Host) is timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, start_timer)
    app.after_request(count)

    settings = kernel.config.metrics

    def metrics() -> Response:
        if not settings["enabled"]:
            abort(404)
        if not allowed(settings, request.remote_addr, request.headers.get("Authorization", "")):
            abort(403)
        body, ctype = exposition(kernel)
        return Response(body, content_type=ctype, headers={"Cache-Control": "no-store"})

    app.add_url_rule("/metrics", "metrics", metrics)


__all__ = [
    "access_logged",
    "allowed",
    "backup_status",
    "exposition",
    "init_app",
    "job_ran",
    "mark_process_dead",
    "observe_request",
    "prepare_multiprocess",
    "rows_imported",
]
