"""Periodic jobs: work that is due by the clock rather than by an event — a camera silent
too long, a ticket nobody accepted in time, residents who turned 80 today, retention
purges.

Plugins return :class:`Job` objects from the ``register_jobs`` hook. They run where events
are delivered — each ``shequ worker`` process, or the embedded delivery thread of a web
process (``events.delivery = "thread"``) — so a deployment has no second scheduler to
run and forget. ``shequ jobs run NAME`` runs one now (for cron, an operator, or a test).

Several processes may hold the same schedule: on PostgreSQL a job runs under a
session-level advisory lock taken with ``pg_try_advisory_lock``, so one process runs it
and the others skip that turn. Jobs must still be idempotent (a crash can repeat one):
the plugins' jobs guard their effects with database constraints.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from core.current import kernel_of

log = logging.getLogger("shequ.jobs")


@dataclass(frozen=True)
class Job:
    """A job the worker runs every ``every`` seconds. ``run(app)`` is called inside an
    app context and returns a one-line summary for the log (or ``None``)."""

    name: str  # "<plugin id>.<job>", stable: it names the lock
    every: float
    run: Callable[[Any], str | None]
    doc: str = ""


class JobError(RuntimeError):
    pass


def core_jobs(app: Any) -> list[Job]:
    """Core's own jobs: the scheduled backup when ``[backup] enabled`` (core/backup.py)."""
    config = kernel_of(app).config
    settings = getattr(config, "backup", None) or {}
    if not settings.get("enabled"):
        return []
    from core.backup import scheduled_backup

    return [Job("core.backup", float(settings["every_hours"]) * 3600, scheduled_backup,
                doc="Back up the database to [backup] directory, check it, keep the newest")]


def collect(app: Any, host: Any) -> dict[str, Job]:
    """Core's jobs, then every plugin's, by name; a name outside the plugin's area or
    declared twice stops start-up (as event names do)."""
    jobs: dict[str, Job] = {job.name: job for job in core_jobs(app)}
    for pid, found in host.call_ordered("register_jobs", app=app):
        for job in found or []:
            if not job.name.startswith(f"{pid}."):
                raise JobError(f"{pid}: job '{job.name}' must start with '{pid}.'")
            if job.name in jobs:
                raise JobError(f"job {job.name} is declared twice")
            if job.every < 1:
                raise JobError(f"job {job.name}: every must be at least 1 second")
            jobs[job.name] = job
    return jobs


def _lock_key(name: str) -> int:
    return zlib.crc32(f"shequ.job.{name}".encode())


def _timed(app: Any, job: Job) -> str | None:
    """Run ``job`` in an app context, counted (core.metrics) and logged (one line, JSON in
    ``[logging] format = "json"``); an exception is counted as a failure and re-raised."""
    from core import metrics

    started = time.perf_counter()
    ok = False
    summary = None
    try:
        with app.app_context():
            summary = job.run(app)
        ok = True
        return summary
    finally:
        seconds = time.perf_counter() - started
        metrics.job_ran(job.name, ok, seconds)
        log.info("job %s %s", job.name, "ok" if ok else "failed",
                 extra={"event": "job", "job": job.name, "ok": ok,
                        "duration_ms": round(seconds * 1000, 2),
                        "summary": (summary or "")[:500]})


def run_job(app: Any, job: Job) -> tuple[bool, str | None]:
    """Run ``job`` now unless another process is running it. Returns (ran, summary)."""
    db = kernel_of(app).db
    if db.dialect != "postgresql":
        return True, _timed(app, job)
    with db.engine.connect() as conn:
        if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                            {"k": _lock_key(job.name)}).scalar():
            conn.rollback()
            return False, None
        conn.commit()  # hold the session lock, not a transaction
        try:
            return True, _timed(app, job)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(job.name)})
            conn.commit()


class Schedule:
    """When each job last ran in this process; :meth:`run_due` runs the ones due. The first
    turn of each job comes one period after start-up, so a restart loop never hammers."""

    def __init__(self, app: Any, jobs: dict[str, Job], clock: Callable[[], float] = time.monotonic):
        self.app = app
        self.jobs = jobs
        self.clock = clock
        start = clock()
        self.next_at = {name: start + job.every for name, job in jobs.items()}

    def run_due(self) -> list[str]:
        now = self.clock()
        lines = []
        for name, job in self.jobs.items():
            if now < self.next_at[name]:
                continue
            self.next_at[name] = now + job.every
            try:
                ran, summary = run_job(self.app, job)
            except Exception:  # one failing job must not stop delivery or the others
                log.exception("job %s failed", name)
                lines.append(f"job {name}: failed (see the log)")
                continue
            if ran and summary:
                lines.append(f"job {name}: {summary}")
        return lines
