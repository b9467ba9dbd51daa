"""The numbers of the staff desk and the core dashboard panel, within the viewer's places."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.toolkit import local_zone, utcnow
from plugins.surveillance.models import INCIDENT_KINDS, OPEN_STATUSES, Incident
from plugins.surveillance.services.alerts import alerts_query
from plugins.surveillance.services.cameras import cameras_query
from plugins.surveillance.services.places import _scoped


def dashboard_numbers(
    session: Session, actor: Any, *, days: int = 14, now: datetime | None = None,
    timezone: str | None = None,
) -> dict[str, Any]:
    """Open incidents, open alerts, offline cameras and incidents per day and per kind.

    Days are the configured timezone's (``[app] timezone``, Asia/Shanghai by default):
    an incident at 07:30 Beijing time is today's, not yesterday's in UTC (issue 16)."""
    tz = ZoneInfo(timezone) if timezone else local_zone()
    now = (now or utcnow()).astimezone(tz)
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    open_n = (
        session.scalar(
            _scoped(
                select(func.count())
                .select_from(Incident)
                .where(Incident.status.in_(OPEN_STATUSES)),
                actor,
                Incident,
            )
        )
        or 0
    )
    offline = list(session.scalars(cameras_query(actor, status="offline")))
    alerts = list(session.scalars(alerts_query(actor, open_only=True).limit(10)))
    recent = session.execute(
        _scoped(
            select(Incident.raised_at, Incident.kind).where(
                Incident.raised_at >= since.astimezone(ZoneInfo("UTC"))),
            actor,
            Incident,
        )
    ).all()
    per_day: dict[str, int] = {}
    for i in range(days):
        per_day[(since + timedelta(days=i)).strftime("%m-%d")] = 0
    per_kind: dict[str, int] = dict.fromkeys(INCIDENT_KINDS, 0)
    for at, kind in recent:
        key = at.astimezone(tz).strftime("%m-%d")
        if key in per_day:
            per_day[key] += 1
        per_kind[kind] = per_kind.get(kind, 0) + 1
    return {
        "open_incidents": open_n,
        "offline": offline,
        "alerts": alerts,
        "per_day": per_day,
        "per_kind": per_kind,
        "recent_total": len(recent),
    }
