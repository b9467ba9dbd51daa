"""Event subscribers. Each works in the session it is given, never commits, and is
idempotent (delivery is at least once)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.toolkit import Message, current_kernel, local_zone, notify, utcnow
from plugins.grid.models import GridFinding, GridSubject
from plugins.grid.services.common import place_of, today
from plugins.grid.services.rules import active_rules
from plugins.grid.services.subjects import end_subjects, upsert_subject


def _day(value: Any, kernel: Any = None) -> date:
    try:
        return date.fromisoformat(str(value)[:10]) if value else today(kernel)
    except ValueError:
        return today(kernel)


def _arrival(session: Session, person_id: int, on: date) -> None:
    for rule in active_rules():
        if rule.source == "arrival":
            upsert_subject(session, person_id=person_id, rule=rule, since=on)


def on_registered(event: Any, session: Session) -> None:
    """``registry.person.registered``: a new resident is visited within the arrival
    rule's interval."""
    _arrival(session, event.payload["person_id"], event.created_at.astimezone(local_zone()).date())


def on_moved(event: Any, session: Session) -> None:
    """``registry.person.moved``: moved in (to a community) is an arrival; every existing
    subject row follows the person to their new place, or ends when they left the area."""
    p = event.payload
    person_id = p["person_id"]
    on = _day(p.get("on"))
    if not p.get("to_community"):
        end_subjects(session, person_id, on=on)
        return
    places = place_of(session, person_id)
    for row in session.scalars(select(GridSubject).where(GridSubject.person_id == person_id)):
        if places is not None:
            row.community, row.grid = places["community"], places["grid"]
    if p.get("to_community") != p.get("from_community"):
        _arrival(session, person_id, on)


def on_deceased(event: Any, session: Session) -> None:
    """``registry.person.deceased``: nobody is due a visit any more."""
    end_subjects(session, event.payload["person_id"], on=_day(event.payload.get("died_on")))


def on_membership(event: Any, session: Session) -> None:
    """``gov_services.membership.changed``: keep only the person id and the database code
    (a governed reference) for the rules that name that database."""
    p = event.payload
    for rule in active_rules():
        if rule.source != "membership" or rule.database != p.get("database"):
            continue
        if p.get("change") == "added":
            upsert_subject(session, person_id=p["person_id"], rule=rule,
                           since=today(), database=rule.database)
        else:
            end_subjects(session, p["person_id"], on=today(), rule=rule.code)


STATES = {"filed": "filed", "answered": "answered", "closed": "closed"}


def on_matter(event: Any, session: Session) -> None:
    """``matters.matter.filed|answered|closed`` for a matter the grid referred (source
    "grid", source_id the finding): show the onward status on the finding, and tell the
    worker who referred it when it was answered or closed. From the payload alone."""
    p = event.payload
    verb = event.name.rsplit(".", 1)[-1]
    if p.get("source") != "grid" or not p.get("source_id") or verb not in STATES:
        return
    finding = session.get(GridFinding, p["source_id"])
    if finding is None or finding.kind != "matter":
        return
    rank = {"": 0, "filed": 1, "answered": 2, "closed": 3}
    if rank.get(finding.onward_state, 0) >= rank[verb]:
        return  # a repeat, or an older state delivered late
    finding.onward_state = verb
    finding.onward_reference = str(p.get("reference") or "")[:60]
    finding.onward_id = p.get("matter_id")
    finding.onward_at = utcnow()
    if verb in ("answered", "closed") and finding.referred_by_id:
        uid = finding.referred_by_id
        # Told in the language the worker reads it in; the summary is what a worker wrote.
        title = (Message("Matter %(ref)s was answered", ref=finding.onward_reference)
                 if verb == "answered" else
                 Message("Matter %(ref)s was closed", ref=finding.onward_reference))
        notify(session, current_kernel().bus, user_id=uid, title=title,
               body=Message("The finding you referred from your grid: %(summary)s",
                            summary=finding.summary[:120]),
               link=f"/grid/findings/{finding.id}", source="grid")
