"""The events the offers listen to (registered in the plugin's ``register_event_handlers``):
registry changes re-evaluate the persons concerned, the grid plugin's referred findings
become outreach items, and an application for an offered service settles its offer.

``registry.person.registered`` and a new birth date are evaluated by the older handler in
``services/handlers.py``; these add the other changes that can make or unmake an offer.
Every handler is idempotent: an offer stands once per person and service.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from plugins.gov_services.services.context import gov, reader_for
from plugins.gov_services.services.proactive import evaluate_persons

#: Fields of ``registry.person.updated`` that the rules read (birth date: the older handler).
RULE_FIELDS = {"sex", "hukou_type", "status", "dwelling_id", "household_id"}


def on_updated(event: Any, session: Session) -> None:
    fields = set(event.payload.get("fields") or ())
    if "birth_date" in fields or not fields & RULE_FIELDS:
        return
    evaluate_persons(session, gov(), [event.payload["person_id"]])


def on_moved(event: Any, session: Session) -> None:
    """A move (or a death): the person's offers follow them, or close when they left."""
    evaluate_persons(session, gov(), [event.payload["person_id"]])


def _with_household(session: Session, person_id: int | None) -> list[int]:
    """The person and the other members of their household (living alone and a member's
    database change with every membership of the household). A member just removed (a
    death, a split) is no longer in the household the event names, and the reader has no
    read of a household by id: those left behind are re-evaluated by the daily job."""
    if not person_id:
        return []
    g = gov()
    reader = reader_for(session, g, None, "gov_services proactive offer")
    if not reader.persons([person_id]):
        return [person_id]
    household = reader.household(person_id)
    members = [m["id"] for m in (household or {}).get("members", ())]
    return sorted({person_id, *members})


def on_household(event: Any, session: Session) -> None:
    evaluate_persons(session, gov(), _with_household(session, event.payload.get("person_id")))


def on_membership(event: Any, session: Session) -> None:
    evaluate_persons(session, gov(), _with_household(session, event.payload.get("person_id")))


def on_finding(event: Any, session: Session) -> None:
    from plugins.gov_services.outreach.services import from_finding

    from_finding(session, gov(), event.payload)


def on_application(event: Any, session: Session) -> None:
    from plugins.gov_services.outreach.services import settle_by_application

    p = event.payload
    settle_by_application(session, p["person_id"], p["service_code"], p.get("state") or "")


def register(bus: Any) -> None:
    """Subscribe the offers' handlers (subscriber ids stay stable: see docs/events.md)."""
    bus.subscribe("registry.person.updated", on_updated, name="offers_on_update")
    bus.subscribe("registry.person.moved", on_moved, name="offers_on_move")
    bus.subscribe("registry.person.deceased", on_moved, name="offers_on_death")
    bus.subscribe("registry.household.changed", on_household, name="offers_on_household")
    bus.subscribe("gov_services.membership.changed", on_membership, name="offers_on_membership")
    bus.subscribe("grid.finding.referred", on_finding, name="offers_from_grid_finding")
    bus.subscribe("gov_services.application.submitted", on_application, name="offers_applied")
    bus.subscribe("gov_services.application.completed", on_application, name="offers_completed")
