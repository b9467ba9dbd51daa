"""The staff's lists and numbers: the queue within the caller's places, a resident's own
applications, deadline status and the statistics. Read-only; the scope filter here is the
one every staff list uses.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import Session

from plugins.gov_services.models import Application
from plugins.gov_services.services.context import Gov
from plugins.gov_services.services.vocabulary import OPEN_STATES, local_date, local_today


def scope_filter(actor: Any, community_col: Any, grid_col: Any) -> Any:
    """Restrict a staff list to the actor's communities and grids (deny by default)."""
    scopes = {(s.kind, s.code) for s in (getattr(actor, "scopes", None) or [])}
    if ("all", "") in scopes:
        return None
    comms = [c for k, c in scopes if k == "community"]
    grids = [c for k, c in scopes if k == "grid"]
    conds = []
    if comms:
        conds.append(community_col.in_(comms))
    if grids:
        conds.append(grid_col.in_(grids))
    return or_(*conds) if conds else false()


def queue_query(
    actor: Any,
    *,
    state: str | None = None,
    service: str | None = None,
    community: str | None = None,
    overdue: bool = False,
    flagged: bool = False,
    today: date | None = None,
) -> Select[tuple[Application]]:
    """The staff queue: applications in the actor's places, oldest due first."""
    today = today or local_today()
    query = select(Application)
    where = scope_filter(actor, Application.community, Application.grid)
    if where is not None:
        query = query.where(where)
    if state:
        query = query.where(Application.state == state)
    if service:
        query = query.where(Application.service_code == service)
    if community:
        query = query.where(Application.community == community)
    if overdue:
        query = query.where(Application.state.in_(OPEN_STATES), Application.due_on < today)
    if flagged:
        query = query.where(Application.review_flag != "")
    return query.order_by(Application.due_on.is_(None), Application.due_on, Application.id)


def my_applications(session: Session, person_id: int | None) -> list[Application]:
    if person_id is None:
        return []
    return list(
        session.scalars(
            select(Application)
            .where(Application.person_id == person_id)
            .order_by(Application.id.desc())
        )
    )


def deadline_status(app: Application, g: Gov, today: date | None = None) -> str:
    """``overdue``, ``due_soon`` (within the warning window) or ``""``, by the office's
    day (``app.timezone``)."""
    today = today or local_today(g.kernel)
    if app.due_on is None or app.state not in OPEN_STATES:
        return ""
    if app.due_on < today:
        return "overdue"
    if g.calendar.between(today, app.due_on) <= g.settings.get("warn_days", 1):
        return "due_soon"
    return ""


def statistics(session: Session, actor: Any, today: date | None = None) -> dict[str, Any]:
    """Applications per service and state, average handling time (days from submission to
    decision) and the overdue rate, within the actor's places."""
    today = today or local_today()
    where = scope_filter(actor, Application.community, Application.grid)
    base = select(Application)
    if where is not None:
        base = base.where(where)
    rows = list(session.scalars(base))
    per_service: dict[str, int] = {}
    per_state: dict[str, int] = {}
    durations = []
    open_n = overdue_n = 0
    for app in rows:
        per_service[app.service_code] = per_service.get(app.service_code, 0) + 1
        per_state[app.state] = per_state.get(app.state, 0) + 1
        if app.decided_at is not None:
            durations.append((app.decided_at - app.submitted_at).total_seconds() / 86400)
        if app.state in OPEN_STATES:
            open_n += 1
            if app.due_on is not None and app.due_on < today:
                overdue_n += 1
    ratings = [a.rating for a in rows if a.rating]
    return {
        "total": len(rows),
        "per_service": per_service,
        "per_state": per_state,
        "average_days": round(sum(durations) / len(durations), 1) if durations else None,
        "open": open_n,
        "overdue": overdue_n,
        "overdue_rate": round(overdue_n / open_n, 3) if open_n else 0.0,
        "average_rating": round(sum(ratings) / len(ratings), 2) if ratings else None,
    }


def public_notices(session: Session, today: date | None = None) -> list[Application]:
    """Cases in public notice (公示), newest first: the public page lists each for its whole
    period — the state lasts until a person with the approval permission ends it, which
    the workflow allows only once the period is over."""
    return list(
        session.scalars(
            select(Application)
            .where(Application.state == "public_notice")
            .order_by(Application.due_on.desc(), Application.id.desc())
        )
    )


def notice_started(app: Application) -> date | None:
    """The day the current public notice began (the step that entered it)."""
    steps = [s for s in app.steps if s.to_state == "public_notice"]
    return local_date(steps[-1].at) if steps else None
