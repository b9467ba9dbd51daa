"""Dispatch: a ticket in ``received`` is offered to one merchant at a time
(``dispatched``, with an ``accept_by`` deadline). Candidates are approved merchants of the
ticket's category serving its community, ranked by score (higher first) then current load
(fewer open tickets first). A merchant that declines, lets the deadline pass, or is
suspended loses the offer and the next candidate gets it; when nobody is left the ticket
goes back to ``received`` for the operator. Accepting is one conditional UPDATE
(``WHERE state = 'dispatched' AND merchant_id = :me``): the database lets exactly one
writer win, and a partial unique index allows one accepted offer per ticket."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.toolkit import N_, utcnow
from plugins.commerce.models import Dispatch, Merchant, Ticket
from plugins.commerce.services.common import (
    CommerceError,
    _settings,
    _text,
    fetch,
    get_ticket,
    log_event,
)
from plugins.commerce.services.scorecards import Scorecard, scorecards


def rank_merchants(
    session: Session,
    category: str | None,
    community: str | None,
    *,
    exclude: set[int] | frozenset[int] = frozenset(),
    settings: dict[str, Any] | None = None,
) -> list[tuple[Merchant, Scorecard]]:
    """Dispatch candidates, best first: approved (hence not suspended or revoked)
    merchants of the category serving the community, by score, then load, then id."""
    rows = [
        m
        for m in session.scalars(select(Merchant).where(Merchant.status == "approved"))
        if m.id not in exclude
        and category in (m.categories or [])
        and (community is None or community in (m.communities or []))
    ]
    cards = scorecards(session, [m.id for m in rows], settings)
    return sorted(
        ((m, cards[m.id]) for m in rows), key=lambda mc: (-mc[1].score, mc[1].load, mc[0].id)
    )


def _offered(session: Session, ticket_id: int) -> set[int]:
    return set(session.scalars(select(Dispatch.merchant_id).where(Dispatch.ticket_id == ticket_id)))


def _end_offer(session: Session, ticket_id: int, merchant_id: int, outcome: str) -> None:
    session.execute(
        update(Dispatch)
        .where(
            Dispatch.ticket_id == ticket_id,
            Dispatch.merchant_id == merchant_id,
            Dispatch.outcome == "offered",
        )
        .values(outcome=outcome, ended_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _offer(
    session: Session,
    bus: Any,
    ticket: Ticket,
    merchant: Merchant,
    *,
    mode: str,
    cfg: dict[str, Any],
    actor: Any,
) -> Ticket:
    now = utcnow()
    accept_by = now + timedelta(minutes=float(cfg["accept_timeout_minutes"]))
    moved = session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.state == "received")
        .values(state="dispatched", merchant_id=merchant.id, dispatched_at=now, accept_by=accept_by)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        raise CommerceError(N_("This ticket cannot be dispatched now."), "", status=409)
    session.add(
        Dispatch(
            ticket_id=ticket.id,
            merchant_id=merchant.id,
            mode=mode,
            outcome="offered",
            offered_at=now,
        )
    )
    session.flush()
    session.refresh(ticket)
    log_event(session, ticket, "dispatched", actor=actor, note=merchant.name)
    bus.publish(
        session,
        "commerce.ticket.dispatched",
        {
            "ticket_id": ticket.id,
            "merchant_id": merchant.id,
            "mode": mode,
            "accept_by": accept_by.isoformat(),
        },
    )
    return ticket


def _dispatch_next(
    session: Session, bus: Any, ticket: Ticket, *, settings: dict | None, actor: Any, mode: str
) -> Merchant | None:
    """Offer a received ticket to the best merchant not offered it yet; None (and a
    timeline note for the operator) when nobody is left."""
    cfg = _settings(settings)
    ranked = rank_merchants(
        session,
        ticket.category,
        ticket.community,
        exclude=_offered(session, ticket.id),
        settings=cfg,
    )
    if not ranked:
        log_event(session, ticket, "no_merchant", actor=None)
        return None
    merchant = ranked[0][0]
    _offer(session, bus, ticket, merchant, mode=mode, cfg=cfg, actor=actor)
    return merchant


def dispatch(
    session: Session,
    bus: Any,
    ticket_id: int,
    *,
    merchant_id: int | None = None,
    actor: Any = None,
    settings: dict[str, Any] | None = None,
) -> Ticket:
    """Dispatch a received ticket: to the merchant the operator chose (it must be an
    approved candidate for the ticket), or to the best-ranked one."""
    cfg = _settings(settings)
    ticket = get_ticket(session, ticket_id)
    if ticket.state != "received":
        raise CommerceError(N_("Only a received ticket can be dispatched."), "", status=409)
    if merchant_id is None:
        if _dispatch_next(session, bus, ticket, settings=cfg, actor=actor, mode="auto") is None:
            raise CommerceError(
                N_("No approved merchant serves this category here."), "merchant_id", status=409
            )
        return ticket
    candidates = {
        m.id: m for m, _ in rank_merchants(session, ticket.category, ticket.community, settings=cfg)
    }
    if merchant_id not in candidates:
        raise CommerceError(N_("This merchant cannot take this ticket."), "merchant_id", status=409)
    return _offer(
        session, bus, ticket, candidates[merchant_id], mode="manual", cfg=cfg, actor=actor
    )


def accept(
    session: Session, bus: Any, ticket_id: int, *, merchant_id: int, actor: Any = None
) -> Ticket:
    """The merchant holding the offer accepts. One conditional UPDATE decides: if another
    merchant won, or the offer moved on, the row count is 0 and this is a 409."""
    now = utcnow()
    won = session.execute(
        update(Ticket)
        .where(
            Ticket.id == ticket_id, Ticket.state == "dispatched", Ticket.merchant_id == merchant_id
        )
        .values(state="accepted", accepted_at=now, accept_by=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        raise CommerceError(N_("This ticket is no longer offered to you."), "", status=409)
    _end_offer(session, ticket_id, merchant_id, "accepted")
    session.flush()
    ticket = get_ticket(session, ticket_id)
    session.refresh(ticket)
    merchant = fetch(session, Merchant, merchant_id)
    log_event(session, ticket, "accepted", actor=actor, note=merchant.name if merchant else "")
    bus.publish(
        session, "commerce.ticket.accepted", {"ticket_id": ticket_id, "merchant_id": merchant_id}
    )
    return ticket


def decline(
    session: Session,
    bus: Any,
    ticket_id: int,
    *,
    merchant_id: int,
    reason: str = "",
    actor: Any = None,
    settings: dict[str, Any] | None = None,
) -> Ticket:
    """The merchant holding the offer declines; the next merchant gets it."""
    reason = _text(reason, "reason", 500)
    moved = session.execute(
        update(Ticket)
        .where(
            Ticket.id == ticket_id, Ticket.state == "dispatched", Ticket.merchant_id == merchant_id
        )
        .values(state="received", merchant_id=None, accept_by=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise CommerceError(N_("This ticket is no longer offered to you."), "", status=409)
    _end_offer(session, ticket_id, merchant_id, "declined")
    ticket = get_ticket(session, ticket_id)
    session.refresh(ticket)
    log_event(session, ticket, "declined", actor=actor, note=reason)
    _dispatch_next(session, bus, ticket, settings=settings, actor=None, mode="redispatch")
    return ticket


def redispatch_expired(
    session: Session,
    bus: Any,
    *,
    settings: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> int:
    """Offers whose ``accept_by`` passed go to the next merchant (the CLI
    ``shequ commerce redispatch`` and the queue pages run this). Each expiry is its own
    conditional UPDATE, so a merchant accepting at the same moment either wins or finds
    the offer gone — never both."""
    now = now or utcnow()
    moved = 0
    rows = session.execute(
        select(Ticket.id, Ticket.merchant_id).where(
            Ticket.state == "dispatched", Ticket.accept_by < now
        )
    ).all()
    for ticket_id, merchant_id in rows:
        n = session.execute(
            update(Ticket)
            .where(
                Ticket.id == ticket_id,
                Ticket.state == "dispatched",
                Ticket.merchant_id == merchant_id,
                Ticket.accept_by < now,
            )
            .values(state="received", merchant_id=None, accept_by=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if n != 1:
            continue
        _end_offer(session, ticket_id, merchant_id, "expired")
        ticket = get_ticket(session, ticket_id)
        session.refresh(ticket)
        log_event(session, ticket, "expired")
        _dispatch_next(session, bus, ticket, settings=settings, actor=None, mode="redispatch")
        moved += 1
    session.flush()
    return moved
