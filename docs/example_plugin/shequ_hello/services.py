"""The plugin's rules: plain functions over a session, no Flask. The page, the API, the CLI,
the demo seeder and the event handler all call these."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from core.toolkit import utcnow
from shequ_hello.models import Greeting

MAX_RECIPIENT, MAX_MESSAGE = 100, 500


class GreetingError(ValueError):
    """A rule was broken; ``field`` names the input it concerns."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def create_greeting(
    session: Session, *, sender_id: int | None, recipient: str, message: str
) -> Greeting:
    """Check and store a greeting (flushed, not committed). No event: see send_greeting."""
    recipient = _checked_text(recipient, "recipient", MAX_RECIPIENT, multiline=False)
    message = _checked_text(message, "message", MAX_MESSAGE, multiline=True)
    if not recipient:
        raise GreetingError("say whom the greeting is for", "recipient")
    if not message:
        raise GreetingError("the message is empty", "message")
    greeting = Greeting(sender_id=sender_id, recipient=recipient, message=message)
    session.add(greeting)
    session.flush()  # assigns the id the event carries
    return greeting


def _checked_text(value: str, field: str, limit: int, *, multiline: bool) -> str:
    """Stripped text, refusing what no database column should hold: control characters
    (PostgreSQL rejects NUL outright) and unpaired surrogates (which cannot be encoded).
    ``schemas.TEXT`` and ``schemas.LINE`` state the rule for the API."""
    value = value.strip()
    allowed = "\n\r\t" if multiline else ""
    for ch in value:
        code = ord(ch)
        if (code < 32 and ch not in allowed) or code == 127 or 0xD800 <= code <= 0xDFFF:
            raise GreetingError("contains a character that is not allowed", field)
    if len(value) > limit:
        raise GreetingError(f"at most {limit} characters", field)
    return value


def send_greeting(
    session: Session, bus: Any, *, sender_id: int | None, recipient: str, message: str
) -> Greeting:
    """Store a greeting and publish ``hello.greeting.sent`` in the same transaction: the
    caller commits, and the event exists exactly when the greeting does."""
    greeting = create_greeting(session, sender_id=sender_id, recipient=recipient, message=message)
    bus.publish(
        session,
        "hello.greeting.sent",
        {"greeting_id": greeting.id, "sender_id": sender_id, "recipient": greeting.recipient},
    )
    return greeting


def greetings_query() -> Select[tuple[Greeting]]:
    """Newest first; the API paginates it, the page takes the first few."""
    return select(Greeting).order_by(Greeting.id.desc())


def recent_greetings(session: Session, limit: int = 20) -> list[Greeting]:
    return list(session.scalars(greetings_query().limit(limit)))


def count_greetings(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Greeting)) or 0


def mark_delivered(event: Any, session: Session) -> None:
    """Subscriber of ``hello.greeting.sent``. Delivery is at least once, so this is
    idempotent: a second delivery of the same event changes nothing."""
    greeting = session.get(Greeting, event.payload["greeting_id"])
    if greeting is not None and greeting.delivered_at is None:
        greeting.delivered_at = utcnow()
