"""Filing tickets: by the resident on the web, by the operator for a caller (from
the registry or not), and the one-key call the operator calls back. A new ticket is
dispatched at once when ``auto_dispatch`` is on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.toolkit import N_, utcnow
from plugins.commerce.models import Ticket
from plugins.commerce.services.common import (
    CATEGORIES,
    CHANNELS,
    ELDER_BANDS,
    CommerceError,
    _phone,
    _settings,
    _text,
    get_ticket,
    log_event,
)
from plugins.commerce.services.dispatch import _dispatch_next


def caller_facts(reader: Any, person_id: int, *, reveal: tuple[str, ...] = ()) -> dict[str, Any]:
    """What the hotline needs about a caller from the registry: the person (masked unless
    revealed), the household members, and whether they are elderly and living alone
    (aged 60 or more and the only active resident of their dwelling, or alone in their
    household when no dwelling is known)."""
    person = reader.person(person_id, reveal=list(reveal))
    household = reader.household(person_id) if person.get("household_id") else None
    alone = False
    if person.get("dwelling_id"):
        alone = len(reader.residents(dwelling_id=person["dwelling_id"])) == 1
    elif household is not None:
        alone = len([m for m in household["members"] if m["status"] == "active"]) == 1
    person["elderly"] = person.get("age_band") in ELDER_BANDS
    person["elderly_alone"] = person["elderly"] and alone
    return {"person": person, "household": household}


def lookup_caller(reader: Any, phone: str) -> list[dict[str, Any]]:
    """Registry persons with this phone number (the operator typed what the caller's
    number is), each with household and the elderly-alone flag."""
    phone = _text(phone, "phone", 30, required=True)
    page = reader.search(phone=phone, per_page=5)
    return [caller_facts(reader, item["id"]) for item in page.items]


def _due(cfg: dict[str, Any], start: datetime) -> tuple[datetime, datetime]:
    return (
        start + timedelta(hours=float(cfg["response_hours"])),
        start + timedelta(hours=float(cfg["completion_hours"])),
    )


def create_ticket(
    session: Session,
    bus: Any,
    *,
    channel: str,
    person_id: int | None,
    community: str | None,
    category: str | None,
    description: str,
    caller_address: str = "",
    caller_phone: str = "",
    caller_name: str = "",
    registered_address: bool = True,
    public_area: bool = False,
    elderly_alone: bool = False,
    actor: Any = None,
    settings: dict[str, Any] | None = None,
    state: str = "received",
) -> Ticket:
    """Open a ticket (any channel), start its SLA clocks, publish
    ``commerce.ticket.created`` and, if ``auto_dispatch``, offer it to the best merchant.

    A registry caller (``person_id``) is referred to by id: the merchant gets their
    registered address and phone through the reader. ``caller_*`` are only what the
    registry does not hold — another address or phone for this job, or everything about
    a caller who is not registered (who must then give a phone and an address).
    ``registered_address`` says whether the registry has an address for the person."""
    cfg = _settings(settings)
    if channel not in CHANNELS:
        raise CommerceError(N_("Unknown channel."), "channel")
    caller_address = _text(caller_address, "service_address", 300)
    caller_phone = _phone(caller_phone, "contact_phone")
    caller_name = _text(caller_name, "caller_name", 50)
    if person_id is None:
        if not caller_phone:
            raise CommerceError(
                N_("Give a phone number for the merchant to call."), "contact_phone"
            )
        if not caller_name:
            raise CommerceError(N_("Ask the caller for their name."), "caller_name")
    else:
        caller_name = ""  # the registry has it
    if state == "received":
        if category not in CATEGORIES:
            raise CommerceError(N_("Choose a service category."), "category")
        description = _text(description, "description", 2000, required=True, multiline=True)
        if not caller_address and (person_id is None or not registered_address):
            raise CommerceError(N_("Give the address for the service."), "service_address")
    else:
        description = _text(description, "description", 2000, multiline=True)
    now = utcnow()
    response_due, completion_due = _due(cfg, now)
    ticket = Ticket(
        channel=channel,
        person_id=person_id,
        community=community or None,
        category=category,
        description=description,
        caller_address=caller_address,
        caller_phone=caller_phone,
        caller_name=caller_name,
        public_area=bool(public_area),
        elderly_alone=bool(elderly_alone),
        state=state,
        response_due=response_due,
        completion_due=completion_due,
        created_by_id=getattr(actor, "id", None),
        created_at=now,
    )
    session.add(ticket)
    session.flush()
    log_event(session, ticket, "created", actor=actor)
    bus.publish(
        session,
        "commerce.ticket.created",
        {
            "ticket_id": ticket.id,
            "channel": channel,
            "category": category,
            "community": ticket.community,
            "person_id": person_id,
        },
    )
    if state == "received" and cfg["auto_dispatch"]:
        # the dispatch rule offers it, not whoever filed it: the timeline must not credit
        # the resident (or the operator) with choosing the merchant
        _dispatch_next(session, bus, ticket, settings=cfg, actor=None, mode="auto")
    return ticket


def one_key_call(
    session: Session, bus: Any, reader: Any, *, user: Any, settings: dict[str, Any] | None = None
) -> Ticket:
    """The elderly resident's one-key call (一键呼叫): a ticket referring to their registry
    record, waiting for the operator to call back (the operator sees their phone in full
    for that step, :func:`contact_policy`). Nothing of theirs is copied. One open
    call-back per person is enough: pressing twice returns the same one."""
    person_id = getattr(user, "person_id", None)
    if person_id is None:
        raise CommerceError(
            N_("Verify your account first, so we know who and where you are."), "person", status=409
        )
    existing = session.scalar(
        select(Ticket).where(Ticket.person_id == person_id, Ticket.state == "callback")
    )
    if existing is not None:
        return existing
    person = caller_facts(reader, person_id)["person"]
    ticket = create_ticket(
        session,
        bus,
        channel="one_key",
        person_id=person_id,
        community=person.get("community"),
        category=None,
        description="",
        registered_address=bool(person.get("address")),
        elderly_alone=person["elderly_alone"],
        actor=user,
        settings=settings,
        state="callback",
    )
    log_event(session, ticket, "callback_requested", actor=user)
    return ticket


def complete_callback(
    session: Session,
    bus: Any,
    ticket_id: int,
    *,
    category: str,
    description: str,
    caller_address: str = "",
    caller_phone: str = "",
    registered_address: bool = True,
    public_area: bool = False,
    actor: Any = None,
    settings: dict[str, Any] | None = None,
) -> Ticket:
    """The operator called the resident back and fills in what they need: the ticket is
    received (its SLA clocks restart now) and dispatched like any other. An address or
    phone is given only when the work is somewhere else or the merchant should call
    another number (a governed copy); otherwise the registry's are used."""
    cfg = _settings(settings)
    ticket = get_ticket(session, ticket_id)
    if ticket.state != "callback":
        raise CommerceError(N_("This ticket is not waiting for a call-back."), "", status=409)
    if category not in CATEGORIES:
        raise CommerceError(N_("Choose a service category."), "category")
    ticket.category = category
    ticket.description = _text(description, "description", 2000, required=True, multiline=True)
    caller_address = _text(caller_address, "service_address", 300)
    if caller_address:
        ticket.caller_address = caller_address
    elif not ticket.caller_address and (ticket.person_id is None or not registered_address):
        raise CommerceError(N_("Give the address for the service."), "service_address")
    caller_phone = _phone(caller_phone, "contact_phone")
    if caller_phone:
        ticket.caller_phone = caller_phone
    ticket.public_area = bool(public_area)
    ticket.state = "received"
    ticket.response_due, ticket.completion_due = _due(cfg, utcnow())
    session.flush()
    log_event(session, ticket, "called_back", actor=actor)
    if cfg["auto_dispatch"]:
        _dispatch_next(session, bus, ticket, settings=cfg, actor=actor, mode="auto")
    return ticket
