"""A test-only plugin for the reliability suite: one event type and three subscribers
whose behaviour the tests control through the database.

* ``probe:record`` writes one row per delivery in the delivery's own transaction (so the
  database shows each (event, subscriber) pair delivered), and appends a line to a log
  file outside any transaction: the log shows every time the handler *ran*, so
  redeliveries after a crash are counted as duplicates instead of hidden;
* ``probe:flaky`` fails its first two attempts of every event, then succeeds;
* ``probe:broken`` fails while ``probe_switch.broken`` is 1 (a bug), and succeeds once the
  test "fixes" it.

Installed by the tests through a ``.dist-info`` directory on ``PYTHONPATH`` (an entry point
in the ``shequ.plugins`` group, exactly as pip would install a real plugin). The tables
are created by the tests (``TABLES``), not by a migration: this plugin never ships.
"""

from __future__ import annotations

import os
from typing import Any

from marshmallow import Schema, fields
from sqlalchemy import text

from core.hookspecs import PluginInfo, hookimpl

info = PluginInfo(id="probe", version="0.0.1", title="Reliability probe",
                  requires_core=">=1.0,<2")

TABLES = (
    "CREATE TABLE IF NOT EXISTS probe_delivery (event_id INTEGER NOT NULL, "
    "subscriber VARCHAR(40) NOT NULL, n INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS probe_attempt (event_id INTEGER NOT NULL, "
    "subscriber VARCHAR(40) NOT NULL)",
    "CREATE TABLE IF NOT EXISTS probe_switch (broken INTEGER NOT NULL)",
)


class Ping(Schema):
    n = fields.Integer(required=True)


@hookimpl
def register_event_types(bus: Any) -> None:
    bus.declare("probe.ping.sent", Ping, "A numbered ping for the reliability suite.")


def _record(event: Any, session: Any, subscriber: str) -> None:
    session.execute(text("INSERT INTO probe_delivery (event_id, subscriber, n) "
                         "VALUES (:e, :s, :n)"),
                    {"e": event.id, "s": subscriber, "n": event.payload["n"]})


def record(event: Any, session: Any) -> None:
    log = os.environ.get("PROBE_LOG")
    if log:  # outside the transaction: every run of the handler, redeliveries included
        with open(log, "a", encoding="ascii") as fh:
            fh.write(f"{event.id}\n")
    _record(event, session, "record")


def flaky(event: Any, session: Any) -> None:
    with session.get_bind().connect() as conn:  # its own transaction: survives the failure
        conn.execute(text("INSERT INTO probe_attempt (event_id, subscriber) VALUES (:e, 'flaky')"),
                     {"e": event.id})
        conn.commit()
        tries = conn.execute(text("SELECT count(*) FROM probe_attempt WHERE event_id = :e "
                                  "AND subscriber = 'flaky'"), {"e": event.id}).scalar()
    if tries <= 2:
        raise RuntimeError(f"flaky: attempt {tries} of event {event.id} fails on purpose")
    _record(event, session, "flaky")


def broken(event: Any, session: Any) -> None:
    if session.execute(text("SELECT broken FROM probe_switch")).scalar():
        raise RuntimeError("broken: this subscriber has a bug until the test fixes it")
    _record(event, session, "broken")


@hookimpl
def register_event_handlers(bus: Any) -> None:
    roles = os.environ.get("PROBE_SUBSCRIBERS", "record").split(",")
    for handler in (record, flaky, broken):
        if handler.__name__ in roles:
            bus.subscribe("probe.ping.sent", handler, name=handler.__name__)
