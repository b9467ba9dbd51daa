"""Events from the registry: a resident who moved or died flags their open tickets,
so the operator looks at a service address that may be stale."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugins.commerce.models import Ticket
from plugins.commerce.services.common import OPEN_STATES, log_event


def _flag_open(session: Session, person_id: int, flag: str, note: str) -> int:
    """Mark a person's open tickets (idempotent: a flag already set is not set again)."""
    n = 0
    for ticket in session.scalars(
        select(Ticket).where(Ticket.person_id == person_id, Ticket.state.in_(OPEN_STATES))
    ):
        if ticket.flag == flag:
            continue
        ticket.flag = flag
        log_event(session, ticket, f"resident_{flag}", note=note)
        n += 1
    session.flush()
    return n


def on_person_moved(event: Any, session: Session) -> None:
    """``registry.person.moved``: the service address on an open ticket may be stale."""
    p = event.payload
    _flag_open(
        session,
        int(p["person_id"]),
        "moved",
        f"{p.get('from_community') or '—'} → {p.get('to_community') or '—'}",
    )


def on_person_deceased(event: Any, session: Session) -> None:
    """``registry.person.deceased``: the operator must look at open tickets."""
    p = event.payload
    _flag_open(session, int(p["person_id"]), "deceased", str(p.get("died_on") or ""))
