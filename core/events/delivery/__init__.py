"""Delivering outbox events to subscribers: fan-out, delivery, retry, dead letters.

Plain functions over a :class:`~core.db.Database`, so the embedded delivery thread,
``shequ worker`` processes and tests run exactly the same code:

* **fan-out** (:func:`fan_out`) turns each committed outbox row into one ``Delivery`` row
  per subscriber whose pattern matches, then marks the row ``fanned_out``.
* **delivery** (:func:`deliver_due`) claims due pending deliveries and calls each handler
  inside a SAVEPOINT of the claiming transaction. The handler's own writes and the
  "delivered" mark therefore commit together; a failure rolls back only the savepoint and
  schedules a retry with exponential back-off, or parks the delivery as ``dead`` after
  ``events.max_attempts``. Each delivery is tracked on its own, so one failing subscriber
  never holds up another.
* :func:`run_once` does one round of both; :class:`Dispatcher` runs rounds in a daemon
  thread of the web process (``events.delivery = "thread"``); ``shequ worker`` runs them in
  a loop (``"worker"``); tests call :func:`deliver_pending` (``"manual"``).

Concurrency. Several processes may deliver at once; none may deliver the same (event,
subscriber) pair at the same time. On PostgreSQL rows are claimed with
``SELECT ... FOR UPDATE SKIP LOCKED`` and the lock is held while the handlers of the
claimed chunk (``events.claim_chunk`` rows) run, so another worker skips them instead of
waiting or repeating them; the unique ``(event_id, subscriber)`` constraint backs fan-out
up. SQLite has a single writer: each claiming transaction starts with ``BEGIN IMMEDIATE``,
which takes the write lock first, so two processes (a reloader, a preloaded master, a stray
worker) queue behind each other instead of reading the same rows. Delivery is *at least
once*: a process that dies mid-chunk leaves its rows pending, and they are delivered again.

The package holds the rounds (:func:`deliver_chunk`, :func:`deliver_due`, :func:`run_once`,
:func:`deliver_pending`); its modules hold the seams around them — :mod:`.claims` (the
dialects and the retry policy), :mod:`.fan_out`, :mod:`.admin` (dead letters and
listings), :mod:`.after_commit` (the published signal) and :mod:`.dispatcher` (the
thread). Every name is re-exported here; ``_mark_delivered_chunk`` stays in this module
because tests patch it here.
"""

from __future__ import annotations

import atexit
import copy
import logging
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import Session

from core.current import kernel_of
from core.db import Database, utcnow
from core.events import signals
from core.events.delivery.admin import DeliveryRow, list_deliveries, retry_dead, status_counts
from core.events.delivery.after_commit import track_published
from core.events.delivery.claims import (
    CLAIM_CHUNK,
    ERROR_MAX_CHARS,
    JITTER,
    _begin_claim,
    _id_in,
    _locked,
    _peek,
    backoff_seconds,
    claim_chunk,
    describe_error,
)
from core.events.delivery.dispatcher import Dispatcher, _stop_at_exit
from core.events.delivery.fan_out import fan_out, fan_out_pending
from core.events.delivery.stats import Clock, RunStats, StopFlag
from core.events.models import Delivery, OutboxEvent
from core.events.types import Event

if TYPE_CHECKING:
    from flask import Flask

    from core.events import EventBus

log = logging.getLogger("shequ.events")


# ---------------------------------------------------------------------------- delivery


@dataclass
class _Outcome:
    kind: str  # delivered | failed | dead
    event: Event
    subscriber: str
    error: str = ""
    delivery_id: int = 0
    attempts: int = 0  # after this attempt
    next_attempt_at: datetime | None = None  # kind == "failed"


def _due(known: list[str], now: datetime) -> Select:
    """Due deliveries, oldest first: only the columns a claim needs (plain rows, not ORM
    objects, so nothing is flushed behind the handlers' backs)."""
    return (
        select(Delivery.id, Delivery.event_id, Delivery.subscriber, Delivery.attempts)
        .where(
            Delivery.status == "pending",
            Delivery.next_attempt_at <= now,
            Delivery.subscriber.in_(known),
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
    )


def _attempt(session: Session, bus: EventBus, row: Any, clock: Clock) -> _Outcome:
    """Call one handler in a SAVEPOINT; return what to record on its delivery row. ``row``
    is a claimed delivery with its event's ``name``, ``payload`` and ``created_at``.

    The row itself is updated later, for the whole chunk at once (:func:`_record`), in the
    same transaction. Marking each row as it went (ORM attributes) made the next
    ``begin_nested`` flush an UPDATE, which also forced its SAVEPOINT and RELEASE out:
    three round trips per delivery. Now SQLAlchemy emits the SAVEPOINT only when the
    handler touches the database, and a handler that does not costs no round trip."""
    sub = bus.subscribers[row.subscriber]
    attempts = row.attempts + 1
    event = Event(
        id=row.event_id,
        name=row.name,
        payload=copy.deepcopy(row.payload),
        created_at=row.created_at,
        attempt=attempts,
    )
    try:
        with session.begin_nested():
            sub.handler(event, session)
            session.flush()  # constraint errors are the handler's failure, not the chunk's
    except Exception as exc:
        error = describe_error(exc)
        settings = bus.settings
        if attempts >= settings["max_attempts"]:
            log.error("event %s #%s to %s failed %s times; dead-lettered",
                      event.name, event.id, row.subscriber, attempts, exc_info=exc)
            return _Outcome("dead", event, row.subscriber, error, row.id, attempts)
        delay = backoff_seconds(attempts, settings)
        log.warning("event %s #%s to %s failed (attempt %s), retry in %.1fs: %s",
                    event.name, event.id, row.subscriber, attempts, delay, error,
                    exc_info=exc)
        return _Outcome("failed", event, row.subscriber, error, row.id, attempts,
                        clock() + timedelta(seconds=delay))
    return _Outcome("delivered", event, row.subscriber, "", row.id, attempts)


_MARK_FAILED = (
    update(Delivery.__table__)
    .where(Delivery.__table__.c.id == bindparam("delivery_id"))
    .values(status=bindparam("new_status"), attempts=bindparam("new_attempts"),
            last_error=bindparam("error"), next_attempt_at=bindparam("next_at"))
)


_MARK_DEAD = (
    update(Delivery.__table__)
    .where(Delivery.__table__.c.id == bindparam("delivery_id"))
    .values(status=bindparam("new_status"), attempts=bindparam("new_attempts"),
            last_error=bindparam("error"))
)


def _record(session: Session, outcomes: list[_Outcome], clock: Clock) -> None:
    """Write the chunk's outcomes to its (still locked) delivery rows: one UPDATE for all
    the delivered ones, one per failure (each has its own error and retry time)."""
    delivered = [o.delivery_id for o in outcomes if o.kind == "delivered"]
    conn = session.connection()
    if delivered:
        table = Delivery.__table__
        conn.execute(
            update(table)
            .where(_id_in(session, table.c.id, delivered))
            .values(status="delivered", attempts=table.c.attempts + 1, delivered_at=clock())
        )
    failed = [
        {"delivery_id": o.delivery_id, "new_status": "dead" if o.kind == "dead" else "pending",
         "new_attempts": o.attempts, "error": o.error,
         "next_at": o.next_attempt_at if o.kind == "failed" else None}
        for o in outcomes
        if o.kind != "delivered"
    ]
    for params in failed:
        if params["next_at"] is None:  # dead: next_attempt_at keeps its last value
            conn.execute(_MARK_DEAD, params)
        else:
            conn.execute(_MARK_FAILED, params)


def _mark_delivered_chunk(session: Session) -> None:
    """Hook point between the handlers and the commit of a chunk (tests inject failures
    here to prove handler writes and delivery marks share one transaction)."""
    session.flush()


def deliver_chunk(
    db: Database,
    bus: EventBus,
    *,
    limit: int = CLAIM_CHUNK,
    clock: Clock = utcnow,
    should_stop: StopFlag | None = None,
) -> tuple[RunStats, int]:
    """Claim up to ``limit`` due deliveries, run their handlers and commit, all in one
    transaction that holds the rows' locks throughout. Returns the stats and how many rows
    were claimed. If ``should_stop()`` turns true, the rest of the chunk is left untouched
    (still pending) and what was done is committed."""
    stats = RunStats()
    known = sorted(bus.subscribers)
    if not known:
        return stats, 0
    outcomes: list[_Outcome] = []
    with db.Session() as session:
        _begin_claim(session)
        # The event's name, payload and time come with the claim (one query, not two); only
        # the delivery rows are locked.
        claim = (
            _due(known, clock())
            .add_columns(OutboxEvent.name, OutboxEvent.payload, OutboxEvent.created_at)
            .join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
            .limit(limit)
        )
        rows = session.execute(_locked(claim, session, of=Delivery)).all()
        if not rows:
            session.rollback()
            return stats, 0
        for row in rows:
            if should_stop is not None and should_stop():
                break
            outcomes.append(_attempt(session, bus, row, clock))
        _record(session, outcomes, clock)
        _mark_delivered_chunk(session)
        session.commit()
    for outcome in outcomes:
        if outcome.kind == "delivered":
            stats.delivered += 1
            signals.send(signals.event_delivered, bus, event=outcome.event,
                         subscriber=outcome.subscriber)
        else:
            stats.failed += 1
            if outcome.kind == "dead":
                stats.dead += 1
                signals.send(signals.event_dead_lettered, bus, event=outcome.event,
                             subscriber=outcome.subscriber, error=outcome.error)
    return stats, len(rows)


def deliver_due(
    db: Database,
    bus: EventBus,
    *,
    limit: int,
    clock: Clock = utcnow,
    should_stop: StopFlag | None = None,
) -> RunStats:
    """Deliver up to ``limit`` due deliveries, chunk by chunk (one transaction each, of
    ``events.claim_chunk`` deliveries)."""
    stats = RunStats()
    known = sorted(bus.subscribers)
    if not known or not _peek(db, _due(known, clock()).with_only_columns(Delivery.id)):
        return stats
    chunk_size = claim_chunk(bus.settings)
    while stats.attempted < limit:
        if should_stop is not None and should_stop():
            break
        want = min(chunk_size, limit - stats.attempted)
        chunk, claimed = deliver_chunk(db, bus, limit=want, clock=clock, should_stop=should_stop)
        stats.add(chunk)
        if claimed < want:
            break
    else:
        stats.more = True
    return stats


def run_once(
    db: Database,
    bus: EventBus,
    *,
    batch_size: int | None = None,
    now: datetime | None = None,
    should_stop: StopFlag | None = None,
) -> RunStats:
    """One round: fan out up to ``batch_size`` events, then attempt up to ``batch_size``
    deliveries. ``now`` fixes the clock (tests use it to step past back-off delays)."""
    limit = batch_size or int(bus.settings["batch_size"])
    clock: Clock = (lambda: now) if now is not None else utcnow
    stats = fan_out_pending(db, bus, limit=limit, clock=clock)
    if should_stop is None or not should_stop():
        stats.add(deliver_due(db, bus, limit=limit, clock=clock, should_stop=should_stop))
    return stats


def deliver_pending(
    app: Flask, *, now: datetime | None = None, max_rounds: int = 100
) -> RunStats:
    """Run rounds until nothing is left to do now (``"manual"`` mode and tests). Handlers
    run inside an app context, as they do in the thread and in ``shequ worker``."""
    kernel = kernel_of(app)
    total = RunStats()
    with app.app_context():
        for _ in range(max_rounds):
            stats = run_once(kernel.db, kernel.bus, now=now)
            total.add(stats)
            if stats.idle:
                break
    total.more = False
    return total


def init_app(app: Flask, kernel: Any, bus: EventBus) -> None:
    """In ``"thread"`` mode, start the embedded dispatcher with the app. (The admin page,
    ``core.events.views``, is a web-layer module: ``create_app`` registers it.)"""
    if bus.settings["delivery"] != "thread":
        return  # "worker": `shequ worker` delivers; "manual": the caller does
    dispatcher = Dispatcher(app, bus, run_once)
    bus.dispatcher = dispatcher
    app.before_request(dispatcher.ensure_running)
    atexit.register(_stop_at_exit, weakref.ref(dispatcher))


__all__ = [
    "CLAIM_CHUNK",
    "ERROR_MAX_CHARS",
    "JITTER",
    "DeliveryRow",
    "Dispatcher",
    "RunStats",
    "backoff_seconds",
    "claim_chunk",
    "deliver_chunk",
    "deliver_due",
    "deliver_pending",
    "describe_error",
    "fan_out",
    "fan_out_pending",
    "init_app",
    "list_deliveries",
    "retry_dead",
    "run_once",
    "status_counts",
    "track_published",
]
