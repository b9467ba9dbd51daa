"""What may leave for a client, and the record that it left.

:func:`envelope_for` is the one place that decides: the event type must be granted, the
event's subject must be within the client's registry scopes, and fields of other scopes
are removed. Every time personal data leaves — a webhook delivered, a feed page served, a
fact answered — each person named gets an access-log entry with the client's name
(:func:`log_disclosure`), so residents see which departments received their data. The
pull feed and the fact queries live here because they are nothing but that decision and
that record; the webhooks (:mod:`.webhooks`) call the same two functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import services as audit
from core.audit.services import log_audit
from core.db import utcnow
from core.events.models import OutboxEvent
from core.exchange import scoping
from core.exchange.models import ExchangeClient
from core.exchange.services.errors import N_, ExchangeError
from core.exchange.standard import INTERNAL_PREFIX, STANDARD_VERSION

#: Outbox rows scanned per feed page at most (events of other types are skipped).
FEED_SCAN = 1000

FEED_MAX_LIMIT = 200


VIA = "exchange"


def actor_name(client: ExchangeClient) -> str:
    """How an exchange client appears in access and audit logs: ``exchange:<name>``."""
    return f"exchange:{client.name}"[:64]


def _client_actor(client: ExchangeClient) -> SimpleNamespace:
    return SimpleNamespace(id=None, username=actor_name(client))


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


# ---------------------------------------------------------------------------- pull feed


def feed_page(
    session: Session, client: ExchangeClient, *, after: int = 0, limit: int = 50
) -> tuple[list[dict[str, Any]], int]:
    """The client's events with ids after ``after``, oldest first, at most ``limit``;
    returns them with the cursor for the next page (the last id looked at, so skipped
    events of other types are not scanned again). Each page served is logged per person."""
    limit = max(1, min(limit, FEED_MAX_LIMIT))
    # A client starts at its registration (or its backfill grant): an older cursor,
    # 0 included, reads on from there.
    after = max(after, client.feed_start or 0)
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
