"""The registry's events this plugin subscribes to: a move or a death flags the person's
open cases and memberships for a person to review (a death also ends the memberships);
a new birth date may make a longevity offer due.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugins.gov_services.models import Application, Membership
from plugins.gov_services.services.context import Gov, gov
from plugins.gov_services.services.proactive import proactive_longevity
from plugins.gov_services.services.thematic import end_membership
from plugins.gov_services.services.vocabulary import OPEN_STATES
from plugins.gov_services.services.workflow import record_step


def _flag(session: Session, g: Gov, person_id: int, text: str) -> int:
    """Flag the person's open applications and active memberships for review (nothing is
    deleted or decided automatically: a person decides)."""
    n = 0
    for app in session.scalars(
        select(Application).where(
            Application.person_id == person_id, Application.state.in_(OPEN_STATES)
        )
    ):
        if app.review_flag != text:
            app.review_flag = text
            record_step(app, "flag", app.state, None, text)
            n += 1
    for row in session.scalars(
        select(Membership).where(Membership.person_id == person_id, Membership.ended_on.is_(None))
    ):
        row.review_flag = text
        n += 1
    session.flush()
    return n


def handler_for(name: str) -> Any:
    """Subscribers run inside the app context the dispatcher provides, so the kernel is
    looked up at delivery time."""

    def on_moved(event: Any, session: Session) -> None:
        p = event.payload
        where = p.get("to_community") or "outside the area"
        _flag(
            session,
            gov(),
            p["person_id"],
            # the communities only (the case's place): when and where exactly is the
            # registry's to say, read and logged when someone looks
            f"moved {p.get('from_community') or '?'} → {where}",
        )

    def on_deceased(event: Any, session: Session) -> None:
        g = gov()
        p = event.payload
        _flag(session, g, p["person_id"], "deceased")  # the date stays in the registry
        for row in list(
            session.scalars(
                select(Membership).where(
                    Membership.person_id == p["person_id"], Membership.ended_on.is_(None)
                )
            )
        ):
            end_membership(session, g, row, reason="deceased")

    def on_person(event: Any, session: Session) -> None:
        p = event.payload
        if event.name == "registry.person.updated" and "birth_date" not in p.get("fields", []):
            return
        proactive_longevity(session, gov(), person_ids=[p["person_id"]])

    return {"moved": on_moved, "deceased": on_deceased, "person": on_person}[name]
