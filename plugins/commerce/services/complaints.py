"""Complaints about the merchant who handled a ticket, and the regulator's
decision on them (dismiss, warn, suspend — the last stops dispatch at once)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.toolkit import N_, utcnow
from plugins.commerce.models import Complaint
from plugins.commerce.services.common import CommerceError, _text, fetch, get_ticket, log_event
from plugins.commerce.services.merchants import decide_merchant


def complain(session: Session, ticket_id: int, *, text: str, actor: Any = None) -> Complaint:
    """A resident complains about the merchant who handled their ticket."""
    ticket = get_ticket(session, ticket_id)
    if ticket.merchant_id is None or ticket.state in ("received", "dispatched", "callback"):
        raise CommerceError(
            N_("You can complain once a merchant has taken the ticket."), "", status=409
        )
    complaint = Complaint(
        ticket_id=ticket.id,
        merchant_id=ticket.merchant_id,
        person_id=ticket.person_id,
        text=_text(text, "text", 1000, required=True, multiline=True),
        created_at=utcnow(),
    )
    session.add(complaint)
    session.flush()
    log_event(session, ticket, "complaint", actor=actor)
    return complaint


def decide_complaint(
    session: Session,
    bus: Any,
    complaint_id: int,
    *,
    action: str,
    note: str,
    actor: Any,
    settings: dict[str, Any] | None = None,
) -> Complaint:
    """The regulator's answer: dismiss, warn the merchant, or suspend it (which stops
    dispatch at once)."""
    complaint = fetch(session, Complaint, complaint_id)
    if complaint is None:
        raise CommerceError(N_("No such complaint."), "complaint", status=404)
    if complaint.status != "open":
        raise CommerceError(N_("This complaint was decided already."), "", status=409)
    if action not in ("dismiss", "warn", "suspend"):
        raise CommerceError(N_("Unknown decision."), "action")
    note = _text(note, "note", 500, required=True, multiline=True)
    if action in ("warn", "suspend"):
        decide_merchant(
            session,
            bus,
            complaint.merchant_id,
            action=action,
            reason=note,
            actor=actor,
            settings=settings,
            complaint_id=complaint.id,
        )
    complaint.status = {"dismiss": "dismissed", "warn": "warned", "suspend": "suspended"}[action]
    complaint.decision_note = note
    complaint.decided_by_id = getattr(actor, "id", None)
    complaint.decided_at = utcnow()
    session.flush()
    return complaint
