"""The transactional outbox and per-subscriber delivery tracking."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow

_BigId = BigInteger().with_variant(Integer(), "sqlite")


class OutboxEvent(Base):
    """One published event. Written in the publisher's transaction, so it exists if and
    only if the change that caused it committed."""

    __tablename__ = "events_outbox"
    __table_args__ = (Index("ix_events_outbox_pending", "fanned_out", "id"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: True once a delivery row exists for every subscriber known at fan-out time.
    fanned_out: Mapped[bool] = mapped_column(Boolean, default=False)


class Delivery(Base):
    """One (event, subscriber) pair: delivered at least once, retried with back-off, or
    parked as ``dead`` after ``events.max_attempts`` without holding up the others."""

    __tablename__ = "events_delivery"
    __table_args__ = (
        UniqueConstraint("event_id", "subscriber"),
        Index("ix_events_delivery_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("events_outbox.id", ondelete="CASCADE"), index=True
    )
    subscriber: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
