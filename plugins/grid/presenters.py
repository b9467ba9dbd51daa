"""What the pages and the API show of persons: masked, through the scoped reader (which
logs each display), and the plugin's own visit records logged with log_person_access."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.toolkit import log_person_access, mask_name, registry_reader
from plugins.grid.models import GridFinding
from plugins.grid.services import Task

LIST_PURPOSE = "grid visit list"
RECORD_PURPOSE = "grid visit record"


def task_rows(session: Session, user: Any, tasks: list[Task]) -> list[dict[str, Any]]:
    """The task list's rows: each person read (masked) through the reader, which writes
    the display to their access log; persons the reader does not show are left out."""
    views = {v["id"]: v for v in registry_reader(
        session, "grid", actor=user, purpose=LIST_PURPOSE).persons([t.person_id for t in tasks])}
    rows = []
    for task in tasks:
        view = views.get(task.person_id)
        if view is None:
            continue
        rows.append({"person_id": task.person_id, "name": mask_name(view.get("name") or ""),
                     "address": view.get("address"), "age_band": view.get("age_band"),
                     "household_id": view.get("household_id"),
                     "community": task.community, "grid": task.grid, "rules": task.rules,
                     "due_on": task.due_on, "last_visit_on": task.last_visit_on,
                     "status": task.status})
    return rows


def log_visits(session: Session, visits: list[Any], *, actor: Any = None) -> None:
    """A visit record is data the plugin holds about a person: each display to staff is
    an entry in that person's access log (identical entries in a day are one row)."""
    for visit in visits:
        fields = ["grid visit", *(["findings"] if visit.findings else []),
                  *(["needs"] if visit.needs else [])]
        log_person_access(session, person_id=visit.person_id, fields=fields,
                          purpose=RECORD_PURPOSE, plugin="grid", actor=actor, masked=True)


def findings_by(session: Session, visit_ids: list[int]) -> dict[int, list[GridFinding]]:
    out: dict[int, list[GridFinding]] = {}
    if visit_ids:
        for f in session.scalars(select(GridFinding).where(GridFinding.visit_id.in_(visit_ids))
                                 .order_by(GridFinding.id)):
            out.setdefault(f.visit_id, []).append(f)
    return out
