"""Notifications: one service call for core and plugins.

``notify(session, bus, user_id=..., title=..., body=...)`` writes the in-app notification
(the header shows the unread count) and, for each external channel asked for (``sms``,
``email``), records an :class:`OutboundMessage` and publishes ``identity.message.queued``.
Delivery then goes through the event bus — so a gateway outage is retried, never lost —
to the first plugin whose ``send_message`` hook takes that channel. With no gateway
installed the message stays ``recorded``: visible to administrators, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from marshmallow import Schema, fields
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.db import utcnow
from core.identity.models import Notification, OutboundMessage, User

CHANNELS = ("sms", "email")


def notify(
    session: Session,
    bus: Any,
    *,
    user_id: int,
    title: str,
    body: str = "",
    link: str = "",
    kind: str = "info",
    source: str = "core",
    channels: Iterable[str] = (),
) -> Notification:
    note = Notification(
        user_id=user_id,
        title=title[:200],
        body=body,
        link=link[:300],
        kind=kind[:40],
        source=source[:40],
    )
    session.add(note)
    channels = list(channels)
    if channels:
        user = session.get(User, user_id)
        for channel in channels:
            if channel not in CHANNELS:
                raise ValueError(f"unknown channel '{channel}'; use one of {', '.join(CHANNELS)}")
            recipient = user.phone if channel == "sms" and user is not None else ""
            if not recipient:
                continue  # no address for this channel: the in-app notification stands
            msg = OutboundMessage(
                channel=channel,
                user_id=user_id,
                recipient=recipient,
                subject=title[:200],
                body=body or title,
            )
            session.add(msg)
            session.flush()
            bus.publish(
                session, "identity.message.queued", {"message_id": msg.id, "channel": channel}
            )
    session.flush()
    return note


def queue_message(
    session: Session,
    bus: Any,
    *,
    channel: str,
    recipient: str,
    template: str,
    params: dict[str, Any] | None = None,
    locale: str = "zh",
    user_id: int | None = None,
) -> OutboundMessage:
    """Record a templated message for ``recipient`` on ``channel`` and publish
    ``identity.message.queued``, so the sender delivers it after commit and retries a
    failed send. The subject and body are rendered now, in ``locale`` (the recipient's
    language), from :mod:`core.identity.messages`; the template name and parameters are
    kept for providers that send by template (SMS)."""
    from core.identity.messages import render

    if channel not in CHANNELS:
        raise ValueError(f"unknown channel '{channel}'; use one of {', '.join(CHANNELS)}")
    subject, body = render(template, params or {}, locale)
    msg = OutboundMessage(
        channel=channel, user_id=user_id, recipient=recipient, subject=subject[:200],
        body=body, template=template, params=dict(params or {}), locale=locale,
        status="queued",
    )
    session.add(msg)
    session.flush()
    bus.publish(session, "identity.message.queued", {"message_id": msg.id, "channel": channel})
    return msg


def unread_count(session: Session, user_id: int) -> int:
    return (
        session.scalar(
            select(func.count(Notification.id)).where(
                Notification.user_id == user_id, Notification.read_at.is_(None)
            )
        )
        or 0
    )


def notifications_for(user_id: int) -> Any:
    return (
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    )


def mark_read(session: Session, user_id: int, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (all of them when ``ids`` is None). Ids of other
    users' notifications are ignored, not an error: the filter is the object check."""
    query = update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    if ids is not None:
        query = query.where(Notification.id.in_(list(ids)))
    return session.execute(query.values(read_at=utcnow())).rowcount or 0


class MessageQueued(Schema):
    message_id = fields.Integer(required=True)
    channel = fields.String(required=True)


def make_sender(host: Any) -> Any:
    """The subscriber that hands a queued message to the channel's gateway plugin."""

    def deliver_message(event: Any, session: Session) -> None:
        msg = session.get(OutboundMessage, event.payload["message_id"])
        if msg is None or msg.status == "sent":
            return
        for pid, call in host.each_impl("send_message"):
            taken = call(
                channel=msg.channel, recipient=msg.recipient, subject=msg.subject, body=msg.body
            )
            if taken:
                msg.status = "sent"
                msg.sent_by = pid
                return
        msg.status = "recorded"

    return deliver_message
