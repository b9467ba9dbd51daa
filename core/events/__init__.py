"""The event bus: declared events, a transactional outbox, tracked deliveries.

``publish(session, name, payload)`` validates the payload against the declared schema and
adds an outbox row to the caller's session: the event commits or rolls back with the change
that caused it. Delivery happens after commit — by a background thread in the embedded
default, by ``shequ worker`` processes when scaled — see ``core.events.delivery``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError
from sqlalchemy.orm import Session

from core.events.models import Delivery, OutboxEvent

Handler = Callable[["Event", Session], None]


class EventError(ValueError):
    """Publishing was refused: unknown event name or invalid payload."""


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
    """What a subscriber receives."""

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
        if name in self.types:
            raise EventError(f"event {name} is declared twice ({self.types[name].owner})")
        self.types[name] = EventType(name, schema, doc, self._owner)
        self._schemas[name] = schema(unknown=RAISE)

    def subscribe(self, pattern: str, handler: Handler, *, name: str | None = None) -> Subscriber:
        sid = f"{self._owner}:{name or handler.__name__}"
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
        row = OutboxEvent(name=name, payload=self.validate(name, payload))
        session.add(row)
        if self.dispatcher is not None:
            self.dispatcher.notify_on_commit(session)
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

    def stop(self) -> None:
        """Stop background delivery (app shutdown, test teardown)."""
        if self.dispatcher is not None:
            self.dispatcher.stop()

    def after_fork(self) -> None:
        """Called in each gunicorn worker after the fork (threads do not survive a fork)."""
        if self.dispatcher is not None:
            self.dispatcher.after_fork()


__all__ = ["Delivery", "Event", "EventBus", "EventError", "EventType", "OutboxEvent", "Subscriber"]
