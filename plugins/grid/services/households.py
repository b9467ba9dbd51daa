"""Household visits: a grid worker visits households, not persons. One visit record can
cover the registry household of the person visited: every member a rule selects counts
as visited that day, and the persons met are chosen from the household's members.

Why the household comes from the registry each time (never a copy here): households
change (a member moves out, a baby is registered); the visit stores person ids only, in
``grid_visit_person``, and the members are read, masked and logged, through the reader."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.toolkit import N_, ScopeError, registry_reader
from plugins.grid.models import GridSubject, GridVisit, GridVisitPerson
from plugins.grid.services.common import GridError
from plugins.grid.services.records import create_visit


def household_of(session: Session, user: Any, person_id: int, purpose: str
                 ) -> dict[str, Any] | None:
    """The person's registry household as this worker may see it (members masked; each
    display in that member's access log), or None when they have none."""
    try:
        return registry_reader(session, "grid", actor=user, purpose=purpose).household(
            person_id)
    except (ScopeError, LookupError, ValueError) as exc:
        raise GridError(N_("No such person in your grids."), "person_id", status=404) from exc


def due_members(session: Session, member_ids: Iterable[int]) -> set[int]:
    """Those of ``member_ids`` an active rule selects (the household's subjects)."""
    ids = list(member_ids)
    if not ids:
        return set()
    return set(session.scalars(select(GridSubject.person_id).where(
        GridSubject.person_id.in_(ids), GridSubject.active.is_(True))))


def create_household_visit(session: Session, user: Any, *, person_id: int,
                           met_person_ids: Iterable[int] = (), purpose: str = "grid visit record",
                           on: date | None = None, **visit: Any) -> GridVisit:
    """Record one visit for the household of ``person_id``: it covers every member a
    rule selects (and the person themselves), and names the members met. A person met
    must be a member; a person without a household gets a 409 naming the field."""
    household = household_of(session, user, person_id, purpose)
    if household is None:
        raise GridError(N_("This person has no household in the registry; record a visit "
                           "to them alone."), "cover_household")
    members = {m["id"] for m in household["members"]}
    met = {int(p) for p in met_person_ids}
    if met - members:
        raise GridError(N_("Choose the persons met from the household's members."),
                        "met_person_ids")
    record = create_visit(session, user, person_id=person_id, on=on, **visit)
    covered = due_members(session, members) | {person_id}
    for pid in sorted(members | {person_id}):
        if pid in covered or pid in met:
            session.add(GridVisitPerson(visit_id=record.id, person_id=pid,
                                        covered=pid in covered, met=pid in met))
    session.flush()
    return record


def visit_persons(session: Session, visit_ids: Iterable[int]
                  ) -> dict[int, dict[str, list[int]]]:
    """Per visit: ``{"covered": [...], "met": [...]}`` person ids (empty for a visit to
    one person)."""
    ids = list(visit_ids)
    out: dict[int, dict[str, list[int]]] = {i: {"covered": [], "met": []} for i in ids}
    if ids:
        for row in session.scalars(select(GridVisitPerson).where(
                GridVisitPerson.visit_id.in_(ids)).order_by(GridVisitPerson.person_id)):
            if row.covered:
                out[row.visit_id]["covered"].append(row.person_id)
            if row.met:
                out[row.visit_id]["met"].append(row.person_id)
    return out


def group_by_household(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The task list's rows (overdue first) as one entry per household due a visit, in
    the order of its most urgent member; persons without a household stay single
    entries. Each entry: ``household_id``, ``anchor`` (the person whose page records the
    visit), ``status``, ``due_on``, ``address`` and ``subjects`` (the rows)."""
    groups: list[dict[str, Any]] = []
    index: dict[int, dict[str, Any]] = {}
    for row in rows:
        hid = row.get("household_id")
        group = index.get(hid) if hid is not None else None
        if group is None:
            group = {"household_id": hid, "anchor": row["person_id"], "status": row["status"],
                     "due_on": row["due_on"], "address": row.get("address"), "subjects": []}
            groups.append(group)
            if hid is not None:
                index[hid] = group
        group["subjects"].append(row)
        group["due_on"] = min(group["due_on"], row["due_on"])
    return groups


def household_met(anchor: int, met_person_ids: Iterable[int], none_met: str = "") -> str:
    """Whom a household visit met, in the visit's own terms, from the members ticked:
    ``person`` when the person the visit is recorded with was met, ``family`` when only
    other members were, else ``none_met`` (``neighbour`` or ``nobody``). Ticking members
    and saying nobody was met at once is refused, as is saying nothing."""
    met = {int(p) for p in met_person_ids}
    if met and none_met:
        raise GridError(N_("Tick the members met, or say that you met none of them, not "
                           "both."), "met")
    if met:
        return "person" if anchor in met else "family"
    if none_met in ("neighbour", "nobody"):
        return none_met
    raise GridError(N_("Tick the members you met, or say that you met none of them."),
                    "met_person_ids")
