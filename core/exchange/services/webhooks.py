"""Webhooks: queued on the event bus, sent signed, to an address the network policy allows.

A subscriber on ``*`` (:func:`fan_out_event`) creates one
:class:`~core.exchange.models.ExchangeDelivery` per client and event, each with its own
``core.webhook.queued`` outbox event; the ``core:exchange_webhook`` subscriber sends it
(:func:`send_webhook`). Retries with back-off, dead letters and their retry are therefore
the bus's; this module adds what is particular to a webhook: the network policy, the
signature, the redelivery and replay an administrator asks for.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from marshmallow import Schema, fields
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import services as audit
from core.audit.services import log_audit
from core.db import utcnow
from core.events.models import Delivery, OutboxEvent
from core.exchange import netguard
from core.exchange.models import ExchangeClient, ExchangeDelivery
from core.exchange.services.disclosure import envelope_for, log_disclosure
from core.exchange.services.errors import N_, ExchangeError, WebhookError
from core.exchange.services.signing import signature_header
from core.exchange.standard import INTERNAL_PREFIX

QUEUED_EVENT = "core.webhook.queued"

FAN_OUT_SUBSCRIBER = "exchange_fan_out"

WEBHOOK_SUBSCRIBER = "exchange_webhook"

#: The bus subscriber id whose delivery rows carry a webhook's attempts and last error.
WEBHOOK_SUBSCRIBER_ID = f"core:{WEBHOOK_SUBSCRIBER}"

#: Seconds a receiver has to answer; kept short because the bus holds the delivery's row
#: lock while the request runs.
WEBHOOK_TIMEOUT = 10.0

#: What an administrator sees when a webhook could not be delivered for a network reason
#: (refused, timed out, reset, not an HTTP answer, name unknown): one text for all, so
#: the error does not tell an open port from a closed one. The detail is in the server log.
NETWORK_ERROR = "could not deliver (network error)"

#: The callback address resolved to an address the network policy refuses.
ADDRESS_REFUSED = "could not deliver (address not allowed)"

#: The logger keeps the name it had before the package was split (operators filter on it).
log = logging.getLogger("core.exchange.services")
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


class WebhookQueued(Schema):
    delivery_id = fields.Integer(required=True)


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
        if client.id in done or event.id <= (client.feed_start or 0):
            continue  # (an event from before the client's registration: no history)
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
    # Not before the client's start: older history needs a backfill grant.
    from_id = max(from_id, (client.feed_start or 0) + 1)
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
