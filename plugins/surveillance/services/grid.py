"""Grid findings that are safety matters: a grid worker on a visit or a patrol found a
hazard and referred it onward as an incident (``grid.finding.referred``, kind
``"incident"``, declared by the grid plugin).

One incident per finding, whatever the bus redelivers: the incident carries the finding
as its idempotency key (``grid:<finding_id>``) under the reserved ingest client id
:data:`GRID_CLIENT` (0, which no account has), so the table's unique constraint on
``(ingest_client_id, idempotency_key)`` refuses a second row even when two deliveries
race. It is raised through :func:`raise_incident` like every other incident: the same
timeline, the same ``surveillance.incident.raised`` event and burst rules. The payload
holds ids, codes and the worker's words only; the person the finding is about is not
copied into the incident (the grid plugin keeps that link).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.toolkit import account_view
from plugins.surveillance.models import INCIDENT_KINDS, Incident
from plugins.surveillance.services.incidents import raise_incident

#: The event this module answers, and the ingest client id its incidents carry.
FINDING_REFERRED = "grid.finding.referred"
GRID_CLIENT = 0
#: Grid finding categories that name an incident kind of their own (others: "other").
CATEGORY_KINDS = {"fire": "fire_hazard", "flood": "flooding", "fall": "elderly_fallen"}


def finding_key(finding_id: int) -> str:
    return f"grid:{finding_id}"


def incident_for_finding(session: Session, finding_id: int) -> Incident | None:
    """The incident a grid finding became, if any."""
    return session.scalar(select(Incident).where(
        Incident.ingest_client_id == GRID_CLIENT,
        Incident.idempotency_key == finding_key(finding_id)))


def kind_for(category: str | None) -> str:
    """The incident kind of a finding's category: the same code when it is an incident
    kind (``theft``, ``fire_hazard`` ...), a few plain words mapped, else ``other``."""
    code = (category or "").strip().lower()
    if code in INCIDENT_KINDS:
        return code
    return CATEGORY_KINDS.get(code, "other")


def from_finding(session: Session, bus: Any, payload: dict[str, Any]) -> Incident | None:
    """Raise the safety incident of a referred grid finding (kind ``"incident"``; other
    kinds are for other plugins and are ignored). Idempotent per ``finding_id``: a
    second delivery returns the incident the first made."""
    if payload.get("kind") != "incident":
        return None
    finding_id = int(payload["finding_id"])
    found = incident_for_finding(session, finding_id)
    if found is not None:
        return found
    worker = account_view(session, payload.get("referred_by"))
    category = payload.get("category") or ""
    try:
        with session.begin_nested():
            return raise_incident(
                session,
                bus,
                worker,
                source="grid",
                kind=kind_for(category),
                severity="medium",
                description=(payload.get("summary") or "").strip()[:500],
                location=f"grid {payload['grid']}" if payload.get("grid") else "",
                community_code=payload.get("community"),
                grid_code=payload.get("grid"),
                ingest_client_id=GRID_CLIENT,
                idempotency_key=finding_key(finding_id),
            )
    except IntegrityError:  # another delivery made it meanwhile
        found = incident_for_finding(session, finding_id)
        if found is None:
            raise
        return found


def on_finding_referred(event: Any, session: Session) -> None:
    """Subscriber of ``grid.finding.referred``."""
    from core.toolkit import current_kernel

    from_finding(session, current_kernel().bus, event.payload)
