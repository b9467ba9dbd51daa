"""Reading tickets: the filtered list the pages and the API page through, overdue
tickets, the timeline and dispatch log, and what the merchant's portal shows."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from core.toolkit import utcnow
from plugins.commerce.models import Dispatch, Merchant, Ticket, TicketEvent
from plugins.commerce.services.common import OPEN_STATES


def tickets_query(
    *,
    state: str | None = None,
    overdue: bool = False,
    person_id: int | None = None,
    merchant_id: int | None = None,
    communities: set[str] | frozenset[str] | None = None,
    now: datetime | None = None,
) -> Select:
    """Tickets newest first. ``communities`` (a place-scoped viewer's, see
    :func:`viewer_communities`) keeps only tickets of those communities; ``None`` is all."""
    query = select(Ticket).order_by(Ticket.created_at.desc(), Ticket.id.desc())
    if communities is not None:
        query = query.where(Ticket.community.in_(sorted(communities) or ["-"]))
    if state:
        query = query.where(Ticket.state == state)
    if person_id is not None:
        query = query.where(Ticket.person_id == person_id)
    if merchant_id is not None:
        query = query.where(Ticket.merchant_id == merchant_id)
    if overdue:
        now = now or utcnow()
        query = query.where(
            or_(
                (Ticket.state.in_(("callback", "received", "dispatched")))
                & (Ticket.response_due < now),
                (Ticket.state.in_(OPEN_STATES)) & (Ticket.completion_due < now),
            )
        )
    return query


def is_overdue(ticket: Ticket, now: datetime | None = None) -> bool:
    now = now or utcnow()
    if (
        ticket.state in ("callback", "received", "dispatched")
        and ticket.response_due
        and ticket.response_due < now
    ):
        return True
    return bool(
        ticket.state in OPEN_STATES and ticket.completion_due and ticket.completion_due < now
    )


def timeline(session: Session, ticket_id: int) -> list[TicketEvent]:
    return list(
        session.scalars(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket_id)
            .order_by(TicketEvent.at, TicketEvent.id)
        )
    )


def dispatch_log(session: Session, ticket_id: int) -> list[Dispatch]:
    return list(
        session.scalars(
            select(Dispatch)
            .where(Dispatch.ticket_id == ticket_id)
            .order_by(Dispatch.offered_at, Dispatch.id)
        )
    )


def merchant_view(ticket: Ticket, contact: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a merchant sees of a ticket: the job, and the contact as :func:`contact_view`
    shows it to them (the address down to the building while offered or once done; name,
    address and phone in full only while they hold it open). Never the registry person,
    the household or flags."""
    contact = contact or {}
    return {
        "id": ticket.id,
        "state": ticket.state,
        "category": ticket.category,
        "description": ticket.description,
        "community": ticket.community,
        "public_area": ticket.public_area,
        "service_address": contact.get("address") or "",
        "contact_name": contact.get("name") or "",
        "contact_phone": contact.get("phone") or "",
        "contact_full": contact.get("full") or [],
        "accept_by": ticket.accept_by,
        "created_at": ticket.created_at,
        "completion_due": ticket.completion_due,
        "final_price": ticket.final_price,
        "rating": ticket.rating,
    }


def tickets_by_merchant(session: Session, ids: list[int]) -> dict[int, Merchant]:
    if not ids:
        return {}
    return {m.id: m for m in session.scalars(select(Merchant).where(Merchant.id.in_(ids)))}


def counts_by_state(session: Session, merchant_id: int) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for state, n in session.execute(
        select(Ticket.state, func.count())
        .where(Ticket.merchant_id == merchant_id)
        .group_by(Ticket.state)
    ):
        out[state] = n
    return dict(out)
