"""The yearly summary's list of volunteers (the CSV export and its API twin): names read
through the registry reader, masked, so each volunteer shown is in their access log; the
export itself goes to the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.toolkit import log_audit, mask_name, registry_reader
from plugins.volunteers.services.hours import year_volunteers


def summary_rows(session: Session, community: str, year: int, *, actor: Any,
                 purpose: str) -> list[dict[str, Any]]:
    """``person_id``, masked ``name``, ``activities`` and ``hours`` per volunteer."""
    rows = year_volunteers(session, community, year)
    reader = registry_reader(session, "volunteers", actor=actor, enforce_place=False,
                             purpose=purpose)
    names = {p["id"]: p.get("name") or "" for p in reader.persons([r[0] for r in rows])}
    return [{"person_id": pid, "name": mask_name(names.get(pid, "")) or "—",
             "activities": n, "hours": round(minutes / 60, 2)} for pid, n, minutes in rows]


def log_export(session: Session, community: str, year: int, rows: int, *, actor: Any,
               facts: dict[str, Any] | None = None) -> None:
    log_audit(session, "volunteers.summary.export", actor=actor, target_type="community",
              target_id=community, detail={"year": year, "rows": rows}, facts=facts)
