"""Dead letters and listings: what the admin page (``core.events.views``) and the
``shequ events`` commands read and do. Queries over the delivery table, no delivery."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.db import utcnow
from core.events.models import Delivery, OutboxEvent


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
