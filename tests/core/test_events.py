"""The event bus: transactional outbox, per-subscriber delivery, retries, dead letters,
the embedded dispatcher, the CLI, the admin page and concurrent workers.

Runs on SQLite by default and on PostgreSQL when ``SHEQU_TEST_DATABASE_URL`` names one;
the concurrent-worker test asserts real parallelism only where the database has row locks.
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from marshmallow import RAISE, Schema, ValidationError, fields, post_load
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.config import DEFAULT_CONFIG, ConfigError, load_config
from core.db import utcnow
from core.events import Event, EventError, PublishedEvent, _dump_is_identity
from core.events import delivery as engine
from core.events.delivery import deliver_pending, retry_dead, run_once
from core.events.models import Delivery, OutboxEvent
from core.events.signals import event_dead_lettered, event_delivered, event_published
from core.hookspecs import PluginInfo, hookimpl
from core.testing import csrf_token
from core.web.i18n import LANG_COOKIE

THING = "demo.thing.happened"
ECHO = "demo.thing.echoed"


class ThingSchema(Schema):
    id = fields.Integer(required=True)
    note = fields.String(load_default="")


class Recorder:
    """Handlers whose behaviour a test can switch; every call is recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []  # (handler, event id, attempt)
        self.fail: set[str] = set()
        self.delay = 0.0
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.by_thread: collections.Counter[str] = collections.Counter()

    def handler(self, name: str) -> Callable[[Event, Any], None]:
        def handle(event: Event, session: Any) -> None:
            with self._lock:
                self.calls.append((name, event.id, event.attempt))
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                self.by_thread[threading.current_thread().name] += 1
            try:
                if self.delay:
                    time.sleep(self.delay)  # a slow handler, holding its row lock
                if name in self.fail:
                    raise RuntimeError(f"{name} is broken")
            finally:
                with self._lock:
                    self.in_flight -= 1

        handle.__name__ = name
        return handle

    def count(self, name: str) -> int:
        return sum(1 for n, _, _ in self.calls if n == name)


class DemoPlugin:
    """Declares the demo events; subscribes ``good`` to everything and ``bad`` to THING."""

    info = PluginInfo(id="demo", version="1.0.0", title="Demo")

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    @hookimpl
    def register_event_types(self, bus: Any) -> None:
        bus.declare(THING, ThingSchema, "A demo thing happened.")
        bus.declare(ECHO, ThingSchema, "A handler echoed a thing.")

    @hookimpl
    def register_event_handlers(self, bus: Any) -> None:
        bus.subscribe("demo.*", self.rec.handler("good"))
        bus.subscribe(THING, self.rec.handler("bad"))


class EchoPlugin:
    """Subscribes a handler that writes (publishes ``demo.thing.echoed``) in the delivery
    transaction, then may fail."""

    info = PluginInfo(id="echo", version="1.0.0", title="Echo", depends=("demo",))

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    @hookimpl
    def register_event_handlers(self, bus: Any) -> None:
        record = self.rec.handler("echo")

        def echo(event: Event, session: Any) -> None:
            bus.publish(session, ECHO, {"id": event.payload["id"], "note": "echo"})
            session.flush()
            record(event, session)

        bus.subscribe(THING, echo, name="echo")


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def bus_app(make_app: Callable[..., Flask], rec: Recorder) -> Callable[..., Flask]:
    """``bus_app(echo=False, **events_settings)``: an app with the demo plugin(s)."""

    def build(echo: bool = False, **events: Any) -> Flask:
        plugins = ["demo", "echo"] if echo else ["demo"]
        extra = {"demo": DemoPlugin(rec), "echo": EchoPlugin(rec)}
        settings = {"max_attempts": 3, "backoff_base_seconds": 10.0,
                    "backoff_max_seconds": 15.0, **events}
        return make_app(plugins=plugins, extra={p: extra[p] for p in plugins},
                        config={"events": settings})

    return build


def publish(app: Flask, name: str = THING, **payload: Any) -> int:
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        row = kernel.bus.publish(session, name, payload or {"id": 1})
        session.flush()
        return row.id


def deliveries(app: Flask, subscriber: str | None = None) -> list[Delivery]:
    with app.extensions["shequ"].db.Session() as session:
        stmt = select(Delivery).order_by(Delivery.id)
        if subscriber:
            stmt = stmt.where(Delivery.subscriber == subscriber)
        return list(session.scalars(stmt))


def outbox_names(app: Flask) -> list[str]:
    with app.extensions["shequ"].db.Session() as session:
        return list(session.scalars(select(OutboxEvent.name).order_by(OutboxEvent.id)))


# ------------------------------------------------------------------------------ publishing


def test_publish_exists_only_if_the_transaction_commits(bus_app, rec):
    app = bus_app()
    kernel = app.extensions["shequ"]
    published: list[list[str]] = []

    def on_published(sender: Any, names: list[str]) -> None:
        published.append(names)

    event_published.connect(on_published, sender=kernel.bus)
    try:
        with kernel.db.Session() as session:
            kernel.bus.publish(session, THING, {"id": 1})
            session.rollback()
        assert outbox_names(app) == []
        assert published == []

        with kernel.db.Session() as session:
            kernel.bus.publish(session, THING, {"id": 2})
            try:
                with session.begin_nested():  # a savepoint that rolls back drops its events
                    kernel.bus.publish(session, ECHO, {"id": 3})
                    raise RuntimeError("undo")
            except RuntimeError:
                pass
            session.commit()
        assert outbox_names(app) == [THING]
        assert published == [[THING]]
    finally:
        event_published.disconnect(on_published, sender=kernel.bus)
    assert deliver_pending(app).delivered == 2  # to "good" and "bad"
    assert rec.count("good") == 1


def test_publish_returns_the_id_at_once_and_tracks_commits_without_session_listeners(
    bus_app, rec
):
    """``publish`` writes the outbox row straight away (its id needs no flush), in the
    session's transaction; the after-commit bookkeeping is registered once on the Session
    class, so it works for any session, including one not made by core's sessionmaker, and
    adds no listeners to the session itself."""
    app = bus_app()
    kernel = app.extensions["shequ"]
    published: list[list[str]] = []

    def on_published(sender: Any, names: list[str]) -> None:
        published.append(names)

    event_published.connect(on_published, sender=kernel.bus)
    try:
        with Session(bind=kernel.db.engine) as session:
            first = kernel.bus.publish(session, THING, {"id": 1})
            second = kernel.bus.publish(session, ECHO, {"id": 2, "note": "x"})
            assert isinstance(first, PublishedEvent)
            assert second.id > first.id
            assert first.payload == {"id": 1, "note": ""}  # as stored: load_default applied
            # Visible in the transaction at once, before any flush or commit.
            assert session.get(OutboxEvent, first.id).name == THING
            assert published == []
            assert not list(session.dispatch.after_commit.listeners)
            assert not list(session.dispatch.after_transaction_end.listeners)
            session.commit()
        assert published == [[THING, ECHO]]
        assert outbox_names(app) == [THING, ECHO]
    finally:
        event_published.disconnect(on_published, sender=kernel.bus)


def test_payloads_are_dumped_unless_the_dump_would_change_nothing(bus_app):
    """``validate`` skips ``dump`` only for schemas of plain fields under their own names;
    anything the dump converts (dates, renamed keys, hooks) is still dumped to JSON."""

    class Plain(Schema):
        id = fields.Integer(required=True)
        tags = fields.List(fields.String())

    class WithDate(Schema):
        on = fields.Date(required=True)

    class Renamed(Schema):
        person = fields.Integer(data_key="personId")

    class Hooked(Schema):
        id = fields.Integer()

        @post_load
        def wrap(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
            return {"wrapped": data}

    assert _dump_is_identity(Plain())
    for schema in (WithDate, Renamed, Hooked):
        assert not _dump_is_identity(schema()), schema
    assert not _dump_is_identity(type("Email", (Schema,), {"to": fields.Email()})())

    app = bus_app()
    bus = app.extensions["shequ"].bus
    bus._owner = "demo"
    bus.declare("demo.plain.happened", Plain)
    bus.declare("demo.dated.happened", WithDate)
    bus.declare("demo.renamed.happened", Renamed)
    bus._owner = "core"
    assert bus.validate("demo.plain.happened", {"id": "7", "tags": ["a"]}) == {
        "id": 7, "tags": ["a"]
    }
    assert bus.validate("demo.dated.happened", {"on": "2026-11-28"}) == {"on": "2026-11-28"}
    assert bus.validate("demo.renamed.happened", {"personId": 3}) == {"personId": 3}
    with pytest.raises(EventError):
        bus.validate("demo.plain.happened", {"id": 1, "extra": 2})


class PlainSchema(Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True, allow_none=True)
    flag = fields.Boolean()
    note = fields.String(load_default="")
    seen = fields.Integer(load_default=lambda: 0)


PLAIN_CASES: list[Any] = [
    {"id": 1, "code": "a"},
    {"id": 1, "code": None, "flag": False, "note": "n", "seen": 3},
    {"id": "1", "code": "a"},  # converted by marshmallow
    {"id": 1.0, "code": "a"},
    {"id": True, "code": "a"},  # refused: a bool is not an Integer
    {"id": 1, "code": b"a"},
    {"id": 1, "code": 5},
    {"id": 1, "code": "a", "flag": "yes"},
    {"id": 1, "code": "a", "flag": 1},
    {"id": None, "code": "a"},
    {"code": "a"},  # required field missing
    {"id": 1},
    {"id": 1, "code": "a", "other": 2},  # unknown key
    [("id", 1)],
    "not a dict",
]


@pytest.mark.parametrize("payload", PLAIN_CASES, ids=[repr(c) for c in PLAIN_CASES])
def test_plain_payload_shortcut_agrees_with_marshmallow(bus_app, payload):
    """The fast loader for plain schemas returns exactly what marshmallow's load + dump
    would, and the same EventError where marshmallow refuses."""
    app = bus_app()
    bus = app.extensions["shequ"].bus
    bus._owner = "demo"
    bus.declare("demo.plain.checked", PlainSchema)
    bus._owner = "core"
    assert "demo.plain.checked" in bus._plain
    schema = PlainSchema(unknown=RAISE)
    try:
        expected: Any = schema.dump(schema.load(payload))
    except ValidationError as exc:
        expected = exc
    if isinstance(expected, ValidationError):
        with pytest.raises(EventError):
            bus.validate("demo.plain.checked", payload)
    else:
        assert bus.validate("demo.plain.checked", payload) == expected
        assert type(bus.validate("demo.plain.checked", payload)["id"]) is int


@pytest.mark.parametrize(("chunk", "transactions"), [(2, 3), (100, 1)])
def test_claim_chunk_sets_deliveries_per_transaction(bus_app, rec, monkeypatch, chunk,
                                                     transactions):
    app = bus_app(claim_chunk=chunk)
    assert app.extensions["shequ"].bus.settings["claim_chunk"] == chunk
    for i in range(3):
        publish(app, id=i)  # 3 events x ("good", "bad") = 6 deliveries
    commits: list[int] = []
    hook = engine._mark_delivered_chunk

    def counting(session: Any) -> None:
        commits.append(1)
        hook(session)

    monkeypatch.setattr(engine, "_mark_delivered_chunk", counting)
    assert deliver_pending(app).delivered == 6
    assert len(commits) == transactions
    assert {(d.status, d.attempts) for d in deliveries(app)} == {("delivered", 1)}


@pytest.mark.parametrize("value", ["0", "1001"])
def test_claim_chunk_out_of_range_is_refused(value):
    with pytest.raises(ConfigError, match="events.claim_chunk"):
        load_config(DEFAULT_CONFIG, environ={"SHEQU__EVENTS__CLAIM_CHUNK": value})


def test_publish_refuses_unknown_names_and_invalid_payloads(bus_app):
    app = bus_app()
    bus = app.extensions["shequ"].bus
    with app.extensions["shequ"].db.Session() as session:
        with pytest.raises(EventError, match="unknown event"):
            bus.publish(session, "demo.thing.vanished", {"id": 1})
        with pytest.raises(EventError, match="invalid payload"):
            bus.publish(session, THING, {"id": "not a number"})
        with pytest.raises(EventError, match="invalid payload"):
            bus.publish(session, THING, {"id": 1, "surprise": True})  # unknown keys too
        with pytest.raises(EventError, match="invalid payload"):
            bus.publish(session, THING, {})
        assert not session.new  # nothing was added


def test_declaring_or_subscribing_twice_is_refused(bus_app, rec):
    bus = bus_app().extensions["shequ"].bus
    bus._owner = "demo"  # as while the demo plugin's hooks run
    try:
        with pytest.raises(EventError, match="declared twice"):
            bus.declare(THING, ThingSchema, "again")
        with pytest.raises(EventError, match="registered twice"):
            bus.subscribe(THING, rec.handler("good"))
        with pytest.raises(EventError, match="pass name="):
            bus.subscribe(THING, lambda event, session: None)
        # Names: <area>.<entity>.<past-tense verb>, the area being the declaring plugin.
        for bad in ("demo.thing", "Demo.thing.happened", "demo.thing.happened.twice",
                    "demo-x.thing.happened"):
            with pytest.raises(EventError, match="must look like"):
                bus.declare(bad, ThingSchema)
        with pytest.raises(EventError, match="must start with 'demo.'"):
            bus.declare("registry.person.moved", ThingSchema)
    finally:
        bus._owner = "core"
    with pytest.raises(EventError, match="must start with"):
        bus.declare("demo.thing.copied", ThingSchema)  # core may not use a plugin's area
    bus.declare("registry.dwelling.painted", ThingSchema, "core may")
    assert bus.types["registry.dwelling.painted"].owner == "core"


# ------------------------------------------------------------------------------ delivery


def test_each_subscriber_gets_each_matching_event_once(bus_app, rec):
    app = bus_app()
    first = publish(app, THING, id=1)
    second = publish(app, ECHO, id=2)
    stats = deliver_pending(app)
    assert (stats.fanned_out, stats.created, stats.failed) == (2, 3, 0)
    assert sorted((n, e) for n, e, _ in rec.calls) == [
        ("bad", first), ("good", first), ("good", second)]
    rows = deliveries(app)
    assert {(d.event_id, d.subscriber, d.status, d.attempts) for d in rows} == {
        (first, "demo:good", "delivered", 1),
        (first, "demo:bad", "delivered", 1),
        (second, "demo:good", "delivered", 1),
    }
    assert all(d.delivered_at is not None for d in rows)
    assert deliver_pending(app).idle  # nothing is delivered twice
    assert len(rec.calls) == 3


def test_failing_subscriber_backs_off_then_goes_dead_without_blocking_others(bus_app, rec):
    app = bus_app()  # max_attempts=3, base 10 s, cap 15 s
    bus = app.extensions["shequ"].bus
    rec.fail.add("bad")
    dead_signals: list[tuple[str, str]] = []

    def on_dead(sender: Any, event: Event, subscriber: str, error: str) -> None:
        dead_signals.append((subscriber, error))

    event_dead_lettered.connect(on_dead, sender=bus)
    try:
        event_id = publish(app, id=7)
        t0 = utcnow()
        stats = deliver_pending(app)
        assert (stats.delivered, stats.failed, stats.dead) == (1, 1, 0)
        (bad,) = deliveries(app, "demo:bad")
        assert (bad.status, bad.attempts) == ("pending", 1)
        assert bad.last_error == "RuntimeError: bad is broken"
        delay = (bad.next_attempt_at - t0).total_seconds()
        assert 10.0 - 1 <= delay <= 11.0 + 1  # base * 2**0, plus at most 10 % jitter

        assert deliver_pending(app).idle  # not due yet: nothing is attempted
        assert rec.count("bad") == 1

        t1 = t0 + timedelta(seconds=12)
        assert deliver_pending(app, now=t1).failed == 1
        (bad,) = deliveries(app, "demo:bad")
        assert (bad.status, bad.attempts) == ("pending", 2)
        assert (bad.next_attempt_at - t1).total_seconds() == pytest.approx(15.0)  # capped

        t2 = t1 + timedelta(seconds=16)
        assert deliver_pending(app, now=t2).dead == 1
        (bad,) = deliveries(app, "demo:bad")
        assert (bad.status, bad.attempts) == ("dead", 3)
        assert [attempt for n, _, attempt in rec.calls if n == "bad"] == [1, 2, 3]
        assert deliver_pending(app, now=t2 + timedelta(days=1)).idle  # dead stays dead
        assert dead_signals == [("demo:bad", "RuntimeError: bad is broken")]
    finally:
        event_dead_lettered.disconnect(on_dead, sender=bus)
    (good,) = deliveries(app, "demo:good")
    assert (good.event_id, good.status, good.attempts) == (event_id, "delivered", 1)
    assert rec.count("good") == 1


def test_retry_dead_redelivers(bus_app, rec):
    app = bus_app(max_attempts=1)
    kernel = app.extensions["shequ"]
    rec.fail.add("bad")
    publish(app, id=1)
    publish(app, id=2)
    assert deliver_pending(app).dead == 2
    rec.fail.clear()
    with kernel.db.session_scope() as session:
        first_dead = deliveries(app, "demo:bad")[0].id
        assert retry_dead(session, ids=[first_dead]) == 1
    assert deliver_pending(app).delivered == 1
    with kernel.db.session_scope() as session:
        assert retry_dead(session, subscriber="demo:good") == 0  # nothing dead there
        assert retry_dead(session) == 1
    assert deliver_pending(app).delivered == 1
    bad = deliveries(app, "demo:bad")
    assert [(d.status, d.attempts) for d in bad] == [("delivered", 1), ("delivered", 1)]
    assert rec.count("bad") == 4


def test_handler_writes_and_delivered_mark_commit_together(bus_app, rec, monkeypatch):
    app = bus_app(echo=True, backoff_base_seconds=0.0)
    kernel = app.extensions["shequ"]
    publish(app, id=5)

    # 1. The chunk's transaction fails after the handlers ran: neither the handler's
    #    write (its echoed event) nor the delivered marks survive.
    def broken(session: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(engine, "_mark_delivered_chunk", broken)
    with pytest.raises(RuntimeError, match="went away"):
        deliver_pending(app)
    assert outbox_names(app) == [THING]
    assert {(d.status, d.attempts) for d in deliveries(app)} == {("pending", 0)}
    monkeypatch.undo()

    # 2. The handler itself fails after writing: its savepoint is rolled back, the
    #    other subscribers' deliveries in the same transaction still commit.
    rec.fail.add("echo")
    stats = run_once(kernel.db, kernel.bus)
    assert (stats.delivered, stats.failed) == (2, 1)
    assert outbox_names(app) == [THING]
    (echo,) = deliveries(app, "echo:echo")
    assert (echo.status, echo.attempts) == ("pending", 1)

    # 3. It succeeds: its write and its delivered mark are there together.
    rec.fail.clear()
    deliver_pending(app, now=utcnow() + timedelta(seconds=1))
    assert outbox_names(app) == [THING, ECHO]
    (echo,) = deliveries(app, "echo:echo")
    assert (echo.status, echo.attempts) == ("delivered", 2)
    # ... and the echoed event was itself delivered to the glob subscriber. (Its handler
    # ran three times: once in the transaction of step 1, which was rolled back, hence
    # "at least once".)
    assert [d.status for d in deliveries(app, "demo:good")] == ["delivered", "delivered"]
    assert rec.count("good") == 3


def test_subscriber_missing_in_this_process_is_left_pending(bus_app, rec):
    app = bus_app()
    kernel = app.extensions["shequ"]
    event_id = publish(app, id=1)
    deliver_pending(app)
    with kernel.db.session_scope() as session:
        session.add(Delivery(event_id=event_id, subscriber="gone:handler"))
    assert deliver_pending(app, now=utcnow() + timedelta(hours=1)).idle
    (gone,) = deliveries(app, "gone:handler")
    assert (gone.status, gone.attempts, gone.last_error) == ("pending", 0, None)
    health = kernel.bus.health()
    assert health["pending"] == 1 and health["dead"] == 0


def test_fan_out_is_idempotent(bus_app):
    app = bus_app()
    kernel = app.extensions["shequ"]
    event_id = publish(app, id=1)
    with kernel.db.session_scope() as session:
        assert engine.fan_out(session, kernel.bus, limit=10) == (1, 2)
    with kernel.db.session_scope() as session:  # a second fan-out finds nothing to do
        assert engine.fan_out(session, kernel.bus, limit=10) == (0, 0)
        session.execute(OutboxEvent.__table__.update().values(fanned_out=False))
    with kernel.db.session_scope() as session:  # even if the flag was lost, no duplicates
        assert engine.fan_out(session, kernel.bus, limit=10) == (1, 0)
    assert sorted(d.subscriber for d in deliveries(app)) == ["demo:bad", "demo:good"]
    assert {d.event_id for d in deliveries(app)} == {event_id}


def test_backoff_grows_exponentially_and_is_capped():
    settings = {"backoff_base_seconds": 2.0, "backoff_max_seconds": 60.0}
    for attempts, expected in [(1, 2.0), (2, 4.0), (3, 8.0), (5, 32.0)]:
        delay = engine.backoff_seconds(attempts, settings)
        assert expected <= delay <= expected * 1.1
    assert engine.backoff_seconds(50, settings) == 60.0
    assert len(engine.describe_error(ValueError("x" * 5000))) == engine.ERROR_MAX_CHARS


# ------------------------------------------------------------------------------ dispatcher


def test_thread_dispatcher_delivers_right_after_commit(bus_app, rec):
    # A poll interval far longer than the test: only the after-commit wake-up can deliver.
    app = bus_app(delivery="thread", poll_interval=60.0)
    kernel = app.extensions["shequ"]
    dispatcher = kernel.bus.dispatcher
    assert dispatcher is not None and not dispatcher.running  # lazy: not in CLI processes
    app.test_client().get("/healthz")  # the first request starts it
    assert dispatcher.running

    delivered = threading.Event()
    seen: list[tuple[str, str]] = []

    def on_delivered(sender: Any, event: Event, subscriber: str) -> None:
        seen.append((event.name, subscriber))
        if len(seen) == 2:
            delivered.set()

    event_delivered.connect(on_delivered, sender=kernel.bus)
    try:
        publish(app, id=1)
        assert delivered.wait(timeout=10), f"not delivered; calls={rec.calls}"
        assert sorted(seen) == [(THING, "demo:bad"), (THING, "demo:good")]

        # After a fork the thread is started afresh (simulated in-process here).
        delivered.clear()
        seen.clear()
        dispatcher.after_fork()
        assert dispatcher.running
        publish(app, id=2)
        assert delivered.wait(timeout=10)
    finally:
        event_delivered.disconnect(on_delivered, sender=kernel.bus)
    kernel.bus.stop()
    assert not dispatcher.running
    assert {d.status for d in deliveries(app)} == {"delivered"}


def test_manual_and_worker_modes_start_no_thread(bus_app):
    assert bus_app().extensions["shequ"].bus.dispatcher is None
    app = bus_app(delivery="worker")
    app.test_client().get("/healthz")
    assert app.extensions["shequ"].bus.dispatcher is None


def test_concurrent_delivery_loops_deliver_each_pair_exactly_once(bus_app, rec):
    """Two delivery loops, each with its own sessions, race over the same slow deliveries.
    PostgreSQL runs them in parallel (SKIP LOCKED); SQLite serialises them (BEGIN
    IMMEDIATE). Either way, every (event, subscriber) pair is handled exactly once."""
    app = bus_app(batch_size=4)
    kernel = app.extensions["shequ"]
    postgres = kernel.db.dialect == "postgresql"
    rec.delay = 0.02
    with kernel.db.session_scope() as session:
        for i in range(24):
            kernel.bus.publish(session, THING, {"id": i})
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            start.wait()
            with app.app_context():
                idle_rounds = 0
                while idle_rounds < 3:
                    stats = run_once(kernel.db, kernel.bus, batch_size=4)
                    idle_rounds = idle_rounds + 1 if stats.idle else 0
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=loop, name=f"loop-{i}") for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    pairs = collections.Counter((name, event_id) for name, event_id, _ in rec.calls)
    assert len(pairs) == 48
    assert set(pairs.values()) == {1}, [p for p, n in pairs.items() if n > 1]
    rows = deliveries(app)
    assert len(rows) == 48
    assert {(d.status, d.attempts) for d in rows} == {("delivered", 1)}
    if postgres:
        assert min(rec.by_thread[t.name] for t in threads) > 0, rec.by_thread
        assert rec.max_in_flight >= 2  # the loops really overlapped
    else:
        assert rec.max_in_flight == 1  # SQLite: one writer at a time


# ------------------------------------------------------------------------------ CLI


def cli(app: Flask, *args: str) -> Any:
    from core.cli import AppContext, main

    ctx = AppContext()
    ctx._app = app
    result = CliRunner().invoke(main, list(args), obj=ctx, catch_exceptions=False)
    return result


def test_cli_lists_and_retries_dead_letters(bus_app, rec):
    app = bus_app(max_attempts=1)
    rec.fail.add("bad")
    event_id = publish(app, id=3)
    deliver_pending(app)

    result = cli(app, "events", "dead")
    assert result.exit_code == 0, result.output
    assert f"{THING} #{event_id} -> demo:bad" in result.output
    assert "last error: RuntimeError: bad is broken" in result.output
    assert "demo:good" not in result.output

    listing = cli(app, "events", "list", "--status", "delivered")
    assert "demo:good" in listing.output and "delivered=1" in listing.output

    assert cli(app, "events", "retry").exit_code == 2  # says which, or refuses
    rec.fail.clear()
    result = cli(app, "events", "retry", "--subscriber", "demo:bad")
    assert result.exit_code == 0 and "1 dead letter(s)" in result.output
    assert "(none)" in cli(app, "events", "dead").output

    result = cli(app, "worker", "--once")
    assert result.exit_code == 0, result.output
    assert "delivered=1" in result.output
    assert {d.status for d in deliveries(app)} == {"delivered"}


def test_cli_types_shows_owner_doc_and_subscribers(bus_app):
    output = cli(bus_app(), "events", "types").output
    assert f"{THING}  [demo]" in output
    assert "A demo thing happened." in output
    assert "payload: id, note" in output
    assert "subscribers: demo:good, demo:bad" in output


def test_worker_command_runs_from_a_config_file(tmp_path):
    """The real ``shequ`` executable with ``SHEQU_CONFIG``: migrate, then one worker pass."""
    config = tmp_path / "shequ.toml"
    config.write_text(
        "[app]\n"
        f'instance_path = "{tmp_path / "instance"}"\n'
        'env = "test"\nsecret_key = "test-secret-key"\ndemo_data = false\n'
        "[events]\ndelivery = \"worker\"\n"
        "[plugins]\nenabled = []\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEQU")}
    env["SHEQU_CONFIG"] = str(config)
    shequ = str(Path(sys.executable).with_name("shequ"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([shequ, *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)

    assert run("db", "upgrade").returncode == 0
    result = run("worker", "--once")
    assert result.returncode == 0, result.stderr
    assert "worker stopped: fanned_out=0" in result.stdout
    result = run("events", "list")
    assert result.returncode == 0 and "pending=0 delivered=0 dead=0" in result.stdout


# ------------------------------------------------------------------------------ admin page


def _dead_letter(app: Flask, error: str = "ValueError: no such resident") -> int:
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        event = OutboxEvent(name="registry.person.moved", payload={"id": 1}, fanned_out=True)
        session.add(event)
        session.flush()
        row = Delivery(event_id=event.id, subscriber="gov_services:on_moved", status="dead",
                       attempts=8, last_error=error)
        session.add(row)
        session.flush()
        return row.id


@pytest.mark.with_plugins()
def test_admin_events_page_requires_permission(app, client, client_as):
    delivery_id = _dead_letter(app)
    assert client.get("/admin/events").status_code == 302  # to the sign-in page
    resident = client_as("resident")
    assert resident.get("/admin/events").status_code == 403

    auditor = client_as("auditor")  # may read, may not retry
    auditor.set_cookie(LANG_COOKIE, "en")
    page = auditor.get("/admin/events")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "ValueError: no such resident" in html
    assert "gov_services:on_moved" in html
    assert "Retry" not in html
    token = csrf_token(auditor, "/admin/events")
    assert auditor.post("/admin/events/retry", data={
        "csrf_token": token, "delivery_id": delivery_id}).status_code == 403

    admin = client_as("admin")
    admin.set_cookie(LANG_COOKIE, "en")
    page = admin.get("/admin/events")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert re.search(r"<caption>[^<]*Deliveries by status", html)
    assert f'<th scope="row">#{delivery_id}</th>' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # strict CSP: no inline script
    assert " style=" not in html and "<style" not in html
    assert admin.post("/admin/events/retry",
                      data={"delivery_id": delivery_id}).status_code == 400  # no CSRF token
    resp = admin.post("/admin/events/retry", data={
        "csrf_token": csrf_token(admin, "/admin/events"), "delivery_id": delivery_id})
    assert resp.status_code == 302
    (row,) = deliveries(app)
    assert (row.status, row.attempts) == ("pending", 0)
    assert "1 deliveries will be retried." in admin.get("/admin/events").get_data(as_text=True)


@pytest.mark.with_plugins()
def test_admin_retry_all(app, client_as):
    for _ in range(3):
        _dead_letter(app)
    admin = client_as("admin")
    resp = admin.post("/admin/events/retry", data={
        "csrf_token": csrf_token(admin, "/admin/events"), "all": "1"})
    assert resp.status_code == 302
    with app.extensions["shequ"].db.Session() as session:
        assert session.scalar(
            select(func.count(Delivery.id)).where(Delivery.status == "pending")) == 3
