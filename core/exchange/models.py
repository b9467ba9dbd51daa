"""Exchange tables: the external systems allowed to receive data, and each webhook sent.

Both are core tables (``core_`` prefix, core's migration tree): exchange is part of the
kernel, because what leaves the platform must be decided in one place, whichever plugins
are enabled.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow

_BigId = BigInteger().with_variant(Integer(), "sqlite")


class ExchangeClient(Base):
    """An external system (a department's application) registered by an administrator.

    What it may receive is the intersection of ``event_types`` (exact declared names) and
    ``scopes`` (registry data scopes, ``core.registry.scopes``): minimum necessary, granted
    by the data owner. The HMAC ``secret`` must be readable to sign webhooks, so it is stored
    as is and shown only once; the pull-feed token is stored as its SHA-256 only.
    """

    __tablename__ = "core_exchange_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    contact: Mapped[str] = mapped_column(String(200), default="")
    #: active | suspended
    status: Mapped[str] = mapped_column(String(16), default="active")
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    callback_url: Mapped[str | None] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(128))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: After a rotation the old secret still signs (a second signature) until
    #: ``previous_secret_until``, so the receiver can switch without losing webhooks.
    previous_secret: Mapped[str | None] = mapped_column(String(128))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    suspended_reason: Mapped[str | None] = mapped_column(String(200))
    #: The newest outbox event id when the client was registered: its feed, webhooks and
    #: replays start after it, so a new client gets no history. Lowered only by a logged
    #: backfill grant (``services.grant_backfill``). None (clients registered before this
    #: rule): no limit.
    feed_start: Mapped[int | None] = mapped_column(_BigId)

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class ExchangeDelivery(Base):
    """One webhook: event ``event_id`` for client ``client_id``.

    Sending rides on the event bus: each row has its own ``core.webhook.queued`` outbox
    event (``queue_event_id``), so retries, back-off, dead letters and redelivery are the
    bus's (its ``events_delivery`` row for subscriber ``core:exchange_webhook`` holds the
    attempts and last error). This row keeps what the bus does not know: for whom, what
    answer the receiver gave, and whether it was cancelled (client suspended or narrowed).
    """

    __tablename__ = "core_exchange_delivery"
    __table_args__ = (Index("ix_core_exchange_delivery_client", "client_id", "id"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("core_exchange_client.id", ondelete="CASCADE")
    )
    event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    event_name: Mapped[str] = mapped_column(String(120))
    queue_event_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), index=True
    )
    #: queued | delivered | cancelled (final outcomes; failures are on the bus delivery)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    response_status: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Set when an administrator asked for this event again: the earlier row's id, or 0
    #: for a range replay (``shequ exchange replay``).
    replay_of: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
