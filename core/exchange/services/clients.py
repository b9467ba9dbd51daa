"""The exchange's clients: registering an external system, what it is granted, its
suspension, and the rotation of its webhook secret and feed token.

Every change is audited; the secret and the token are returned in plain text once, when
made (the token is stored only as a digest). Grants are checked against what the bus
declares and the registry's scopes, the callback address against the network policy.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit.services import log_audit
from core.db import utcnow
from core.events.models import OutboxEvent
from core.exchange import netguard, scoping
from core.exchange.models import ExchangeClient
from core.exchange.services.errors import N_, ExchangeError
from core.exchange.services.webhooks import ensure_subscribed, network_policy
from core.exchange.standard import INTERNAL_PREFIX

#: Hours the previous webhook secret still signs after a rotation.
ROTATION_GRACE_HOURS = 24
TOKEN_PREFIX = "shx_"

SECRET_PREFIX = "whsec_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _actor_name(actor: Any) -> str:
    return (getattr(actor, "username", "") or "cli")[:64]


def offered_event_types(bus: Any) -> list[str]:
    """Event types an administrator may grant: every declared one except the internal."""
    return sorted(n for n in bus.types if not n.startswith(INTERNAL_PREFIX))


def event_scope(bus: Any, name: str) -> str | None:
    """The registry scope a client needs to receive events of type ``name`` at all."""
    schema = bus.types[name].schema()
    return scoping.required_scope(f.data_key or k for k, f in schema.fields.items())


def offered_scopes() -> dict[str, str]:
    from core.registry.scopes import SCOPES

    return dict(SCOPES)


def _check_grants(
    bus: Any, event_types: Iterable[str], scopes: Iterable[str]
) -> tuple[list[str], list[str]]:
    event_types = sorted(set(event_types))
    scopes = sorted(set(scopes))
    unknown = [t for t in event_types if t not in offered_event_types(bus)]
    if unknown:
        raise ExchangeError(
            N_("Unknown event type: %(names)s."), "event_types", names=", ".join(unknown)
        )
    bad = [s for s in scopes if s not in offered_scopes()]
    if bad:
        raise ExchangeError(N_("Unknown data scope: %(names)s."), "scopes", names=", ".join(bad))
    return event_types, scopes


def _check_url(url: str | None, policy: netguard.NetworkPolicy) -> str | None:
    """A callback address in shape and allowed by the network policy, as far as can be
    told without DNS (the resolved address is checked again at every send)."""
    url = (url or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 (raises for a port that is not a number or out of range)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and len(url) <= 500
    except ValueError:
        ok = False
    if not ok:
        raise ExchangeError(
            N_("Give an http:// or https:// address, at most 500 characters."), "callback_url"
        )
    if parts.username is not None or parts.password is not None:
        raise ExchangeError(
            N_("Give the address without a user name or password."), "callback_url"
        )
    try:
        netguard.check_url(url, policy)
    except netguard.AddressRefused as exc:
        if exc.reason == netguard.PRIVATE:
            raise ExchangeError(
                N_("This is a private network address: webhooks go there only when its "
                   "network is listed in exchange.allowed_networks in the configuration."),
                "callback_url",
            ) from None
        raise ExchangeError(
            N_("Webhooks are never sent to this machine, to link-local, multicast or "
               "reserved addresses, or to a cloud metadata service."),
            "callback_url",
        ) from None
    return url


def _check_name(session: Session, name: str, client_id: int | None = None) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > 64:
        raise ExchangeError(N_("Give the system a name of 1 to 64 characters."), "name")
    other = session.scalar(select(ExchangeClient).where(ExchangeClient.name == name))
    if other is not None and other.id != client_id:
        raise ExchangeError(N_("A client with this name exists already."), "name")
    return name


def create_client(
    session: Session,
    bus: Any,
    *,
    name: str,
    contact: str = "",
    event_types: Iterable[str] = (),
    scopes: Iterable[str] = (),
    callback_url: str | None = None,
    actor: Any = None,
) -> tuple[ExchangeClient, str, str]:
    """Register an external system. Returns it with its webhook secret and its feed token,
    in plain text: shown once, at this moment (the token is stored only as a digest)."""
    name = _check_name(session, name)
    types, granted = _check_grants(bus, event_types, scopes)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = ExchangeClient(
        name=name,
        contact=(contact or "").strip()[:200],
        event_types=types,
        scopes=granted,
        callback_url=_check_url(callback_url, network_policy(bus)),
        secret=secret,
        token_digest=_digest(token),
        token_prefix=token[:10],
        created_by=_actor_name(actor),
        # History before the registration only by an explicit, logged backfill grant.
        feed_start=session.scalar(select(func.max(OutboxEvent.id))) or 0,
    )
    session.add(client)
    session.flush()
    detail = {
        "name": name,
        "event_types": types,
        "scopes": granted,
        "callback": bool(client.callback_url),
        "feed_start": client.feed_start,
    }
    log_audit(
        session,
        "exchange.client.created",
        actor=actor,
        target_type="exchange_client",
        target_id=client.id,
        detail=detail,
    )
    ensure_subscribed(bus)
    return client, secret, token


def update_client(
    session: Session,
    bus: Any,
    client: ExchangeClient,
    *,
    name: str,
    contact: str,
    event_types: Iterable[str],
    scopes: Iterable[str],
    callback_url: str | None,
    actor: Any = None,
) -> ExchangeClient:
    """Change what a client receives. Narrowing applies to webhooks already queued too:
    they are checked again when sent."""
    client.name = _check_name(session, name, client.id)
    client.event_types, client.scopes = _check_grants(bus, event_types, scopes)
    client.contact = (contact or "").strip()[:200]
    client.callback_url = _check_url(callback_url, network_policy(bus))
    log_audit(
        session,
        "exchange.client.updated",
        actor=actor,
        target_type="exchange_client",
        target_id=client.id,
        detail={"event_types": client.event_types, "scopes": client.scopes},
    )
    return client


def suspend_client(
    session: Session, client: ExchangeClient, *, reason: str, actor: Any = None
) -> None:
    """Stop everything at once: the token is refused and queued webhooks are cancelled
    when their turn comes."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise ExchangeError(N_("Say why the client is suspended."), "reason")
    client.status = "suspended"
    client.suspended_at = utcnow()
    client.suspended_reason = reason[:200]
    log_audit(
        session,
        "exchange.client.suspended",
        actor=actor,
        target_type="exchange_client",
        target_id=client.id,
        detail={"reason": reason},
    )


def resume_client(session: Session, client: ExchangeClient, *, actor: Any = None) -> None:
    client.status = "active"
    client.suspended_at = None
    client.suspended_reason = None
    log_audit(
        session,
        "exchange.client.resumed",
        actor=actor,
        target_type="exchange_client",
        target_id=client.id,
    )


def rotate_secret(
    session: Session,
    client: ExchangeClient,
    *,
    grace_hours: float = ROTATION_GRACE_HOURS,
    actor: Any = None,
) -> str:
    """A new webhook secret (returned once). For ``grace_hours`` webhooks carry a second
    signature made with the old secret, so the receiver can switch over without losing
    any; 0 ends the old secret at once (after a leak)."""
    now = utcnow()
    if grace_hours > 0:
        client.previous_secret = client.secret
        client.previous_secret_until = now + timedelta(hours=grace_hours)
    else:
        client.previous_secret = None
        client.previous_secret_until = None
    client.secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    client.secret_rotated_at = now
    log_audit(
        session,
        "exchange.client.secret_rotated",
        actor=actor,
        target_type="exchange_client",
        target_id=client.id,
    )
    return client.secret


def rotate_token(session: Session, client: ExchangeClient, *, actor: Any = None) -> str:
    """A new feed token (returned once); the old one stops working at once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    client.token_digest = _digest(token)
    client.token_prefix = token[:10]
    log_audit(
        session,
        "exchange.client.token_rotated",
        actor=actor,
        target_type="exchange_client",
        target_id=client.id,
    )
    return token


def grant_backfill(
    session: Session,
    client: ExchangeClient,
    *,
    since_event: int | None = None,
    since: date | datetime | None = None,
    reason: str = "",
    actor: Any = None,
) -> int:
    """Let ``client`` receive history from before its registration: its feed (and
    replays) then start at outbox event ``since_event``, or at the first event at or
    after ``since`` (a date, UTC). Logged (``exchange.client.backfill_granted``, with
    the reason). Returns the new start (the feed returns events after it). A grant never
    narrows what the client had."""
    if (since_event is None) == (since is None):
        raise ExchangeError(N_("Give either the first event id or a date."), "since")
    if since_event is not None:
        if since_event < 1:
            raise ExchangeError(N_("An event id is a positive number."), "since")
        start = since_event - 1
    else:
        assert since is not None
        if not isinstance(since, datetime):
            since = datetime(since.year, since.month, since.day, tzinfo=UTC)
        first = session.scalar(select(func.min(OutboxEvent.id))
                               .where(OutboxEvent.created_at >= since))
        start = (first - 1) if first is not None else (
            session.scalar(select(func.max(OutboxEvent.id))) or 0)
    before = client.feed_start
    if before is not None and start < before:
        client.feed_start = start
    log_audit(
        session,
        "exchange.client.backfill_granted",
        actor=actor,
        target_type="exchange_client",
        target_id=client.id,
        detail={"from_event": before, "to_event": client.feed_start, "since_event":
                since_event, "since": since.isoformat() if since else None,
                "reason": (reason or "")[:200]},
    )
    session.flush()
    return client.feed_start or 0


def client_by_name(session: Session, name: str) -> ExchangeClient | None:
    return session.scalar(select(ExchangeClient).where(ExchangeClient.name == name))


def client_for_token(session: Session, token: str) -> ExchangeClient | None:
    """The active client holding ``token``, or None (unknown, rotated or suspended)."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    client = session.scalar(
        select(ExchangeClient).where(ExchangeClient.token_digest == _digest(token))
    )
    return client if client is not None and client.is_active else None


def list_clients(session: Session) -> list[ExchangeClient]:
    return list(session.scalars(select(ExchangeClient).order_by(ExchangeClient.name)))
