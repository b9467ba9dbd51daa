"""The work after a merchant has accepted: starting, completing with the final price
(a public area's repair is announced as public works), the resident's confirmation, the
follow-up rating (回访) and cancelling. Each step checks the ticket's state."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from core.toolkit import N_, RegistryReader, utcnow
from plugins.commerce.models import Merchant, Ticket
from plugins.commerce.services.common import (
    CATEGORIES,
    OPEN_STATES,
    CommerceError,
    _text,
    fetch,
    get_ticket,
    local_date,
    log_event,
)
from plugins.commerce.services.dispatch import _end_offer


def _held(session: Session, ticket_id: int, merchant_id: int) -> Ticket:
    ticket = get_ticket(session, ticket_id)
    if ticket.merchant_id != merchant_id:
        raise CommerceError(N_("No such ticket."), "ticket", status=404)
    return ticket


def start_work(session: Session, ticket_id: int, *, merchant_id: int, actor: Any = None) -> Ticket:
    ticket = _held(session, ticket_id, merchant_id)
    if ticket.state != "accepted":
        raise CommerceError(N_("Only an accepted ticket can be started."), "", status=409)
    ticket.state, ticket.started_at = "in_progress", utcnow()
    log_event(session, ticket, "started", actor=actor)
    session.flush()
    return ticket


def parse_price(value: Any) -> Decimal:
    try:
        price = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise CommerceError(N_("Enter the price in yuan, e.g. 120.50."), "final_price") from None
    if not price.is_finite() or price < 0 or price > Decimal("1000000"):
        raise CommerceError(N_("Enter the price in yuan, e.g. 120.50."), "final_price")
    return price.quantize(Decimal("0.01"))


def public_works_payload(
    session: Session, ticket: Ticket, merchant: Merchant | None
) -> dict[str, Any]:
    """What ``commerce.public_works.completed`` carries (self_governance turns it into a
    public notice): never the resident's name, phone or flat."""
    from plugins.commerce import info

    community_id = None
    if ticket.community:
        reader = RegistryReader(session, plugin=info.id, scopes=info.data_scopes)
        # a community removed from the registry: publish without it
        community_id = next(
            (c["id"] for c in reader.communities() if c["code"] == ticket.community), None
        )
    en, zh = CATEGORIES.get(ticket.category or "other", CATEGORIES["other"])
    done = local_date(ticket.completed_at)
    return {
        "ticket_id": ticket.id,
        "community_id": community_id,
        "title": f"Public area work completed: {en}",
        "title_zh": f"公共区域服务已完成：{zh}",
        "body": (
            f"{ticket.description}\n\n"
            f"{merchant.name if merchant else ''} · {done} · "
            f"工单 / ticket #{ticket.id}"
        ).strip()[:2000],
    }


def complete(
    session: Session,
    bus: Any,
    ticket_id: int,
    *,
    merchant_id: int,
    final_price: Any,
    note: str = "",
    actor: Any = None,
) -> Ticket:
    """The merchant reports the work done with its final price; publishes
    ``commerce.ticket.completed`` and, for a public-area ticket, also
    ``commerce.public_works.completed``."""
    ticket = _held(session, ticket_id, merchant_id)
    if ticket.state not in ("accepted", "in_progress"):
        raise CommerceError(N_("Only work in progress can be completed."), "", status=409)
    price = parse_price(final_price)
    note = _text(note, "note", 500, multiline=True)
    now = utcnow()
    ticket.state, ticket.completed_at, ticket.final_price = "completed", now, price
    ticket.closed_at = now
    if ticket.started_at is None:
        ticket.started_at = now
    log_event(session, ticket, "completed", actor=actor, note=f"¥{price} {note}".strip())
    session.flush()
    bus.publish(
        session,
        "commerce.ticket.completed",
        {
            "ticket_id": ticket.id,
            "merchant_id": merchant_id,
            "final_price": str(price),
            "on_time": bool(ticket.completion_due is None or now <= ticket.completion_due),
        },
    )
    if ticket.public_area:
        bus.publish(
            session,
            "commerce.public_works.completed",
            public_works_payload(session, ticket, fetch(session, Merchant, merchant_id)),
        )
    return ticket


def confirm(session: Session, ticket_id: int, *, actor: Any = None) -> Ticket:
    """The resident confirms the work was done."""
    ticket = get_ticket(session, ticket_id)
    if ticket.state != "completed":
        raise CommerceError(N_("Only completed work can be confirmed."), "", status=409)
    ticket.state, ticket.confirmed_at = "confirmed", utcnow()
    log_event(session, ticket, "confirmed", actor=actor)
    session.flush()
    return ticket


def rate(
    session: Session,
    bus: Any,
    ticket_id: int,
    *,
    rating: Any,
    comment: str = "",
    actor: Any = None,
    via: str = "resident",
) -> Ticket:
    """The follow-up (回访): a 1–5 rating and a comment, from the resident on the web or
    recorded by the operator after a call-back. Rating completed work confirms it."""
    ticket = get_ticket(session, ticket_id)
    if ticket.state not in ("completed", "confirmed"):
        raise CommerceError(N_("Only completed work can be rated, and only once."), "", status=409)
    try:
        value = int(rating)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= 5:
        raise CommerceError(N_("Choose a rating from 1 to 5."), "rating")
    comment = _text(comment, "comment", 500, multiline=True)
    now = utcnow()
    if ticket.confirmed_at is None:
        ticket.confirmed_at = now
    ticket.state, ticket.rating, ticket.rating_comment, ticket.rated_at = (
        "rated",
        value,
        comment,
        now,
    )
    # who rated is the event's actor (the operator is named, the resident is not); the
    # channel word ("resident") is not put into a note shown in every language
    log_event(session, ticket, "rated", actor=actor, note=f"{value}/5 {comment}".strip())
    session.flush()
    bus.publish(
        session,
        "commerce.ticket.rated",
        {"ticket_id": ticket.id, "merchant_id": ticket.merchant_id, "rating": value, "via": via},
    )
    return ticket


def cancel(session: Session, ticket_id: int, *, reason: str, actor: Any = None) -> Ticket:
    ticket = get_ticket(session, ticket_id)
    if ticket.state not in OPEN_STATES:
        raise CommerceError(N_("Only an open ticket can be cancelled."), "", status=409)
    reason = _text(reason, "reason", 500, required=True)
    if ticket.state == "dispatched" and ticket.merchant_id:
        _end_offer(session, ticket.id, ticket.merchant_id, "withdrawn")
    ticket.state, ticket.accept_by, ticket.closed_at = "cancelled", None, utcnow()
    log_event(session, ticket, "cancelled", actor=actor, note=reason)
    session.flush()
    return ticket
