"""What the event bus hands around: events, subscribers, declarations, its error.

Plain values with no behaviour beyond matching, in a module of their own so that the
delivery engine (``core.events.delivery``), which the bus calls, can build :class:`Event`
without importing the bus back (tests/core/test_layering.py forbids import cycles).
Import them from ``core.events`` (or, in plugins, ``core.toolkit``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema
from sqlalchemy.orm import Session

Handler = Callable[["Event", Session], None]

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


@dataclass(frozen=True)
class PublishedEvent:
    """What ``publish`` returns: the outbox row's ``id`` (already assigned, no flush needed),
    the ``name``, the validated ``payload`` as stored, and ``created_at`` (UTC)."""

    id: int
    name: str
    payload: dict[str, Any]
    created_at: Any


__all__ = ["Event", "EventError", "EventType", "Handler", "PublishedEvent", "Subscriber"]
