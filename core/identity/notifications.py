"""Notifications: one service call for core and plugins.

``notify(session, bus, user_id=..., title=..., body=...)`` writes the in-app notification
(the header shows the unread count) and, for each external channel asked for (``sms``,
``email``), queues a templated :class:`OutboundMessage` in the recipient's language and
publishes ``identity.message.queued``. Delivery then goes through the event bus — so a
gateway outage is retried, never lost — to the channel ``[messaging]`` configures for the
medium (console, SMTP, Aliyun SMS, or a ``send_message`` plugin; core/identity/channels/).
Every message stays in the outbox with its status (recorded, queued, sent, failed), its
attempts and its error: visible to administrators, never silently dropped.

A notification is told in the *reader's* language: ``title``/``body`` are either text a
person wrote (stored and shown as is) or a :class:`Message` — an English msgid, its
parameters and the catalogue (core's or a plugin's) that translates it — stored structured
and rendered when it is read, in the page's or the API caller's language
(:func:`shown_title`, :func:`shown_body`). The text rendered in the recipient's language
at send time is kept too: the SMS and e-mail carry it, and it is shown when the message
can no longer be rendered (its plugin removed, its msgid gone from the catalogue).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Union

from marshmallow import Schema, fields
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from core.db import utcnow
from core.identity.models import Notification, OneTimeCode, OutboundMessage, User

CHANNELS = ("sms", "email")


class Bilingual:
    """A label kept in both languages in data, not in a catalogue (a service's or an
    office's name from a plugin's catalogue file): a :class:`Message` parameter shown in
    the reader's language (Chinese readers ``zh``, others ``en``; either falls back to the
    other when blank)."""

    __slots__ = ("en", "zh")

    def __init__(self, en: str, zh: str) -> None:
        self.en, self.zh = str(en or ""), str(zh or "")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bilingual) and (self.en, self.zh) == (other.en, other.zh)

    def __repr__(self) -> str:
        return f"Bilingual({self.en!r}, {self.zh!r})"


#: What a :class:`Message` parameter may be: text and numbers as they are; a nested
#: Message or a :class:`Bilingual` label in the reader's language; a datetime in the
#: configured time zone when read (``YYYY-MM-DD HH:MM``); a date (``YYYY-MM-DD``); a list of
#: any of these, joined the reader's way (``；`` in Chinese, ``; `` otherwise).
Param = Union[str, int, float, date, datetime, "Message", Bilingual, list[Any], tuple[Any, ...]]


class Message:
    """A message to tell someone later, in the language they read in then.

    ``Message(msgid, **params)``: an English msgid with ``%(name)s`` placeholders
    (extracted by ``pybabel -k Message``, so its Chinese lives in the catalogue as any
    other string) and its parameters (:data:`Param`). ``domain`` names the catalogue that
    holds the msgid: ``"core"`` or a plugin's id; left out, :func:`notify` takes its
    ``source``. Why not translate at once: a notification is read days later, maybe in the
    other language (a Chinese account on an English page), and a datetime belongs in the
    reader's time, not the sender's."""

    __slots__ = ("domain", "msgid", "params")

    def __init__(self, msgid: str, /, *, domain: str | None = None, **params: Param) -> None:
        self.msgid = str(msgid)
        self.domain = domain
        self.params = params

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and self.as_json() == other.as_json()

    def __repr__(self) -> str:
        return f"Message({self.msgid!r}, domain={self.domain!r}, **{self.params!r})"

    def in_domain(self, domain: str) -> Message:
        """This message (and its nested ones) with ``domain`` where none was named."""
        if self.domain is not None:
            return self
        params = {k: _with_domain(v, domain) for k, v in self.params.items()}
        return Message(self.msgid, domain=domain, **params)

    def as_json(self) -> dict[str, Any]:
        """The stored form: ``{"msgid", "domain", "params"}`` (JSON-safe)."""
        return {"msgid": self.msgid, "domain": self.domain,
                "params": {k: _param_json(v) for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        params = {k: _param_value(v) for k, v in (data.get("params") or {}).items()}
        return cls(str(data.get("msgid") or ""), domain=data.get("domain"), **params)

    def render(self, locale: str | None = None) -> str:
        """The text in ``locale`` (default: the current request's), or the English when
        its catalogue cannot be had (an unknown plugin, no app)."""
        text = render_message(self, locale)
        return text if text is not None else _fill(self.msgid, {
            k: _english(v) for k, v in self.params.items()})


def _with_domain(value: Any, domain: str) -> Any:
    if isinstance(value, Message):
        return value.in_domain(domain)
    if isinstance(value, list | tuple):
        return [_with_domain(v, domain) for v in value]
    return value


def _param_json(value: Any) -> Any:
    if isinstance(value, Message):
        return {"$message": value.as_json()}
    if isinstance(value, Bilingual):
        return {"$text": {"en": value.en, "zh": value.zh}}
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return {"$datetime": aware.astimezone(UTC).isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, list | tuple):
        return {"$list": [_param_json(v) for v in value]}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _param_value(data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    if "$message" in data:
        return Message.from_json(data["$message"])
    if "$text" in data:
        return Bilingual(data["$text"].get("en", ""), data["$text"].get("zh", ""))
    if "$datetime" in data:
        return datetime.fromisoformat(data["$datetime"])
    if "$date" in data:
        return date.fromisoformat(data["$date"])
    if "$list" in data:
        return [_param_value(v) for v in data["$list"]]
    return str(data)


def _fill(message: str, params: dict[str, Any]) -> str:
    try:
        return message % params if params else message
    except (KeyError, TypeError, ValueError):
        return message


def _english(value: Any) -> str:
    return _param_text(value, "en", lambda m: m.render("en"))


def _param_text(value: Any, language: str, nested: Callable[[Message], str | None]) -> Any:
    """A parameter as the reader sees it (None: a nested message could not be rendered)."""
    if isinstance(value, Message):
        return nested(value)
    if isinstance(value, Bilingual):
        return (value.zh or value.en) if language == "zh" else (value.en or value.zh)
    if isinstance(value, datetime):
        from core.db import local_zone

        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        parts = [_param_text(v, language, nested) for v in value]
        if any(p is None for p in parts):
            return None
        return ("；" if language == "zh" else "; ").join(str(p) for p in parts)
    return value


def _language(locale: str | None) -> str:
    if locale is None:
        try:
            from flask import has_app_context
            from flask_babel import get_locale

            current = get_locale() if has_app_context() else None
        except ImportError:  # pragma: no cover - Flask-Babel is a dependency
            current = None
        locale = str(current) if current is not None else "en"
    return str(locale).replace("-", "_").split("_")[0] or "en"


def _domain_for(name: str) -> Any:
    """The Flask-Babel domain of catalogue ``name`` (core or a loaded plugin), through the
    resolver the web layer installs (``kernel.state("core.notifications")["domain_for"]``);
    None for a plugin that is not loaded. Identity sits below the web layer, hence the
    indirection."""
    try:
        from core.current import current_kernel

        resolver = current_kernel().state("core.notifications").get("domain_for")
    except (RuntimeError, AttributeError):
        return None
    return resolver(name) if resolver is not None else None


def render_message(message: Message, locale: str | None = None) -> str | None:
    """``message`` in ``locale`` (default: the request's) from its own catalogue, else
    core's; None when it cannot be rendered — no app, an unknown catalogue, a msgid
    neither catalogue holds (then the caller shows the stored text)."""
    try:
        from flask import has_app_context
        from flask_babel import force_locale
    except ImportError:  # pragma: no cover
        return None
    if not has_app_context():
        return None
    language = _language(locale)
    domain_name = message.domain or "core"
    own = _domain_for(domain_name)
    if own is None:
        return None
    domains = [own] if domain_name == "core" else [own, _domain_for("core")]
    with force_locale(language) if locale is not None else _nothing():
        template: str | None = None
        if language == "en":
            template = message.msgid  # the msgids are the English text
        else:
            for domain in domains:
                if domain is None:
                    continue
                translations = domain.get_translations()
                catalog = getattr(translations, "_catalog", {})
                if catalog.get(message.msgid):
                    template = translations.gettext(message.msgid)
                    break
        if template is None:
            return None
        params: dict[str, Any] = {}
        for key, value in message.params.items():
            text = _param_text(value, language, lambda m: render_message(m, language))
            if text is None:
                return None
            params[key] = text
        return _fill(template, params)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


#: What ``notify`` takes for ``title`` and ``body``: text a person wrote, a
#: :class:`Message`, or (``body`` only) several Messages told as sentences one after
#: another (joined with a space, without one in Chinese).
Told = str | Message | Sequence[Message]


def _message_json(value: Told, domain: str) -> dict[str, Any] | list[dict[str, Any]] | None:
    if isinstance(value, str):
        return None
    if isinstance(value, Message):
        return value.in_domain(domain).as_json()
    return [m.in_domain(domain).as_json() for m in value]


def render_told(data: Any, locale: str | None = None) -> str | None:
    """A stored message (one, or a list of sentences) in ``locale``; None if it cannot be."""
    if not data:
        return None
    parts = data if isinstance(data, list) else [data]
    texts = [render_message(Message.from_json(p), locale) for p in parts]
    if any(t is None for t in texts):
        return None
    return ("" if _language(locale) == "zh" else " ").join(t for t in texts if t)


def shown_title(note: Notification) -> str:
    """The notification's title in the reader's (the current request's) language; the
    text stored at send time when it cannot be rendered, or was written by a person."""
    return render_told(note.title_message) or note.title


def shown_body(note: Notification) -> str:
    """The body as :func:`shown_title` shows the title."""
    text = render_told(note.body_message) if note.body_message else None
    return text if text is not None else (note.body or "")


def _send_text(value: Told, domain: str, locale: str) -> str:
    """The text of ``value`` in the recipient's ``locale``, for storing and for SMS."""
    data = _message_json(value, domain)
    if data is None:
        return str(value)
    text = render_told(data, locale)
    if text is not None:
        return text
    parts = data if isinstance(data, list) else [data]
    return " ".join(Message.from_json(p).render("en") for p in parts)


def _domain_of_source(source: str) -> str:
    """The catalogue a Message names none for: the ``source`` plugin's when it is loaded,
    else core's."""
    try:
        from core.current import current_kernel

        loaded = {str(r.info.id) for r in current_kernel().plugins.loaded}
    except (RuntimeError, AttributeError):
        return source if source not in ("core", "notices") else "core"
    return source if source in loaded else "core"


def notify(
    session: Session,
    bus: Any,
    *,
    user_id: int,
    title: str | Message,
    body: Told = "",
    link: str = "",
    kind: str = "info",
    source: str = "core",
    channels: Iterable[str] = (),
) -> Notification:
    """Write the in-app notification and, for each of ``channels``, queue the ``notice``
    message in the user's language (``User.locale``, else the site's default): SMS to the
    account's phone, e-mail to its address once proved (``email_verified_at``). A channel
    the account has no address for is skipped; the in-app notification stands.

    ``title``/``body`` as :class:`Message`: stored structured and rendered when read, in the
    reader's language; the text in the recipient's language is stored beside it (shown if
    the message cannot be rendered) and is what the SMS and e-mail say. Plain text is
    stored and shown as written."""
    domain = _domain_of_source(source)
    locale = _recipient_locale(session, user_id)
    title_text = _send_text(title, domain, locale)
    body_text = _send_text(body, domain, locale) if body else ""
    note = Notification(
        user_id=user_id,
        title=title_text[:200],
        body=body_text,
        title_message=_message_json(title, domain),
        body_message=_message_json(body, domain) if body else None,
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
        for channel in channels:
            if channel == "sms":
                recipient = user.phone or ""
            else:
                recipient = (user.email or "") if user.email_verified_at else ""
            if not recipient:
                continue  # no address for this channel: the in-app notification stands
            queue_message(
                session, bus, channel=channel, recipient=recipient, template="notice",
                params={"title": title_text[:200], "body": body_text or title_text},
                locale=locale,
                user_id=user_id,
            )
    session.flush()
    return note


def _recipient_locale(session: Session, user_id: int) -> str:
    """The language the account reads in: its own choice, else the site's default."""
    user = session.get(User, user_id)
    chosen = user.locale if user is not None else None
    return str(chosen) if chosen in ("zh", "en") else _default_locale()


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


_UNREAD_ON_OPEN = (
    select(Notification.id, Notification.link)
    .where(Notification.user_id == bindparam("user_id"), Notification.read_at.is_(None))
    .limit(_UNREAD_IN_FULL + 1)
)


def read_on_open(session: Session, user_id: int, paths: Iterable[str]) -> tuple[int, int | None]:
    """What opening a page does to the user's notifications, in one statement for the
    usual account: mark read the unread ones linking to ``paths`` (as
    :func:`mark_linked_read`) and return ``(marked, unread left)``, so the header's badge
    needs no COUNT of its own. ``unread left`` is ``None`` when the account holds more than
    ``_UNREAD_IN_FULL`` unread (then the badge counts them itself)."""
    wanted = {p[:300] for p in paths if p}
    # plain column rows, so Core on the session's connection (same transaction) does it at
    # a tenth of the ORM's cost per page (issue 23: 226 -> 22 µs CPU); built once
    rows = session.connection().execute(_UNREAD_ON_OPEN, {"user_id": user_id}).all()
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
