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
"""

from __future__ import annotations

import atexit
import copy
import logging
import os
import random
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Select, any_, bindparam, func, insert, select, text, update
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY
from sqlalchemy.orm import Session, SessionTransaction

from core.db import Database, UTCDateTime, utcnow
from core.events import signals
from core.events.models import Delivery, OutboxEvent
from core.events.types import Event

if TYPE_CHECKING:
    from flask import Flask

    from core.events import EventBus

log = logging.getLogger("shequ.events")

#: Deliveries claimed (and locked) per transaction when ``events.claim_chunk`` is not set.
#: Each chunk ends in one commit, i.e. one durable disk flush, so a small chunk caps the
#: delivery rate (10 gave a few hundred per second on PostgreSQL). A large one holds its
#: row locks (on SQLite: the database's write lock) while all its handlers run, and is what
#: a crashed process delivers again; see docs/events.md.
CLAIM_CHUNK = 100
#: ``last_error`` keeps the exception type and message, cut to this many characters.
ERROR_MAX_CHARS = 2000
#: Each back-off delay is stretched by up to this fraction, so deliveries that failed
#: together (a database blip) do not all retry in the same instant.
JITTER = 0.1

Clock = Callable[[], datetime]
StopFlag = Callable[[], bool]


# ---------------------------------------------------------------------------- statistics


@dataclass
class RunStats:
    """What one round (or a sum of rounds) did; ``more`` means a limit was hit, so work is
    probably still waiting and the caller should not sleep before the next round."""

    fanned_out: int = 0  # outbox events fanned out
    created: int = 0  # delivery rows created by the fan-out
    delivered: int = 0
    failed: int = 0  # attempts that raised (the ones that went dead included)
    dead: int = 0  # deliveries parked as dead letters
    more: bool = False

    @property
    def attempted(self) -> int:
        return self.delivered + self.failed

    @property
    def idle(self) -> bool:
        return not (self.fanned_out or self.attempted or self.more)

    def add(self, other: RunStats) -> RunStats:
        for f in fields(self):
            if f.name == "more":
                self.more = self.more or other.more
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_dict(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self) if f.name != "more"}

    def summary(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.as_dict().items())


# ---------------------------------------------------------------------------- helpers


def backoff_seconds(attempts: int, settings: dict[str, Any]) -> float:
    """Delay before attempt ``attempts + 1``: ``base * 2**(attempts-1)`` stretched by up to
    10 % jitter, never more than ``backoff_max_seconds``."""
    base = float(settings["backoff_base_seconds"])
    cap = float(settings["backoff_max_seconds"])
    raw = base * 2.0 ** min(max(attempts - 1, 0), 60)
    return min(cap, raw * random.uniform(1.0, 1.0 + JITTER))  # noqa: S311 - not crypto


def describe_error(exc: BaseException) -> str:
    """``Type: message``, truncated: enough for an admin to recognise the failure; the full
    traceback goes to the log."""
    message = str(exc).strip()
    text_ = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    if len(text_) > ERROR_MAX_CHARS:
        text_ = text_[: ERROR_MAX_CHARS - 1] + "…"
    return text_


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _begin_claim(session: Session) -> None:
    """Start a claiming transaction. On SQLite, take the write lock before reading, so a
    concurrent claimer waits (``busy_timeout``) rather than reading the same rows; this also
    makes the SAVEPOINTs around handlers nest in a real transaction, which pysqlite's
    implicit transactions would not guarantee."""
    if _dialect(session) == "sqlite":
        session.execute(text("BEGIN IMMEDIATE"))


def _locked(stmt: Select, session: Session, *, of: Any) -> Select:
    """``FOR UPDATE SKIP LOCKED`` where the database has it; SQLite is serialised by
    :func:`_begin_claim` instead."""
    if _dialect(session) == "sqlite":
        return stmt
    return stmt.with_for_update(skip_locked=True, of=of)


_PG_FAN_OUT = text(
    "INSERT INTO events_delivery (event_id, subscriber, status, attempts, next_attempt_at) "
    "SELECT e, s, 'pending', 0, :now "
    "FROM unnest(CAST(:eids AS BIGINT[]), CAST(:subs AS VARCHAR[])) AS t (e, s) "
    "ON CONFLICT (event_id, subscriber) DO NOTHING RETURNING id"
).bindparams(bindparam("now", type_=UTCDateTime()))


def _id_in(session: Session, column: Any, ids: list[int]) -> Any:
    """``column IN (ids)``; on PostgreSQL ``column = ANY(:ids)``, one array parameter, so
    the SQL text is the same for any number of ids (parsed and planned once)."""
    if _dialect(session) == "postgresql":
        return column == any_(bindparam(None, ids, type_=PG_ARRAY(BigInteger)))
    return column.in_(ids)


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert delivery rows, skipping pairs that exist already (the unique constraint is the
    last line of defence if two fan-outs ever overlap). Returns how many were inserted."""
    table = Delivery.__table__
    dialect = _dialect(session)
    if dialect == "postgresql":
        # One short statement with two array parameters, whatever the number of rows: a
        # multi-row VALUES list is a new, long SQL text per row count, which the driver
        # re-parses and the server re-plans every time.
        now = rows[0]["next_attempt_at"]
        result = session.execute(
            _PG_FAN_OUT,
            {"eids": [r["event_id"] for r in rows], "subs": [r["subscriber"] for r in rows],
             "now": now},
        )
        return len(result.all())
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - other databases are not supported deployments
        session.execute(insert(table), rows)
        return len(rows)
    stmt = (
        dialect_insert(table)
        .on_conflict_do_nothing(index_elements=["event_id", "subscriber"])
        .returning(table.c.id)
    )
    # RETURNING counts exactly what was inserted (rowcount is unreliable with ON CONFLICT
    # across drivers); SQLAlchemy batches the rows into few statements ("insertmanyvalues").
    return len(session.execute(stmt, rows).all())


def _peek(db: Database, stmt: Select) -> bool:
    """A cheap, lock-free "is there anything to do?" so idle polls never take locks."""
    with db.engine.connect() as conn:
        return conn.execute(stmt.limit(1)).first() is not None


# ---------------------------------------------------------------------------- fan-out


def fan_out(
    session: Session, bus: EventBus, *, limit: int, now: datetime | None = None
) -> tuple[int, int]:
    """Create the delivery rows for up to ``limit`` outbox events not yet fanned out, in the
    caller's transaction. Returns ``(events, deliveries created)``.

    Only subscribers known to *this* process get a row, so every process that fans out must
    run with the same plugins enabled (they do when they share one config file).
    """
    now = now or utcnow()
    stmt = (
        select(OutboxEvent.id, OutboxEvent.name)
        .where(OutboxEvent.fanned_out.is_(False))
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    claimed = session.execute(_locked(stmt, session, of=OutboxEvent)).all()
    if not claimed:
        return 0, 0
    rows = [
        {"event_id": eid, "subscriber": sub.id, "status": "pending", "attempts": 0,
         "next_attempt_at": now}
        for eid, name in claimed
        for sub in bus.subscribers_for(name)
    ]
    created = _insert_ignoring_duplicates(session, rows) if rows else 0
    session.execute(
        update(OutboxEvent)
        .where(_id_in(session, OutboxEvent.id, [eid for eid, _ in claimed]))
        .values(fanned_out=True)
        .execution_options(synchronize_session=False)
    )
    return len(claimed), created


def fan_out_pending(db: Database, bus: EventBus, *, limit: int, clock: Clock = utcnow) -> RunStats:
    """One fan-out transaction over up to ``limit`` events."""
    stats = RunStats()
    if not _peek(db, select(OutboxEvent.id).where(OutboxEvent.fanned_out.is_(False))):
        return stats
    with db.Session() as session:
        _begin_claim(session)
        stats.fanned_out, stats.created = fan_out(session, bus, limit=limit, now=clock())
        session.commit()
    stats.more = stats.fanned_out >= limit
    return stats


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


def claim_chunk(settings: dict[str, Any]) -> int:
    """``events.claim_chunk``: deliveries per claiming transaction (one commit each)."""
    return max(1, int(settings.get("claim_chunk", CLAIM_CHUNK)))


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
    kernel = app.extensions["shequ"]
    total = RunStats()
    with app.app_context():
        for _ in range(max_rounds):
            stats = run_once(kernel.db, kernel.bus, now=now)
            total.add(stats)
            if stats.idle:
                break
    total.more = False
    return total


# ---------------------------------------------------------------------------- dead letters


def retry_dead(
    session: Session,
    ids: Iterable[int] | None = None,
    subscriber: str | None = None,
) -> int:
    """Put dead deliveries back to pending with their attempts reset, due now. ``ids`` and
    ``subscriber`` narrow the selection; with neither, every dead letter is retried. The
    last error is kept until the next attempt overwrites it. Returns how many; the caller
    commits (and may ``bus.wake()`` the dispatcher)."""
    stmt = update(Delivery).where(Delivery.status == "dead")
    if ids is not None:
        stmt = stmt.where(Delivery.id.in_([int(i) for i in ids]))
    if subscriber:
        stmt = stmt.where(Delivery.subscriber == subscriber)
    result = session.execute(
        stmt.values(status="pending", attempts=0, next_attempt_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def status_counts(session: Session) -> dict[str, int]:
    """Deliveries per status, plus ``unfanned`` outbox events: the admin page, the CLI."""
    counts = {"pending": 0, "delivered": 0, "dead": 0}
    for status, n in session.execute(
        select(Delivery.status, func.count(Delivery.id)).group_by(Delivery.status)
    ):
        counts[status] = n
    counts["unfanned"] = session.scalar(
        select(func.count(OutboxEvent.id)).where(OutboxEvent.fanned_out.is_(False))
    ) or 0
    return counts


@dataclass(frozen=True)
class DeliveryRow:
    """A delivery with its event's name, for listings."""

    id: int
    event_id: int
    event_name: str
    event_created_at: datetime
    subscriber: str
    status: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None


def list_deliveries(
    session: Session,
    *,
    status: str | None = None,
    subscriber: str | None = None,
    limit: int = 50,
) -> list[DeliveryRow]:
    """Most recent deliveries first, optionally narrowed by status and subscriber."""
    stmt = (
        select(Delivery, OutboxEvent.name, OutboxEvent.created_at)
        .join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    if status:
        stmt = stmt.where(Delivery.status == status)
    if subscriber:
        stmt = stmt.where(Delivery.subscriber == subscriber)
    return [
        DeliveryRow(d.id, d.event_id, name, created, d.subscriber, d.status, d.attempts,
                    d.next_attempt_at, d.delivered_at, d.last_error)
        for d, name, created in session.execute(stmt)
    ]


# ---------------------------------------------------------------------------- after commit

_PUBLISHED_KEY = "shequ.events.published"


class _Published:
    """Names published in one session, per transaction, until it commits or rolls back.

    Kept in ``session.info``; the listeners that call it are registered once, on the
    ``Session`` class (:func:`_listen_once`). After the root transaction
    commits, the names published in it are sent with :data:`signals.event_published` and
    the bus's dispatcher is woken; names published inside a savepoint that rolled back, or
    in a transaction that ended without committing, are dropped.
    """

    def __init__(self) -> None:
        self.entries: list[tuple[Any, Any, EventBus, str]] = []  # root, innermost, bus, name

    def add(self, session: Session, bus: EventBus, name: str) -> None:
        root = session.get_transaction()
        inner = session.get_nested_transaction() or root
        self.entries.append((root, inner, bus, name))

    def after_commit(self, session: Session) -> None:
        root = session.get_transaction()
        mine = [(bus, name) for r, _, bus, name in self.entries if r is root]
        self.entries = [e for e in self.entries if e[0] is not root]
        by_bus: dict[int, tuple[EventBus, list[str]]] = {}
        for bus, name in mine:
            by_bus.setdefault(id(bus), (bus, []))[1].append(name)
        for bus, names in by_bus.values():
            signals.send(signals.event_published, bus, names=names)
            if bus.dispatcher is not None:
                bus.dispatcher.wake()

    def after_soft_rollback(self, session: Session, previous: SessionTransaction) -> None:
        def inside(tx: Any) -> bool:
            while tx is not None:
                if tx is previous:
                    return True
                tx = tx.parent
            return False

        self.entries = [e for e in self.entries if not inside(e[1])]

    def after_transaction_end(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:  # root ended: committed (already sent) or discarded
            self.entries = [e for e in self.entries if e[0] is not transaction]


def _published_state(session: Session) -> _Published | None:
    # ``Session.info`` is created lazily; sessions that never published have none to look in.
    info = session.__dict__.get("info")
    return info.get(_PUBLISHED_KEY) if info else None


def _on_after_commit(session: Session) -> None:
    state = _published_state(session)
    if state is not None and state.entries:
        state.after_commit(session)


def _on_after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    state = _published_state(session)
    if state is not None and state.entries:
        state.after_soft_rollback(session, previous)


def _on_after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    state = _published_state(session)
    if state is not None and state.entries:
        state.after_transaction_end(session, transaction)


_LISTENERS = (
    ("after_commit", _on_after_commit),
    ("after_soft_rollback", _on_after_soft_rollback),
    ("after_transaction_end", _on_after_transaction_end),
)


def _listen_once() -> None:
    """Attach the after-commit bookkeeping to the ``Session`` class, once per process.

    Listening per session instance (as this once did) made SQLAlchemy build a per-instance
    dispatcher for three events on every session that published, which cost more than the
    insert itself; class-level listeners are set up once, and for sessions that never
    published they are a dictionary lookup that finds nothing. The class is SQLAlchemy's
    ``Session``, which ``core.db``'s sessionmaker creates, so sessions built directly
    (``Session(bind=...)``, as some tests do) are covered too."""
    for name, fn in _LISTENERS:
        if not sa_event.contains(Session, name, fn):
            sa_event.listen(Session, name, fn)


_listen_once()


def track_published(bus: EventBus, session: Session, name: str) -> None:
    """Remember that ``name`` was published in ``session``'s current transaction, so the
    ``event_published`` signal and the dispatcher wake-up happen after it commits."""
    info = session.info
    state = info.get(_PUBLISHED_KEY)
    if state is None:
        state = info[_PUBLISHED_KEY] = _Published()
    state.add(session, bus, name)


# ---------------------------------------------------------------------------- dispatcher


class Dispatcher:
    """Embedded delivery (``events.delivery = "thread"``): one daemon thread per process,
    woken right after a commit that published events, and polling every ``poll_interval``
    for events committed by other processes and for retries coming due.

    The thread starts lazily — on the first request this process serves, or in a gunicorn
    worker right after the fork (``after_fork``) — so CLI commands and a preloading master
    process, which build the same app, never deliver in the background.
    """

    def __init__(self, app: Flask, bus: EventBus) -> None:
        self.app = app
        self.bus = bus
        self.rounds = 0
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopped = False

    @property
    def running(self) -> bool:
        t = self._thread
        return t is not None and self._pid == os.getpid() and t.is_alive()

    def ensure_running(self) -> None:
        """Start the thread unless it runs (in this process) or was stopped. Cheap enough to
        call on every request."""
        if self._stopped or self.running:
            return
        with self._lock:
            if self._stopped or self.running:
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, name="shequ-events", daemon=True
            )
            self._pid = os.getpid()
            self._thread.start()

    def start(self) -> None:
        self._stopped = False
        self.ensure_running()

    def wake(self) -> None:
        """Deliver now rather than at the next poll (called after commits)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the delivery in progress; wait up to ``timeout`` seconds for it."""
        self._stopped = True
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and self.running:
            thread.join(timeout)

    def after_fork(self) -> None:
        """In a forked child: the parent's thread did not survive the fork, and its locks
        may be held forever; start afresh."""
        self._reset()
        self.start()

    def _run(self) -> None:
        from core.jobs import Schedule

        poll = float(self.bus.settings["poll_interval"])
        failures = 0
        stop = self._stop
        schedule = Schedule(self.app, self.app.extensions["shequ"].jobs)
        while not stop.is_set():
            stats: RunStats | None = None
            try:
                with self.app.app_context():
                    stats = run_once(self.bus.db, self.bus, should_stop=stop.is_set)
                failures = 0
            except Exception:
                failures += 1
                if failures == 1 or failures % 100 == 0:
                    log.exception("event delivery round failed (%s in a row)", failures)
            self.rounds += 1
            for line in schedule.run_due():
                log.info("%s", line)
            if stats is not None and stats.more:
                continue
            wait = poll if failures == 0 else min(30.0, poll * 2 ** min(failures, 8))
            self._wake.wait(wait)
            self._wake.clear()


def _stop_at_exit(ref: weakref.ReferenceType[Dispatcher]) -> None:
    dispatcher = ref()
    if dispatcher is not None:
        dispatcher.stop(timeout=5.0)


def init_app(app: Flask, kernel: Any, bus: EventBus) -> None:
    """In ``"thread"`` mode, start the embedded dispatcher with the app. (The admin page,
    ``core.events.views``, is a web-layer module: ``create_app`` registers it.)"""
    if bus.settings["delivery"] != "thread":
        return  # "worker": `shequ worker` delivers; "manual": the caller does
    dispatcher = Dispatcher(app, bus)
    bus.dispatcher = dispatcher
    app.before_request(dispatcher.ensure_running)
    atexit.register(_stop_at_exit, weakref.ref(dispatcher))


__all__ = [
    "CLAIM_CHUNK",
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
