"""Recompute the registry-based visit rules (the elderly living alone) for the persons a
registry event touches, at once.

Why not wait for the hourly job: a resident who moves in with an elderly person would
leave them "living alone" on the worker's list for up to an hour, and one who moves out
would leave an elderly person alone without a visit being due. So the events that change
who lives where (``registry.person.moved``, ``registry.person.registered``,
``registry.person.deceased``, ``registry.household.changed``, and ``registry.person.updated``
for a corrected birth date) recompute the rules for the person and everyone in the
dwellings involved. The hourly ``grid.refresh_subjects`` job stays the backstop (an
event lost to a dead letter, an import without per-person events). System reads: ids and
masked places, shown to nobody, so nothing is written to an access log."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.toolkit import registry_reader
from plugins.grid.models import GridSubject
from plugins.grid.services.common import today
from plugins.grid.services.rules import active_rules
from plugins.grid.services.subjects import refresh_registry_rules, upsert_subject


def _reader(session: Session) -> Any:
    return registry_reader(session, "grid", actor=None, purpose="grid visit rules")


def residents_of(session: Session, dwelling_ids: Iterable[int | None]) -> set[int]:
    """Everyone who lives in these dwellings now (active persons)."""
    reader = _reader(session)
    out: set[int] = set()
    for dwelling in {d for d in dwelling_ids if d}:
        out |= {v["id"] for v in reader.residents(dwelling_id=dwelling)}
    return out


def recompute_persons(session: Session, person_ids: Iterable[int]) -> int:
    """Apply every active registry rule to these persons only: select those it selects
    now, end the rows of those it no longer does. Returns how many rows changed."""
    ids = sorted({int(p) for p in person_ids if p})
    if not ids:
        return 0
    on = today()
    reader = _reader(session)
    views = {v["id"]: v for v in reader.persons(ids)}
    sizes: dict[int, int] = {}
    changed = 0
    for rule in active_rules():
        if rule.source != "registry":
            continue
        rows = {r.person_id: r for r in session.scalars(select(GridSubject).where(
            GridSubject.rule == rule.code, GridSubject.person_id.in_(ids)))}
        for pid in ids:
            view = views.get(pid)
            selected = view is not None and view.get("status") == "active"
            if selected and rule.age_min is not None:
                age = reader.age(pid)
                selected = age is not None and age >= rule.age_min
            if selected and rule.alone:
                dwelling = view.get("dwelling_id")
                if dwelling is None:
                    selected = False
                else:
                    if dwelling not in sizes:
                        sizes[dwelling] = len(reader.residents(dwelling_id=dwelling))
                    selected = sizes[dwelling] == 1
            row = rows.get(pid)
            if selected and (row is None or not row.active):
                upsert_subject(session, person_id=pid, rule=rule, since=on,
                               places={"community": view.get("community"),
                                       "grid": view.get("grid")})
                changed += 1
            elif not selected and row is not None and row.active:
                row.active, row.ended_on = False, on
                changed += 1
    session.flush()
    return changed


def _person(session: Session, person_id: int | None) -> dict[str, Any] | None:
    if not person_id:
        return None
    try:
        return _reader(session).person(int(person_id))
    except Exception:  # gone, merged away: nothing to recompute for them
        return None


def on_moved(event: Any, session: Session) -> None:
    """``registry.person.moved``: the person, who lives where they left and where they
    arrived."""
    p = event.payload
    recompute_persons(session, {p["person_id"]} | residents_of(
        session, (p.get("from_dwelling_id"), p.get("to_dwelling_id"))))


def on_registered(event: Any, session: Session) -> None:
    """``registry.person.registered``: a newcomer in a dwelling makes its elderly resident
    no longer alone."""
    view = _person(session, event.payload.get("person_id"))
    dwelling = view.get("dwelling_id") if view else None
    recompute_persons(session, {event.payload["person_id"]} | residents_of(session, [dwelling]))


def on_deceased(event: Any, session: Session) -> None:
    """``registry.person.deceased``: whoever remains in the dwelling may now live alone.
    The registry has cleared the dead person's dwelling by then, so the rules are
    recomputed for the community the payload names (its elderly only: one query)."""
    community = event.payload.get("community")
    if community:
        refresh_registry_rules(session, community=community)


def on_household(event: Any, session: Session) -> None:
    """``registry.household.changed``: the person named and the household's members, and
    everyone in their dwellings."""
    pid = event.payload.get("person_id")
    ids: set[int] = {pid} if pid else set()
    dwellings: set[int | None] = set()
    if pid:
        try:
            household = registry_reader(session, "grid", actor=None,
                                        purpose="grid visit rules").household(int(pid))
        except Exception:
            household = None
        if household:
            ids |= {m["id"] for m in household["members"]}
            dwellings.add(household.get("dwelling_id"))
        view = _person(session, pid)
        if view:
            dwellings.add(view.get("dwelling_id"))
    recompute_persons(session, ids | residents_of(session, dwellings))


def on_updated(event: Any, session: Session) -> None:
    """``registry.person.updated``: a corrected birth date changes who is elderly."""
    fields = set(event.payload.get("fields") or ())
    if fields & {"birth_date", "id_number", "status"}:
        recompute_persons(session, [event.payload["person_id"]])
