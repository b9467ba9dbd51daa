"""Exchange rules: clients, scoped payloads, signed webhooks, the pull feed, fact queries.

Plain functions over a session (no Flask), called alike by the pages, the API, the CLI and
the bus handlers. What may leave for a client is decided in one function,
:func:`envelope_for`: the event type must be granted, the event's subject must be within
the client's registry scopes, and fields of other scopes are removed. Every time personal
data leaves — a webhook delivered, a feed page served, a fact answered — each person named
gets an access-log entry with the client's name, so residents see which departments
received their data.

Webhooks ride on the event bus: a subscriber on ``*`` creates one
:class:`~core.exchange.models.ExchangeDelivery` per client and event, each with its own
``core.webhook.queued`` outbox event; the ``core:exchange_webhook`` subscriber sends it.
Retries with back-off, dead letters and their retry are therefore the bus's.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import secrets
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from marshmallow import Schema, fields
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import services as audit
from core.audit.services import log_audit
from core.db import utcnow
from core.events.models import Delivery, OutboxEvent
from core.exchange import netguard, scoping
from core.exchange.models import ExchangeClient, ExchangeDelivery
from core.exchange.standard import INTERNAL_PREFIX, STANDARD_VERSION

QUEUED_EVENT = "core.webhook.queued"
FAN_OUT_SUBSCRIBER = "exchange_fan_out"
WEBHOOK_SUBSCRIBER = "exchange_webhook"
#: The bus subscriber id whose delivery rows carry a webhook's attempts and last error.
WEBHOOK_SUBSCRIBER_ID = f"core:{WEBHOOK_SUBSCRIBER}"
#: Seconds a receiver has to answer; kept short because the bus holds the delivery's row
#: lock while the request runs.
WEBHOOK_TIMEOUT = 10.0
#: A receiver should refuse a timestamp further than this from its clock (replays).
SIGNATURE_TOLERANCE_SECONDS = 300
#: Hours the previous webhook secret still signs after a rotation.
ROTATION_GRACE_HOURS = 24
TOKEN_PREFIX = "shx_"
SECRET_PREFIX = "whsec_"
#: Outbox rows scanned per feed page at most (events of other types are skipped).
FEED_SCAN = 1000
FEED_MAX_LIMIT = 200
VIA = "exchange"
#: What an administrator sees when a webhook could not be delivered for a network reason
#: (refused, timed out, reset, not an HTTP answer, name unknown): one text for all, so
#: the error does not tell an open port from a closed one. The detail is in the server log.
NETWORK_ERROR = "could not deliver (network error)"
#: The callback address resolved to an address the network policy refuses.
ADDRESS_REFUSED = "could not deliver (address not allowed)"

log = logging.getLogger(__name__)
#: The network policy of each app, keyed by its event bus (several apps live in one
#: process in tests): set by ``core.exchange.init_app`` from ``[exchange]`` in config.
_POLICIES: weakref.WeakKeyDictionary[Any, netguard.NetworkPolicy] = weakref.WeakKeyDictionary()


def set_network_policy(bus: Any, policy: netguard.NetworkPolicy) -> None:
    """Use ``policy`` for the callbacks of the app whose event bus is ``bus``."""
    _POLICIES[bus] = policy


def network_policy(bus: Any) -> netguard.NetworkPolicy:
    """The app's policy; the strict one (no private network) when none was configured."""
    try:
        return _POLICIES.get(bus, netguard.STRICT)
    except TypeError:  # not weak-referenceable
        return netguard.STRICT


def actor_name(client: ExchangeClient) -> str:
    """How an exchange client appears in access and audit logs: ``exchange:<name>``."""
    return f"exchange:{client.name}"[:64]


def _client_actor(client: ExchangeClient) -> SimpleNamespace:
    return SimpleNamespace(id=None, username=actor_name(client))


def N_(message: str) -> str:
    """Mark a message for translation; the page translates it when it shows it."""
    return message


class ExchangeError(ValueError):
    """A refused request, with the form field it is about (empty when none)."""

    def __init__(self, message: str, field: str = "", **params: Any):
        super().__init__(message % params if params else message)
        self.message = message
        self.field = field
        self.params = params


class WebhookError(RuntimeError):
    """The receiver did not take the webhook; the bus retries it with back-off."""


class WebhookQueued(Schema):
    delivery_id = fields.Integer(required=True)


# ---------------------------------------------------------------------------- clients


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
    )
    session.add(client)
    session.flush()
    detail = {
        "name": name,
        "event_types": types,
        "scopes": granted,
        "callback": bool(client.callback_url),
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


# ---------------------------------------------------------------------------- payloads


def envelope_for(
    client: ExchangeClient,
    name: str,
    event_id: int,
    payload: Mapping[str, Any],
    created_at: datetime,
) -> dict[str, Any] | None:
    """What ``client`` may receive of this event, or None when nothing may leave."""
    if name.startswith(INTERNAL_PREFIX) or name not in client.event_types:
        return None
    data = scoping.filter_payload(dict(payload), client.scopes)
    if data is None:
        return None
    return {
        "id": event_id,
        "type": name,
        "created_at": created_at.isoformat(),
        "standard_version": STANDARD_VERSION,
        "data": data,
    }


def disclosure_purpose(client: ExchangeClient, event_type: str, channel: str) -> str:
    """The purpose written to the access log when ``client`` receives an event: which
    department received what and how (identical entries of a day aggregate)."""
    return f"{client.name}: {event_type} ({channel})"


def log_accesses(
    session: Session,
    *,
    actor: Any,
    person_ids: Iterable[int],
    fields: Iterable[str],
    purpose: str,
    via: str,
    masked: bool = False,
) -> int:
    """One access-log entry per person, through the audit service's batch writer (so the
    entries aggregate per day like every other display); returns how many persons. The
    callers write the queue out (:func:`core.audit.services.write_access_log`) before
    they return, in their own transaction: a bus handler runs in a savepoint, and the
    entries must commit (or roll back) with the disclosure itself."""
    ids = sorted(set(person_ids))
    fields = sorted(set(fields))
    now = utcnow()
    return audit.log_accesses(
        session,
        [
            audit.access_row(actor=actor, person_id=pid, fields=fields, purpose=purpose,
                             via=via, masked=masked, now=now)
            for pid in ids
        ],
    )


def log_disclosure(
    session: Session, client: ExchangeClient, envelope: Mapping[str, Any], *, channel: str
) -> int:
    """Write one access-log entry per person the envelope names (viewer
    ``exchange:<client>``, via ``exchange``, the fields sent, in full); returns how many."""
    from core.registry.models import Person

    data = envelope["data"]
    ids = scoping.person_ids(data)
    span = scoping.person_range(data)
    if span is not None:
        ids |= set(session.scalars(select(Person.id).where(Person.id.between(*span))))
    if not ids:
        return 0
    keys = sorted(k for k in data if scoping.field_scope(k) is not None) or ["person_id"]
    return log_accesses(
        session,
        actor=_client_actor(client),
        person_ids=ids,
        fields=keys,
        purpose=disclosure_purpose(client, str(envelope["type"]), channel),
        via=VIA,
        masked=False,
    )


# ---------------------------------------------------------------------------- signing


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, "<timestamp>.<body>")."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signature_header(client: ExchangeClient, timestamp: str, body: bytes) -> str:
    """The ``X-Shequ-Signature`` value: the current secret's signature, then, during a
    rotation's grace period, the previous secret's, separated by a comma."""
    values = [sign(client.secret, timestamp, body)]
    until = client.previous_secret_until
    if client.previous_secret and until is not None and until > utcnow():
        values.append(sign(client.previous_secret, timestamp, body))
    return ",".join(values)


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does (the reference implementation of docs/exchange.md): a fresh
    timestamp, and one of the header's signatures made with ``secret``."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    expected = sign(secret, timestamp, body)
    return age <= tolerance and any(
        hmac.compare_digest(expected, candidate.strip()) for candidate in signature.split(",")
    )


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    policy: netguard.NetworkPolicy = netguard.STRICT,
) -> int:
    """POST over a connection pinned to an address the policy allows (checked after DNS)
    and return the status code; redirects are not followed (a receiver that redirects
    has not taken the webhook, and following could send data somewhere nobody approved).
    Any failure raises :class:`WebhookError` with a message that does not reveal port
    state; the detail goes to the server log."""
    try:
        return netguard.post(url, body, headers, timeout, policy)
    except netguard.AddressRefused as exc:
        log.warning("webhook to %s refused by the network policy: %s", _safe_url(url), exc)
        raise WebhookError(ADDRESS_REFUSED) from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        log.warning("webhook to %s failed: %s: %s", _safe_url(url), type(exc).__name__, exc)
        raise WebhookError(NETWORK_ERROR) from None


def _safe_url(url: str) -> str:
    """The callback address for the log, without its query (it may carry a key)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# ---------------------------------------------------------------------------- webhooks


def queue(
    session: Session,
    bus: Any,
    client: ExchangeClient,
    event_id: int,
    event_name: str,
    *,
    replay_of: int | None = None,
) -> ExchangeDelivery:
    """One webhook for ``client``, with its own outbox event (committed by the caller)."""
    row = ExchangeDelivery(
        client_id=client.id, event_id=event_id, event_name=event_name, replay_of=replay_of, note=""
    )
    session.add(row)
    session.flush()
    queued = bus.publish(session, QUEUED_EVENT, {"delivery_id": row.id})
    session.flush()
    row.queue_event_id = queued.id
    return row


def fan_out_event(session: Session, bus: Any, event: Any) -> int:
    """The ``*`` subscriber: queue a webhook for every active client with a callback that
    may receive ``event``. Idempotent (the bus delivers at least once)."""
    if event.name.startswith(INTERNAL_PREFIX):
        return 0
    done = set(
        session.scalars(
            select(ExchangeDelivery.client_id).where(
                ExchangeDelivery.event_id == event.id, ExchangeDelivery.replay_of.is_(None)
            )
        )
    )
    count = 0
    clients = session.scalars(
        select(ExchangeClient).where(
            ExchangeClient.status == "active", ExchangeClient.callback_url.is_not(None)
        )
    )
    for client in clients:
        if client.id in done:
            continue
        if envelope_for(client, event.name, event.id, event.payload, event.created_at) is None:
            continue
        queue(session, bus, client, event.id, event.name)
        count += 1
    return count


def send_webhook(
    session: Session,
    delivery_id: int,
    *,
    timeout: float | None = None,
    policy: netguard.NetworkPolicy = netguard.STRICT,
) -> str:
    """Send one queued webhook. Returns the outcome; raises :class:`WebhookError` when the
    receiver did not take it, so the bus retries. Scopes and the client's status are
    checked again now: a client suspended or narrowed meanwhile receives nothing. The
    callback's address is checked against ``policy`` after resolution, every time."""
    row = session.get(ExchangeDelivery, delivery_id)
    if row is None or row.status != "queued":
        return "skipped"
    client = session.get(ExchangeClient, row.client_id)
    source = session.get(OutboxEvent, row.event_id)
    envelope = None
    if client is not None and client.is_active and client.callback_url and source is not None:
        envelope = envelope_for(client, source.name, source.id, source.payload, source.created_at)
    if envelope is None:
        row.status = "cancelled"
        row.note = "client suspended, removed or no longer allowed this event"
        return "cancelled"
    envelope["delivery_id"] = row.id
    body = json.dumps(envelope, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Shequ-Exchange/1",
        "X-Shequ-Event-Id": str(source.id),
        "X-Shequ-Event-Type": source.name,
        "X-Shequ-Delivery-Id": str(row.id),
        "X-Shequ-Timestamp": timestamp,
        "X-Shequ-Signature": signature_header(client, timestamp, body),
    }
    status = post(
        client.callback_url, body, headers, timeout or WEBHOOK_TIMEOUT, policy
    )
    if not 200 <= status < 300:
        raise WebhookError(f"the receiver answered HTTP {status}")
    row.status = "delivered"
    row.response_status = status
    row.delivered_at = utcnow()
    log_disclosure(session, client, envelope, channel="webhook")
    audit.write_access_log(session)
    return "delivered"


def ensure_subscribed(bus: Any) -> bool:
    """Subscribe the exchange's two bus handlers (once). Only apps that have clients
    subscribe, so an installation without clients has no extra delivery per event."""
    if WEBHOOK_SUBSCRIBER_ID in bus.subscribers:
        return False

    def exchange_fan_out(event: Any, session: Session) -> None:
        fan_out_event(session, bus, event)

    def exchange_webhook(event: Any, session: Session) -> None:
        send_webhook(session, int(event.payload["delivery_id"]), policy=network_policy(bus))

    owner, bus._owner = bus._owner, "core"
    try:
        bus.subscribe("*", exchange_fan_out, name=FAN_OUT_SUBSCRIBER)
        bus.subscribe(QUEUED_EVENT, exchange_webhook, name=WEBHOOK_SUBSCRIBER)
    finally:
        bus._owner = owner
    return True


@dataclass(frozen=True)
class DeliveryView:
    """A webhook with its bus delivery's state, for the pages and the CLI."""

    id: int
    client_id: int
    client_name: str
    event_id: int
    event_name: str
    status: str  # queued | retrying | dead | delivered | cancelled
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    response_status: int | None
    bus_delivery_id: int | None
    replay_of: int | None


def list_deliveries(
    session: Session, *, client_id: int | None = None, status: str | None = None, limit: int = 50
) -> list[DeliveryView]:
    """Newest first. ``status`` "failed" means retrying or dead."""
    stmt = (
        select(ExchangeDelivery, ExchangeClient.name, Delivery)
        .join(ExchangeClient, ExchangeClient.id == ExchangeDelivery.client_id)
        .outerjoin(
            Delivery,
            (Delivery.event_id == ExchangeDelivery.queue_event_id)
            & (Delivery.subscriber == WEBHOOK_SUBSCRIBER_ID),
        )
        .order_by(ExchangeDelivery.id.desc())
    )
    if client_id is not None:
        stmt = stmt.where(ExchangeDelivery.client_id == client_id)
    if status == "failed":
        stmt = stmt.where(ExchangeDelivery.status == "queued", Delivery.attempts > 0)
    elif status == "dead":
        stmt = stmt.where(ExchangeDelivery.status == "queued", Delivery.status == "dead")
    elif status:
        stmt = stmt.where(ExchangeDelivery.status == status)
    out = []
    for row, name, bus_row in session.execute(stmt.limit(limit)):
        shown = row.status
        if row.status == "queued" and bus_row is not None:
            if bus_row.status == "dead":
                shown = "dead"
            elif bus_row.attempts > 0:
                shown = "retrying"
        out.append(
            DeliveryView(
                row.id,
                row.client_id,
                name,
                row.event_id,
                row.event_name,
                shown,
                bus_row.attempts if bus_row is not None else 0,
                bus_row.last_error if bus_row is not None else None,
                bus_row.next_attempt_at if bus_row is not None and shown != "dead" else None,
                row.created_at,
                row.delivered_at,
                row.response_status,
                bus_row.id if bus_row is not None else None,
                row.replay_of,
            )
        )
    return out


def redeliver(session: Session, bus: Any, delivery_id: int, *, actor: Any = None) -> str:
    """Send a webhook again: a dead letter is put back in the queue; a delivered or
    cancelled one is queued anew (its event again, under today's scopes). Returns what
    was done: "retried" or "queued"."""
    from core.events.delivery import retry_dead

    row = session.get(ExchangeDelivery, delivery_id)
    if row is None:
        raise ExchangeError(N_("No such delivery."), "delivery_id")
    client = session.get(ExchangeClient, row.client_id)
    if client is None or not client.is_active:
        raise ExchangeError(N_("The client is suspended: resume it first."), "delivery_id")
    bus_row = session.scalar(
        select(Delivery).where(
            Delivery.event_id == row.queue_event_id, Delivery.subscriber == WEBHOOK_SUBSCRIBER_ID
        )
    )
    if row.status == "queued" and bus_row is not None and bus_row.status == "dead":
        retry_dead(session, ids=[bus_row.id])
        done = "retried"
    elif row.status == "queued":
        raise ExchangeError(N_("This delivery is still being tried."), "delivery_id")
    else:
        queue(session, bus, client, row.event_id, row.event_name, replay_of=row.id)
        done = "queued"
    log_audit(
        session,
        "exchange.delivery.redelivered",
        actor=actor,
        target_type="exchange_delivery",
        target_id=row.id,
        detail={"done": done},
    )
    return done


def replay(
    session: Session,
    bus: Any,
    client: ExchangeClient,
    *,
    from_id: int,
    to_id: int,
    actor: Any = None,
) -> int:
    """Queue the client's allowed events with outbox ids in ``from_id..to_id`` again (a
    receiver lost its data, say). Returns how many were queued."""
    if not client.is_active or not client.callback_url:
        raise ExchangeError(
            N_("Only an active client with a callback address can replay."), "client"
        )
    if to_id < from_id:
        raise ExchangeError(N_("The range is empty."), "to_id")
    events = session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.id.between(from_id, to_id), OutboxEvent.name.in_(client.event_types))
        .order_by(OutboxEvent.id)
    )
    count = 0
    for ev in events:
        if envelope_for(client, ev.name, ev.id, ev.payload, ev.created_at) is None:
            continue
        queue(session, bus, client, ev.id, ev.name, replay_of=0)
        count += 1
    log_audit(
        session,
        "exchange.client.replayed",
        actor=actor,
        target_type="exchange_client",
        target_id=client.id,
        detail={"from": from_id, "to": to_id, "queued": count},
    )
    return count


# ---------------------------------------------------------------------------- pull feed


def feed_page(
    session: Session, client: ExchangeClient, *, after: int = 0, limit: int = 50
) -> tuple[list[dict[str, Any]], int]:
    """The client's events with ids after ``after``, oldest first, at most ``limit``;
    returns them with the cursor for the next page (the last id looked at, so skipped
    events of other types are not scanned again). Each page served is logged per person."""
    limit = max(1, min(limit, FEED_MAX_LIMIT))
    rows = session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.id > after, OutboxEvent.name.in_(client.event_types))
        .order_by(OutboxEvent.id)
        .limit(FEED_SCAN)
    ).all()
    items: list[dict[str, Any]] = []
    cursor = after
    for ev in rows:
        cursor = ev.id
        envelope = envelope_for(client, ev.name, ev.id, ev.payload, ev.created_at)
        if envelope is None:
            continue
        items.append(envelope)
        log_disclosure(session, client, envelope, channel="feed")
        if len(items) >= limit:
            break
    audit.write_access_log(session)
    return items, cursor


# ---------------------------------------------------------------------------- facts

#: fact → (registry scopes the client needs, what it answers)
FACTS: dict[str, tuple[tuple[str, ...], str]] = {
    "person.registered": (
        (scoping.IDENTITY,),
        "Is a person with this ID number registered (active) here?",
    ),
    "person.in_community": (
        (scoping.IDENTITY, scoping.BASIC),
        "Does the person with this ID number live in the given community (12-digit code)?",
    ),
}


def answer_fact(
    session: Session,
    client: ExchangeClient,
    *,
    fact: str,
    id_number: str,
    community: str | None = None,
) -> dict[str, Any]:
    """Answer yes or no, never more: the answer carries no name, id or address. A person
    found is logged (the ID number was matched on their record)."""
    from core.registry.services import find_by_id_number, person_community

    if fact not in FACTS:
        raise ExchangeError(N_("Unknown fact."), "fact")
    missing = [s for s in FACTS[fact][0] if s not in client.scopes]
    if missing:
        raise PermissionError(f"this client lacks the scope(s) {', '.join(missing)}")
    if fact == "person.in_community" and not community:
        raise ExchangeError(N_("Give the community code."), "community")
    person = find_by_id_number(session, id_number)
    active = person is not None and person.status == "active"
    answer = active
    if fact == "person.in_community":
        answer = active and person_community(session, person.id) == community
    actor = _client_actor(client)
    if person is not None:
        log_accesses(
            session,
            actor=actor,
            person_ids=[person.id],
            fields=["id_number"],
            via=VIA,
            purpose=f"{client.name}: fact {fact} (query)",
        )
        audit.write_access_log(session)
    # Every question, found or not, is in the audit log: probing shows up there.
    log_audit(
        session,
        "exchange.fact.answered",
        actor=actor,
        target_type="exchange_client",
        target_id=client.id,
        detail={"fact": fact, "found": person is not None},
    )
    return {"fact": fact, "answer": bool(answer), "standard_version": STANDARD_VERSION}
