"""Shared helpers: the error type, the configured day, place scopes as SQL."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import false, or_, true

from core.toolkit import RuleError, local_today, local_zone, registry_reader


class GridError(RuleError):
    """A grid rule refused the request: 422 for input, 409 for a state, 404 for an
    object outside the caller's places."""


def today(kernel: Any = None, now: datetime | None = None) -> date:
    """Today in ``app.timezone``: a visit at 07:00 in Beijing is 23:00 UTC the day before,
    and "overdue" counts from the office's day. The toolkit's ``local_today`` with the
    kernel first, as the grid's services call it."""
    return local_today(now, kernel=kernel)


def local(at: datetime | None, kernel: Any = None) -> datetime | None:
    return at.astimezone(local_zone(kernel)) if at is not None else None


def scopes_of(user: Any) -> set[tuple[str, str]]:
    return {tuple(s) if isinstance(s, tuple) else (s.kind, s.code)
            for s in getattr(user, "scopes", None) or ()}


def place_clause(model: Any, user: Any) -> Any:
    """The SQL condition "within the user's places" on a table with ``community`` and
    ``grid`` columns; deny by default (no assignment: nothing)."""
    scopes = scopes_of(user)
    if ("all", "") in scopes:
        return true()
    communities = [c for k, c in scopes if k == "community"]
    grids = [c for k, c in scopes if k == "grid"]
    if not communities and not grids:
        return false()
    return or_(model.community.in_(communities), model.grid.in_(grids))


def place_of(session: Any, person_id: int) -> dict[str, Any] | None:
    """Where a person lives (community, grid, household, dwelling) by a system read: masked
    and shown to nobody, so not an access-log entry. None when the registry has no such
    active person."""
    try:
        view = registry_reader(session, "grid", actor=None, purpose="grid places").person(person_id)
    except Exception:
        return None
    if view.get("status") != "active":
        return None
    return {"community": view.get("community"), "grid": view.get("grid"),
            "household_id": view.get("household_id"), "dwelling_id": view.get("dwelling_id")}
