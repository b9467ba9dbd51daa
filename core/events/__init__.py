"""The event bus: declared events, a transactional outbox, tracked deliveries.

``publish(session, name, payload)`` validates the payload against the declared schema and
adds an outbox row to the caller's session: the event commits or rolls back with the change
that caused it. Delivery happens after commit — by a background thread in the embedded
default, by ``shequ worker`` processes when scaled — see ``core.events.delivery`` and
docs/events.md. In-process observers use the blinker signals in ``core.events.signals``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, missing
from sqlalchemy import insert
from sqlalchemy.orm import Session

from core.db import utcnow
from core.events.models import Delivery, OutboxEvent
from core.events.types import (
    Event,
    EventError,
    EventType,
    Handler,
    PublishedEvent,
    Subscriber,
)

#: ``<area>.<entity>.<past-tense verb>``, e.g. ``registry.person.moved``.
EVENT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
#: The areas core may publish under; a plugin publishes under its own id only.
CORE_AREAS = frozenset({"core", "identity", "registry", "events", "audit"})


#: Built once (its compiled form is cached). No explicit RETURNING: SQLAlchemy reports the
#: new id through ``inserted_primary_key`` the cheapest way the dialect allows
#: (``cursor.lastrowid`` on SQLite, an implicit ``RETURNING id`` on PostgreSQL).
_INSERT_OUTBOX = insert(OutboxEvent.__table__)
#: Which engine the session uses for the outbox (matters only if a session has several binds).
_OUTBOX_BIND = {"mapper": OutboxEvent}


#: Field types whose ``load`` result is already what their ``dump`` would produce (plain
#: JSON scalars). Exact types: a subclass (``Email``, ``Url``...) may convert.
_IDENTITY_FIELDS = (fields.String, fields.Integer, fields.Float, fields.Boolean)


def _field_is_identity(field: fields.Field) -> bool:
    if field.data_key is not None or field.attribute is not None:
        return False  # load and dump would rename the key
    if field.load_only or field.dump_only or field.dump_default is not missing:
        return False  # dump would drop or add the value
    if type(field) in _IDENTITY_FIELDS:
        return not getattr(field, "as_string", False)
    if type(field) is fields.List:
        return _field_is_identity(field.inner)
    return False


def _dump_is_identity(schema: Schema) -> bool:
    """True when ``schema.dump(schema.load(p)) == schema.load(p)`` for every valid ``p``:
    no hooks, and only plain JSON scalar fields (or lists of them) under their own names.
    Most event payloads are ids and codes, and the dump was a third of ``validate``;
    schemas with dates, nested schemas or renamed keys still get the dump."""
    if any(schema._hooks.values()):
        return False
    return all(_field_is_identity(f) for f in schema.fields.values())


#: Python types a field accepts unchanged on the fast path (:func:`_plain_loader`): exactly
#: these, so ``True`` is not taken for an Integer nor ``b"x"`` for a String.
_PLAIN_TYPES: dict[type[fields.Field], type] = {
    fields.String: str,
    fields.Integer: int,
    fields.Boolean: bool,
}

Loader = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def _plain_loader(schema: Schema) -> Loader | None:
    """A shortcut for ``schema.load`` on schemas of plain String/Integer/Boolean fields
    without validators (most event payloads: ids and codes), or None if the schema has
    anything else. The loader returns the loaded payload when every value already has its
    field's exact type (what marshmallow would return unchanged), and None for anything
    else — a missing required field, an unknown key, a string where an int belongs —
    which the caller then hands to marshmallow for its conversion or its error message.
    marshmallow's own load is most of ``publish``'s Python time."""
    if not _dump_is_identity(schema):
        return None
    spec: list[tuple[str, type, bool, bool, Any]] = []
    for key, field in schema.load_fields.items():
        kind = _PLAIN_TYPES.get(type(field))
        if kind is None or field.validators:
            return None
        spec.append((key, kind, field.required, field.allow_none, field.load_default))
    known = frozenset(key for key, *_ in spec)

    def load(payload: dict[str, Any]) -> dict[str, Any] | None:
        if type(payload) is not dict or not known.issuperset(payload):
            return None
        out: dict[str, Any] = {}
        for key, kind, required, allow_none, default in spec:
            if key in payload:
                value = payload[key]
                if type(value) is not kind and not (value is None and allow_none):
                    return None
                out[key] = value
            elif required:
                return None
            elif default is not missing:
                out[key] = default() if callable(default) else default
        return out

    return load


class EventBus:
    def __init__(self, db: Any, settings: dict[str, Any]) -> None:
        self.db = db
        self.settings = settings
        self.types: dict[str, EventType] = {}
        self.subscribers: dict[str, Subscriber] = {}
        self._schemas: dict[str, Schema] = {}
        #: Events whose schema's ``dump`` would return what ``load`` gave (see
        #: :func:`_dump_is_identity`): ``validate`` skips the dump for them.
        self._load_only: set[str] = set()
        #: Fast loaders for schemas of plain fields (:func:`_plain_loader`).
        self._plain: dict[str, Loader] = {}
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
        instance = schema(unknown=RAISE)
        self._schemas[name] = instance
        if _dump_is_identity(instance):
            self._load_only.add(name)
        loader = _plain_loader(instance)
        if loader is not None:
            self._plain[name] = loader

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
        """The payload as stored: loaded (checked, converted) and dumped by the declared
        schema, or :class:`EventError`."""
        plain = self._plain.get(name)
        if plain is not None:
            loaded = plain(payload)
            if loaded is not None:
                return loaded
        schema = self._schemas.get(name)
        if schema is None:
            raise EventError(f"unknown event '{name}': declare it in register_event_types")
        try:
            loaded = schema.load(payload)
            return loaded if name in self._load_only else schema.dump(loaded)
        except ValidationError as exc:
            raise EventError(f"invalid payload for '{name}': {exc.messages}") from None

    def publish(self, session: Session, name: str, payload: dict[str, Any]) -> PublishedEvent:
        """Write the event to ``session``'s transaction. Nothing is delivered until commit.

        The outbox row is inserted at once with a Core ``INSERT`` on the session's
        connection rather than added to the session: the row is never read back through
        the ORM, and a unit-of-work flush per event cost as much as the rest of the publish.
        It is in the same transaction (and savepoint) as the caller's changes, so it still
        commits or rolls back with them. Returns the id, name, validated payload and
        timestamp, for callers that keep a handle on the event (``id``)."""
        from core.events.delivery import track_published

        clean = self.validate(name, payload)
        created_at = utcnow()
        event_id = (
            session.connection(bind_arguments=_OUTBOX_BIND)
            .execute(_INSERT_OUTBOX, {"name": name, "payload": clean, "created_at": created_at,
                                      "fanned_out": False})
            .inserted_primary_key[0]
        )
        # After commit: the ``event_published`` signal, and an immediate wake-up of the
        # embedded dispatcher instead of waiting for its next poll.
        track_published(self, session, name)
        return PublishedEvent(event_id, name, clean, created_at)

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


__all__ = [
    "Delivery",
    "Event",
    "EventBus",
    "EventError",
    "EventType",
    "OutboxEvent",
    "PublishedEvent",
    "Subscriber",
]
