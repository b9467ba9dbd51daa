"""Telling the resident what happened to their ticket: offered to a merchant, accepted,
and done (with the invitation to rate it — without it nothing asks for the 回访).

Subscribers of the hotline's own events, so every path that moves a ticket (the web,
the hotline console, the API, the re-dispatch job) tells the resident the same way, and
only once the step is committed. Each notification is a ``Message``, told in the language
the resident reads it in, not in that of the merchant or operator whose click caused it,
and links to the resident's ticket page, which marks it read when opened.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.toolkit import Message, accounts_for_person, notify
from plugins.commerce.models import Merchant, Ticket
from plugins.commerce.services.common import fetch

PLUGIN = "commerce"


def ticket_link(ticket_id: int) -> str:
    """The resident's page of the ticket (``commerce.my_ticket``)."""
    return f"/commerce/my/{ticket_id}"


def _residents(session: Session, ticket: Ticket) -> list[int]:
    """The accounts of the ticket's registry person: the ones that open ``/commerce/my``.
    A caller who is not in the registry has no account to tell (the operator calls)."""
    if ticket.person_id is None:
        return []
    return [a.id for a in accounts_for_person(session, ticket.person_id) if a.is_active]


def _tell(session: Session, ticket: Ticket, title: Message, body: Message,
          kind: str = "info") -> int:
    """Tell each of the ticket's residents; the Messages are rendered in the language each
    reads them in. A merchant's name and phone are data, shown as they are."""
    n = 0
    for uid in _residents(session, ticket):
        notify(session, None, user_id=uid, title=title, body=body,
               link=ticket_link(ticket.id), kind=kind, source=PLUGIN)
        n += 1
    return n


def _merchant_name(session: Session, merchant_id: int | None) -> str:
    merchant = fetch(session, Merchant, merchant_id)
    return merchant.name if merchant is not None else ""


def on_ticket_dispatched(event: Any, session: Session) -> None:
    """``commerce.ticket.dispatched``: the request went to a merchant, who must accept."""
    ticket = fetch(session, Ticket, event.payload["ticket_id"])
    if ticket is None or ticket.state != "dispatched":
        return  # accepted or moved on before this ran: the later notice says what counts
    name = _merchant_name(session, event.payload["merchant_id"])
    _tell(session, ticket,
          Message("Ticket %(id)s: sent to %(merchant)s", id=ticket.id, merchant=name),
          Message("The merchant is asked to accept it; you are told when they do."))


def on_ticket_accepted(event: Any, session: Session) -> None:
    """``commerce.ticket.accepted``: a merchant holds the job and will get in touch."""
    ticket = fetch(session, Ticket, event.payload["ticket_id"])
    if ticket is None:
        return
    merchant = fetch(session, Merchant, event.payload["merchant_id"])
    name = merchant.name if merchant else ""
    phone = merchant.phone if merchant else ""
    _tell(session, ticket,
          Message("Ticket %(id)s: %(merchant)s accepted your request", id=ticket.id,
                  merchant=name),
          Message("They will contact you to arrange the work. Their phone: %(phone)s.",
                  phone=phone)
          if phone else Message("They will contact you to arrange the work."),
          kind="success")


def on_ticket_completed(event: Any, session: Session) -> None:
    """``commerce.ticket.completed``: the merchant reported the work done; the resident
    is asked to confirm and rate it (the rating is what keeps merchants honest)."""
    ticket = fetch(session, Ticket, event.payload["ticket_id"])
    if ticket is None or ticket.state not in ("completed", "confirmed"):
        return  # rated (or cancelled) before this ran: there is nothing left to invite
    name = _merchant_name(session, event.payload["merchant_id"])
    price = event.payload.get("final_price", "")
    _tell(session, ticket,
          Message("Ticket %(id)s is done: please rate the service", id=ticket.id),
          Message("%(merchant)s reported the work done (final price ¥%(price)s). Open the "
                  "ticket to confirm it and rate the service.", merchant=name, price=price),
          kind="success")
