"""A supervisor's coverage per grid: of the persons due visits, how many were visited on
time, how many are overdue after a visit, and how many were never visited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from core.toolkit import registry_reader, scope_allows
from plugins.grid.services.subjects import all_tasks


@dataclass
class GridCoverage:
    grid: str
    name: str
    community: str
    total: int = 0
    on_time: int = 0
    overdue: int = 0
    never: int = 0

    @property
    def on_time_percent(self) -> int:
        return round(100 * self.on_time / self.total) if self.total else 0


def coverage(session: Session, user: Any, *, on: date | None = None,
             settings: dict[str, Any] | None = None) -> list[GridCoverage]:
    """One row per grid within the user's places (grids without anyone due included, so
    a supervisor sees an empty grid as empty, not missing). Counts only: nobody named."""
    grids = [g for g in registry_reader(session, "grid", actor=user,
                                        purpose="grid coverage").grids()
             if scope_allows(user, community=g["community"], grid=g["code"])]
    rows = {g["code"]: GridCoverage(g["code"], g["name"], g["community"]) for g in grids}
    for task in all_tasks(session, user, on=on, settings=settings, lookahead=0):
        row = rows.get(task.grid or "")
        if row is None:
            continue
        row.total += 1
        if task.never_visited:
            row.never += 1
        elif task.status == "overdue":
            row.overdue += 1
        else:
            row.on_time += 1
    return list(rows.values())
