"""Who is due a visit: subjects (persons a rule selects) and their due dates.

Registry rules (the elderly living alone) are recomputed by a job from the registry
through the toolkit (``find_person_ids`` for the ages, the reader's ``residents`` for who
else lives there); membership and arrival rules follow events (handlers.py). A person's
due date is the earliest over their rules: the last visit plus the rule's interval, or —
never visited — the day they were selected (an arrival: that day plus the interval)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.toolkit import find_person_ids, registry_reader
from plugins.grid.models import GridSubject, GridVisit, GridVisitPerson
from plugins.grid.services.common import place_clause, place_of, today
from plugins.grid.services.rules import VisitRule, active_rules, rule_map


def upsert_subject(session: Session, *, person_id: int, rule: VisitRule, since: date,
                   database: str = "", places: dict[str, Any] | None = None) -> GridSubject | None:
    """Select a person for a rule (idempotent: an active row stays as it is)."""
    places = places if places is not None else place_of(session, person_id)
    if places is None:
        return None
    row = session.scalar(select(GridSubject).where(GridSubject.person_id == person_id,
                                                   GridSubject.rule == rule.code))
    if row is None:
        row = GridSubject(person_id=person_id, rule=rule.code, source=rule.source,
                          database=database, since=since, active=True)
        session.add(row)
    elif not row.active:
        row.active, row.ended_on, row.since = True, None, since
    row.community, row.grid = places["community"], places["grid"]
    session.flush()
    return row


def end_subjects(session: Session, person_id: int, *, on: date, rule: str | None = None) -> int:
    query = select(GridSubject).where(GridSubject.person_id == person_id,
                                      GridSubject.active.is_(True))
    if rule:
        query = query.where(GridSubject.rule == rule)
    rows = list(session.scalars(query))
    for row in rows:
        row.active, row.ended_on = False, on
    return len(rows)


def refresh_registry_rules(session: Session, *, kernel: Any = None,
                           settings: dict[str, Any] | None = None, on: date | None = None,
                           community: str | None = None) -> int:
    """Recompute the registry rules for everyone (a system job: ids and masked places,
    shown to nobody, so nothing is logged) and expire arrivals past their window.
    Returns how many persons are selected."""
    on = on or today(kernel)
    selected = 0
    reader = registry_reader(session, "grid", actor=None, purpose="grid visit rules",
                             kernel=kernel)
    for rule in active_rules(settings):
        if rule.source == "arrival":
            for row in session.scalars(select(GridSubject).where(
                    GridSubject.rule == rule.code, GridSubject.active.is_(True),
                    GridSubject.since < on - timedelta(days=rule.window_days))):
                row.active, row.ended_on = False, on
            continue
        if rule.source != "registry":
            continue
        ids, _ = find_person_ids(session, "grid", age_min=rule.age_min, kernel=kernel,
                                 community=community)
        keep: set[int] = set()
        household_size: dict[int, int] = {}
        for view in reader.persons(ids):
            dwelling = view.get("dwelling_id")
            if rule.alone:
                if dwelling is None:
                    continue
                if dwelling not in household_size:
                    household_size[dwelling] = len(reader.residents(dwelling_id=dwelling))
                if household_size[dwelling] != 1:
                    continue
            keep.add(view["id"])
            upsert_subject(session, person_id=view["id"], rule=rule, since=on,
                           places={"community": view.get("community"), "grid": view.get("grid")})
        stale = select(GridSubject).where(GridSubject.rule == rule.code,
                                          GridSubject.active.is_(True))
        if community:
            stale = stale.where(GridSubject.community == community)
        for row in session.scalars(stale):
            if row.person_id not in keep:
                row.active, row.ended_on = False, on
        selected += len(keep)
    session.flush()
    return selected


def refresh_job(app: Any) -> str:
    from core.toolkit import current_kernel

    with app.app_context():
        kernel = current_kernel()
        with kernel.db.session_scope() as session:
            n = refresh_registry_rules(session, kernel=kernel)
    return f"persons selected by registry rules: {n}"


@dataclass
class Task:
    """One person due a visit, as the worker's list and the coverage view see them."""

    person_id: int
    community: str | None
    grid: str | None
    rules: list[str] = field(default_factory=list)
    due_on: date | None = None
    last_visit_on: date | None = None
    status: str = "ok"  # "overdue" | "due" | "ok"

    @property
    def never_visited(self) -> bool:
        return self.last_visit_on is None


def last_visits(session: Session, person_ids: list[int]) -> dict[int, date]:
    if not person_ids:
        return {}
    """Each person's last visit: their own, or a household visit that covered them."""
    rows = session.execute(select(GridVisit.person_id, func.max(GridVisit.visited_on))
                           .where(GridVisit.person_id.in_(person_ids))
                           .group_by(GridVisit.person_id))
    out = {pid: day for pid, day in rows}
    covered = session.execute(
        select(GridVisitPerson.person_id, func.max(GridVisit.visited_on))
        .join(GridVisit, GridVisit.id == GridVisitPerson.visit_id)
        .where(GridVisitPerson.person_id.in_(person_ids), GridVisitPerson.covered.is_(True))
        .group_by(GridVisitPerson.person_id))
    for pid, day in covered:
        out[pid] = max(day, out[pid]) if pid in out else day
    return out


def all_tasks(session: Session, user: Any, *, on: date | None = None, lookahead: int = 7,
              settings: dict[str, Any] | None = None, grid: str | None = None) -> list[Task]:
    """Every selected person within the user's places, with a due date and a status,
    overdue first (then by due date, then id)."""
    on = on or today()
    rules = rule_map(settings)
    query = select(GridSubject).where(GridSubject.active.is_(True),
                                      place_clause(GridSubject, user))
    if grid:
        query = query.where(GridSubject.grid == grid)
    subjects = [s for s in session.scalars(query.order_by(GridSubject.person_id))
                if s.rule in rules and rules[s.rule].enabled]
    visits = last_visits(session, sorted({s.person_id for s in subjects}))
    tasks: dict[int, Task] = {}
    for s in subjects:
        rule = rules[s.rule]
        last = visits.get(s.person_id)
        if rule.source == "arrival":  # a visit before they moved in does not count
            due = (last + timedelta(days=rule.interval_days) if last and last >= s.since
                   else s.since + timedelta(days=rule.interval_days))
        elif last is not None:
            due = last + timedelta(days=rule.interval_days)
        else:
            due = s.since
        task = tasks.setdefault(s.person_id, Task(s.person_id, s.community, s.grid))
        task.rules.append(rule.code)
        task.last_visit_on = last
        task.due_on = due if task.due_on is None else min(task.due_on, due)
    for task in tasks.values():
        if task.due_on < on:
            task.status = "overdue"
        elif task.due_on <= on + timedelta(days=lookahead):
            task.status = "due"
    order = {"overdue": 0, "due": 1, "ok": 2}
    return sorted(tasks.values(), key=lambda t: (order[t.status], t.due_on, t.person_id))


def due_tasks(session: Session, user: Any, **kwargs: Any) -> list[Task]:
    """The worker's list: only those overdue or due within the look-ahead."""
    return [t for t in all_tasks(session, user, **kwargs) if t.status != "ok"]


def subject_of(session: Session, person_id: int) -> list[GridSubject]:
    return list(session.scalars(select(GridSubject).where(
        GridSubject.person_id == person_id, GridSubject.active.is_(True))))
