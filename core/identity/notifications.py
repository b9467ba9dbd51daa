"""Notifications: one service call for core and plugins.

``notify(session, bus, user_id=..., title=..., body=...)`` writes the in-app notification
(the header shows the unread count) and, for each external channel asked for (``sms``,
``email``), queues a templated :class:`OutboundMessage` in the recipient's language and
publishes ``identity.message.queued``. Delivery then goes through the event bus — so a
gateway outage is retried, never lost — to the channel ``[messaging]`` configures for the
medium (console, SMTP, Aliyun SMS, or a ``send_message`` plugin; core/identity/channels/).
Every message stays in the outbox with its status (recorded, queued, sent, failed), its
attempts and its error: visible to administrators, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import Schema, fields
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.db import utcnow
from core.identity.models import Notification, OneTimeCode, OutboundMessage, User

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
    """Write the in-app notification and, for each of ``channels``, queue the ``notice``
    message in the user's language (``User.locale``, else the site's default): SMS to the
    account's phone, e-mail to its address once proved (``email_verified_at``). A channel
    the account has no address for is skipped; the in-app notification stands."""
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
    for channel in channels:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel '{channel}'; use one of {', '.join(CHANNELS)}")
    user = session.get(User, user_id) if channels else None
    if user is not None:
        locale = user.locale or _default_locale()
        for channel in channels:
            if channel == "sms":
                recipient = user.phone or ""
            else:
                recipient = (user.email or "") if user.email_verified_at else ""
            if not recipient:
                continue  # no address for this channel: the in-app notification stands
            queue_message(
                session, bus, channel=channel, recipient=recipient, template="notice",
                params={"title": title[:200], "body": body or title}, locale=locale,
                user_id=user_id,
            )
    session.flush()
    return note


def _default_locale() -> str:
    try:
        from core.current import current_kernel

        return str(current_kernel().config.app.get("default_locale") or "zh")
    except (RuntimeError, AttributeError):  # outside an app: the project's default
        return "zh"


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


def mark_linked_read(session: Session, user_id: int, paths: Iterable[str]) -> int:
    """Mark read the user's unread notifications that link to one of ``paths``: opening
    the page a notification points to is reading it (a resident told "your application is
    approved" who opens the application should not find it still "new"). A read first, so
    the common case (nothing unread links here) writes nothing."""
    paths = [p[:300] for p in paths if p]
    ids = list(session.scalars(select(Notification.id).where(
        Notification.user_id == user_id, Notification.read_at.is_(None),
        Notification.link.in_(paths))))
    return mark_read(session, user_id, ids) if ids else 0


#: Up to this many unread notifications are read in full when a page opens; beyond it the
#: badge is counted and the linked ones looked up, as before.
_UNREAD_IN_FULL = 200


def read_on_open(session: Session, user_id: int, paths: Iterable[str]) -> tuple[int, int | None]:
    """What opening a page does to the user's notifications, in one statement for the
    usual account: mark read the unread ones linking to ``paths`` (as
    :func:`mark_linked_read`) and return ``(marked, unread left)``, so the header's badge
    needs no COUNT of its own. ``unread left`` is ``None`` when the account holds more than
    ``_UNREAD_IN_FULL`` unread (then the badge counts them itself)."""
    wanted = {p[:300] for p in paths if p}
    rows = session.execute(
        select(Notification.id, Notification.link)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .limit(_UNREAD_IN_FULL + 1)
    ).all()
    if len(rows) > _UNREAD_IN_FULL:
        return mark_linked_read(session, user_id, wanted), None
    ids = [row.id for row in rows if row.link in wanted]
    marked = mark_read(session, user_id, ids) if ids else 0
    return marked, len(rows) - len(ids)


class MessageQueued(Schema):
    message_id = fields.Integer(required=True)
    channel = fields.String(required=True)


def _code_still_good(session: Session, msg: OutboundMessage) -> bool:
    """Whether the one-time code in ``msg`` can still be used: not expired, not spent and
    not replaced by a newer one. A code that cannot is not worth a message."""
    otp = session.scalar(select(OneTimeCode).where(OneTimeCode.message_id == msg.id))
    if otp is None:
        return True  # a code message not from core.identity.otp: send it as it is
    return otp.consumed_at is None and _aware(otp.expires_at) > utcnow()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _forget_code(msg: OutboundMessage) -> None:
    """Blank the code of an ``otp`` message (its parameter and its text): the outbox
    keeps that a code was sent, never a usable one."""
    from core.identity.messages import masked

    if msg.template != "otp":
        return
    params = dict(msg.params or {})
    params["code"] = ""
    msg.params = params
    subject, body = masked(msg.template, params, msg.locale or "zh")
    msg.subject, msg.body = subject[:200], body


def _over_rate(session: Session, msg: OutboundMessage, per_hour: int) -> bool:
    """Whether ``msg``'s recipient already had ``per_hour`` messages (codes aside) on this
    medium in the last hour. Counted from the outbox itself, so every process and host
    sees the same count and nothing is counted twice when a send is retried."""
    since = utcnow() - timedelta(hours=1)
    sent = session.scalar(
        select(func.count(OutboundMessage.id)).where(
            OutboundMessage.recipient == msg.recipient,
            OutboundMessage.channel == msg.channel,
            OutboundMessage.template != "otp",
            OutboundMessage.status == "sent",
            OutboundMessage.sent_at >= since,
            OutboundMessage.id != msg.id,
        )
    ) or 0
    return sent >= per_hour


def make_sender(host: Any) -> Any:
    """The subscriber that sends a queued message through the channel configured for its
    medium (``[messaging] sms`` / ``email``; core/identity/channels/).

    A failed send raises, so the event bus retries it with back-off (the delivery row keeps
    the attempt count and the error, and the messages page shows them); the last allowed
    attempt (``events.max_attempts``) records the message ``failed`` with the provider's
    error instead of raising, so it is visible and not dead-lettered. A one-time code that
    expired (or was replaced) before it could go out is not sent at all, and a sent or
    abandoned code is blanked. Messages other than codes beyond
    ``messaging.per_recipient_per_hour`` to one recipient are held: ``failed``,
    "rate limited"."""

    def deliver_message(event: Any, session: Session) -> None:
        from core.current import current_kernel
        from core.identity.channels import ChannelError, channel_for

        msg = session.get(OutboundMessage, event.payload["message_id"])
        if msg is None or msg.status in ("sent", "failed"):
            return
        kernel = current_kernel()
        config = kernel.config
        if msg.template == "otp" and not _code_still_good(session, msg):
            msg.status, msg.error = "failed", "expired before it could be sent"
            _forget_code(msg)
            return
        if (msg.template != "otp" and msg.attempts == 0
                and _over_rate(session, msg, int(config.messaging["per_recipient_per_hour"]))):
            msg.status, msg.error = "failed", "rate limited"
            return
        msg.attempts = int(getattr(event, "attempt", 1) or 1)
        try:
            channel = channel_for(config, host, msg.channel)
            provider_id = channel.send(msg) if channel is not None else None
        except Exception as exc:
            last = msg.attempts >= int(kernel.bus.settings["max_attempts"])
            if not last:
                raise  # the bus retries later; this attempt's changes roll back
            msg.status = "failed"
            msg.error = (str(exc) if isinstance(exc, ChannelError)
                         else f"{type(exc).__name__}: {exc}")[:1000]
            _forget_code(msg)
            return
        if channel is None or provider_id is None:
            msg.status = "recorded"  # no channel, or no gateway plugin took it
            msg.error = None
            return
        msg.status = "sent"
        msg.sent_by = (f"{channel.name}:{provider_id}" if provider_id and channel.name != "hook"
                       else provider_id or channel.name)[:40]
        msg.sent_at = utcnow()
        msg.error = None
        _forget_code(msg)

    return deliver_message
