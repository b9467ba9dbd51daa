"""Merchants: applying to join (the credit code checked against the registry's
organisations), vetting decisions (approve, suspend, revoke, warn — a suspension withdraws
the merchant's offers at once), staff bindings and the public directory."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from core.toolkit import N_, IdentifierError, parse_credit_code, utcnow
from plugins.commerce.models import Merchant, MerchantLog, MerchantStaff, Ticket
from plugins.commerce.services.common import (
    CATEGORIES,
    DECISIONS,
    CommerceError,
    _name,
    _text,
    fetch,
    log_event,
)
from plugins.commerce.services.dispatch import _dispatch_next, _end_offer
from plugins.commerce.services.scorecards import Scorecard, scorecards


def merchant_for_user(session: Session, user_id: int | None) -> Merchant | None:
    """The merchant a staff account is bound to (None for everybody else)."""
    if user_id is None:
        return None
    return session.scalar(
        select(Merchant)
        .join(MerchantStaff, MerchantStaff.merchant_id == Merchant.id)
        .where(MerchantStaff.user_id == user_id)
    )


def bind_staff(session: Session, user_id: int, merchant_id: int) -> None:
    """Bind an account to a merchant; an account works for one merchant only."""
    row = fetch(session, MerchantStaff, user_id)
    if row is not None and row.merchant_id != merchant_id:
        raise CommerceError(
            N_("This account already works for another merchant."), "user", status=409
        )
    if row is None:
        session.add(MerchantStaff(user_id=user_id, merchant_id=merchant_id))
        session.flush()


def _clean_codes(values: Any, allowed: dict | set | None, field: str) -> list[str]:
    out = []
    for v in values or []:
        v = str(v).strip()
        if not v:
            continue
        if allowed is not None and v not in allowed:
            raise CommerceError(N_("Unknown value: %(value)s."), field, value=v[:30])
        if v not in out:
            out.append(v)
    if not out:
        raise CommerceError(N_("Choose at least one."), field)
    return out


def apply_merchant(
    session: Session,
    reader: Any,
    *,
    credit_code: str,
    name: str,
    categories: list[str],
    communities: list[str],
    opening_hours: str = "",
    price_list: str = "",
    phone: str = "",
    user: Any = None,
    community_codes: set[str] | None = None,
) -> Merchant:
    """A merchant applies: its organisation must be registered (found by its credit code,
    which the registry validated) and not applied already. The applying account becomes
    the merchant's first staff account."""
    try:
        credit_code = parse_credit_code(_text(credit_code, "credit_code", 30, required=True)).code
    except IdentifierError:
        raise CommerceError(
            N_(
                "This is not a valid unified social credit code (18 characters, check "
                "character last)."
            ),
            "credit_code",
        ) from None
    org = reader.organisation(credit_code=credit_code)
    if org is None:
        raise CommerceError(
            N_(
                "No organisation with this unified social credit code is registered. "
                "Register it with the community office first."
            ),
            "credit_code",
        )
    if org["status"] != "active":
        raise CommerceError(N_("This organisation is closed."), "credit_code")
    if session.scalar(select(Merchant.id).where(Merchant.organisation_id == org["id"])):
        raise CommerceError(N_("This organisation has applied already."), "credit_code", status=409)
    merchant = Merchant(
        organisation_id=org["id"],
        name=_text(name, "name", 100, required=True),
        categories=_clean_codes(categories, CATEGORIES, "categories"),
        communities=_clean_codes(communities, community_codes, "communities"),
        opening_hours=_text(opening_hours, "opening_hours", 200),
        price_list=_text(price_list, "price_list", 2000, multiline=True),
        phone=_text(phone, "phone", 30),
        status="applied",
        applied_by_id=getattr(user, "id", None),
        created_at=utcnow(),
    )
    session.add(merchant)
    session.flush()
    actor_id, actor_name = _name(user)
    session.add(
        MerchantLog(
            merchant_id=merchant.id,
            action="applied",
            actor_id=actor_id,
            actor_name=actor_name,
            at=utcnow(),
        )
    )
    if user is not None and getattr(user, "id", None) is not None:
        bind_staff(session, user.id, merchant.id)
    session.flush()
    return merchant


def decide_merchant(
    session: Session,
    bus: Any,
    merchant_id: int,
    *,
    action: str,
    reason: str,
    actor: Any,
    settings: dict[str, Any] | None = None,
    complaint_id: int | None = None,
) -> Merchant:
    """A regulator approves, suspends, revokes, reinstates (approve) or warns a merchant,
    always with a reason. Suspension and revocation stop dispatch at once: the merchant
    drops out of the ranking and its pending offers go to the next merchant."""
    merchant = fetch(session, Merchant, merchant_id)
    if merchant is None:
        raise CommerceError(N_("No such merchant."), "merchant", status=404)
    if action not in DECISIONS:
        raise CommerceError(N_("Unknown decision."), "action")
    reason = _text(reason, "reason", 500, required=True, multiline=True)
    allowed_from, new_status = DECISIONS[action]
    if merchant.status not in allowed_from:
        raise CommerceError(
            N_("This decision does not apply to a merchant in this state."), "action", status=409
        )
    actor_id, actor_name = _name(actor)
    now = utcnow()
    if action == "warn":
        merchant.warnings += 1
    else:
        merchant.status = new_status
        merchant.status_reason = reason
        merchant.decided_by_id = actor_id
        merchant.decided_at = now
    session.add(
        MerchantLog(
            merchant_id=merchant.id,
            action=action,
            reason=reason,
            actor_id=actor_id,
            actor_name=actor_name,
            at=now,
        )
    )
    session.flush()
    if action in ("suspend", "revoke"):
        if action == "suspend":
            bus.publish(
                session,
                "commerce.merchant.suspended",
                {
                    "merchant_id": merchant.id,
                    "organisation_id": merchant.organisation_id,
                    "reason": reason,
                    "complaint_id": complaint_id,
                },
            )
        _withdraw_offers(session, bus, merchant, settings=settings, actor=actor)
    return merchant


def _withdraw_offers(
    session: Session, bus: Any, merchant: Merchant, *, settings: dict[str, Any] | None, actor: Any
) -> None:
    tickets = session.scalars(
        select(Ticket).where(Ticket.merchant_id == merchant.id, Ticket.state == "dispatched")
    ).all()
    for ticket in tickets:
        moved = session.execute(
            update(Ticket)
            .where(
                Ticket.id == ticket.id,
                Ticket.state == "dispatched",
                Ticket.merchant_id == merchant.id,
            )
            .values(state="received", merchant_id=None, accept_by=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not moved:
            continue
        _end_offer(session, ticket.id, merchant.id, "withdrawn")
        session.refresh(ticket)
        log_event(session, ticket, "withdrawn", actor=actor, note=merchant.name)
        _dispatch_next(session, bus, ticket, settings=settings, actor=None, mode="redispatch")


def merchants_query(*, status: str | None = None, category: str | None = None) -> Select:
    query = select(Merchant).order_by(Merchant.name, Merchant.id)
    if status:
        query = query.where(Merchant.status == status)
    return query


def directory(
    session: Session,
    *,
    category: str | None = None,
    community: str | None = None,
    settings: dict[str, Any] | None = None,
) -> list[tuple[Merchant, Scorecard]]:
    """Approved merchants for residents, best score first, filtered in Python by category
    and community (JSON lists; the directory is small)."""
    rows = [
        m
        for m in session.scalars(merchants_query(status="approved"))
        if (not category or category in (m.categories or []))
        and (not community or community in (m.communities or []))
    ]
    cards = scorecards(session, [m.id for m in rows], settings)
    return sorted(
        ((m, cards[m.id]) for m in rows), key=lambda mc: (-mc[1].score, mc[0].name, mc[0].id)
    )


def flagged_merchants(
    session: Session, settings: dict[str, Any] | None = None
) -> list[tuple[Merchant, Scorecard]]:
    rows = list(session.scalars(merchants_query(status="approved")))
    cards = scorecards(session, [m.id for m in rows], settings)
    return [(m, cards[m.id]) for m in rows if cards[m.id].flagged]


def merchant_log(session: Session, merchant_id: int) -> list[MerchantLog]:
    return list(
        session.scalars(
            select(MerchantLog)
            .where(MerchantLog.merchant_id == merchant_id)
            .order_by(MerchantLog.at, MerchantLog.id)
        )
    )
