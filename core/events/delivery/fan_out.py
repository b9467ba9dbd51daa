"""Fan-out: each committed outbox row becomes one ``Delivery`` row per subscriber whose
pattern matches, and the row is marked ``fanned_out``. The first half of every round."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.db import Database, utcnow
from core.events.delivery.claims import (
    _begin_claim,
    _id_in,
    _insert_ignoring_duplicates,
    _locked,
    _peek,
)
from core.events.delivery.stats import Clock, RunStats
from core.events.models import OutboxEvent

if TYPE_CHECKING:
    from core.events import EventBus


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
