"""The event bus: declared events, a transactional outbox, tracked deliveries.

``publish(session, name, payload)`` validates the payload against the declared schema and
adds an outbox row to the caller's session: the event commits or rolls back with the change
that caused it. Delivery happens after commit — by a background thread in the embedded
default, by ``shequ worker`` processes when scaled — see ``core.events.delivery`` and
docs/events.md. In-process observers use the blinker signals in ``core.events.signals``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError
from sqlalchemy.orm import Session

from core.events.models import Delivery, OutboxEvent

Handler = Callable[["Event", Session], None]

#: ``<area>.<entity>.<past-tense verb>``, e.g. ``registry.person.moved``.
EVENT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
#: The areas core may publish under; a plugin publishes under its own id only.
CORE_AREAS = frozenset({"core", "identity", "registry", "events", "audit"})


class EventError(ValueError):
    """Refused at once, in the caller: an unknown event name or invalid payload at
    ``publish``, a badly named or duplicate declaration, a duplicate subscriber. Failing
    here rather than in a worker later keeps the mistake next to the code that made it."""


@dataclass(frozen=True)
class EventType:
    name: str
    schema: type[Schema]
    doc: str
    owner: str


@dataclass(frozen=True)
class Subscriber:
    id: str  # stable across processes: "<owner>:<name>"
    pattern: str  # an event name, or a glob such as "registry.person.*"
    handler: Handler
    owner: str

    def matches(self, event_name: str) -> bool:
        return fnmatch.fnmatchcase(event_name, self.pattern)


@dataclass(frozen=True)
class Event:
    """What a subscriber receives: the outbox ``id`` (a handle for idempotency), ``name``,
    a private copy of the ``payload``, ``created_at`` (UTC) and the ``attempt`` number."""

    id: int
    name: str
    payload: dict[str, Any]
    created_at: Any
    attempt: int = 1


class EventBus:
    def __init__(self, db: Any, settings: dict[str, Any]) -> None:
        self.db = db
        self.settings = settings
        self.types: dict[str, EventType] = {}
        self.subscribers: dict[str, Subscriber] = {}
        self._schemas: dict[str, Schema] = {}
        self._owner = "core"
        self.dispatcher: Any = None

    # ------------------------------------------------------------------ declaration

    def declare(self, name: str, schema: type[Schema], doc: str = "") -> None:
        """Declare an event the current owner publishes. The name says who publishes it
        (its first segment is the plugin id, or a core area), so names never collide and a
        reader of the outbox knows whom to ask."""
        if not EVENT_NAME_RE.match(name) or len(name) > 120:
            raise EventError(
                f"event name '{name}' must look like '<area>.<entity>.<past-tense verb>' "
                "(lowercase letters, digits and '_', at most 120 characters)"
            )
        area = name.split(".", 1)[0]
        allowed = CORE_AREAS if self._owner == "core" else {self._owner}
        if area not in allowed:
            prefixes = " or ".join(f"'{a}.'" for a in sorted(allowed))
            raise EventError(f"{self._owner}: event '{name}' must start with {prefixes}")
        if name in self.types:
            raise EventError(f"event {name} is declared twice ({self.types[name].owner})")
        self.types[name] = EventType(name, schema, doc, self._owner)
        self._schemas[name] = schema(unknown=RAISE)

    def subscribe(self, pattern: str, handler: Handler, *, name: str | None = None) -> Subscriber:
        """Subscribe ``handler(event, session)`` to an event name or a glob. The subscriber
        id ``<owner>:<name>`` is what delivery rows store, so it must stay the same across
        processes and releases: renaming a handler orphans its pending deliveries."""
        local = name or getattr(handler, "__name__", "")
        if not local or local.startswith("<"):
            raise EventError(f"{self._owner}: pass name= for this handler (it has no stable name)")
        sid = f"{self._owner}:{local}"
        if len(sid) > 200:
            raise EventError(f"subscriber id {sid[:40]}... is longer than 200 characters")
        if sid in self.subscribers:
            raise EventError(f"subscriber {sid} is registered twice; give it a distinct name")
        sub = Subscriber(sid, pattern, handler, self._owner)
        self.subscribers[sid] = sub
        return sub

    def subscribers_for(self, event_name: str) -> list[Subscriber]:
        return [s for s in self.subscribers.values() if s.matches(event_name)]

    # ------------------------------------------------------------------ publishing

    def validate(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        schema = self._schemas.get(name)
        if schema is None:
            raise EventError(f"unknown event '{name}': declare it in register_event_types")
        try:
            return schema.dump(schema.load(payload))
        except ValidationError as exc:
            raise EventError(f"invalid payload for '{name}': {exc.messages}") from None

    def publish(self, session: Session, name: str, payload: dict[str, Any]) -> OutboxEvent:
        """Add the event to ``session``'s transaction. Nothing is delivered until commit."""
        from core.events.delivery import track_published

        row = OutboxEvent(name=name, payload=self.validate(name, payload))
        session.add(row)
        # After commit: the ``event_published`` signal, and an immediate wake-up of the
        # embedded dispatcher instead of waiting for its next poll.
        track_published(self, session, name)
        return row

    # ------------------------------------------------------------------ wiring

    def init_app(self, app: Any, kernel: Any) -> None:
        from core.events import delivery

        for hook in ("register_event_types", "register_event_handlers"):
            for pid, call in kernel.plugins.each_impl(hook):
                self._owner = pid
                try:
                    call(bus=self)
                finally:
                    self._owner = "core"
        delivery.init_app(app, kernel, self)

    def health(self) -> dict[str, Any]:
        """Outbox lag for /healthz: how many events wait, and how old the oldest is."""
        from sqlalchemy import func, select

        with self.db.Session() as session:
            waiting, oldest = session.execute(
                select(func.count(Delivery.id), func.min(Delivery.next_attempt_at)).where(
                    Delivery.status == "pending"
                )
            ).one()
            unfanned = session.scalar(
                select(func.count(OutboxEvent.id)).where(OutboxEvent.fanned_out.is_(False))
            )
            dead = session.scalar(select(func.count(Delivery.id)).where(Delivery.status == "dead"))
        return {"ok": True, "pending": waiting + unfanned, "dead": dead,
                "oldest_pending": oldest.isoformat() if oldest else None}

    def wake(self) -> None:
        """Ask the embedded dispatcher (if any) to deliver now, e.g. after a retry."""
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def stop(self) -> None:
        """Stop background delivery (app shutdown, test teardown)."""
        if self.dispatcher is not None:
            self.dispatcher.stop()

    def after_fork(self) -> None:
        """Called in each gunicorn worker after the fork (threads do not survive a fork)."""
        if self.dispatcher is not None:
            self.dispatcher.after_fork()


__all__ = ["Delivery", "Event", "EventBus", "EventError", "EventType", "OutboxEvent", "Subscriber"]
