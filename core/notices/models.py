"""Notices to many residents and their per-recipient deliveries.

A :class:`Notice` names its audience by kind and place (a building by id, a grid or a
community by code) plus, for a thematic group, registry criteria within a community.
Sending writes one :class:`NoticeDelivery` per account and channel at once — in-app always,
SMS and e-mail when the account has a proved address — so the delivery report can say, for
everyone the notice was meant for, what happened: sent, failed, no channel, opted out.
The counts are kept on the notice (``counts``) so the progress bar reads one row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow

URGENCIES = ("normal", "urgent")
AUDIENCE_KINDS = ("building", "grid", "community", "group")
NOTICE_STATUSES = ("draft", "sending", "done")
DELIVERY_CHANNELS = ("inapp", "sms", "email")
DELIVERY_STATUSES = ("pending", "sent", "failed", "no_channel", "opted_out")


class Notice(Base):
    __tablename__ = "core_notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    urgency: Mapped[str] = mapped_column(String(8), default="normal")  # normal | urgent
    #: building | grid | community | group (criteria within a community)
    audience_kind: Mapped[str] = mapped_column(String(16))
    #: The community or grid code (a group: its community's code); "" for a building.
    audience_code: Mapped[str] = mapped_column(String(32), default="")
    #: The building's id (building audiences only).
    audience_id: Mapped[int | None] = mapped_column(Integer)
    #: A group's registry criteria: ``{"age_band": "elder", "sex": "F"}``.
    criteria: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The place's name when sent, for lists and the report (places are renamed).
    audience_label: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(Integer, index=True)
    created_by_name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | sending | done
    #: Residents and accounts the audience resolved to when sent.
    residents: Mapped[int] = mapped_column(Integer, default=0)
    accounts: Mapped[int] = mapped_column(Integer, default=0)
    #: Deliveries in all, and those handled so far (progress: ``done`` of ``total``).
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)


class NoticeDelivery(Base):
    """One account on one channel. ``message_id`` is the outbox row (SMS, e-mail) whose
    own status says whether the gateway took it."""

    __tablename__ = "core_notice_delivery"
    __table_args__ = (UniqueConstraint("notice_id", "user_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(
        ForeignKey("core_notice.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    person_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(8))  # inapp | sms | email
    #: pending | sent | failed | no_channel | opted_out
    status: Mapped[str] = mapped_column(String(16), default="pending")
    message_id: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
