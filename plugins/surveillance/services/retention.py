"""Retention: clip references and report photos older than the retention period are
purged unless an open incident holds them; closed resident reports lose their reporter.

Apart because it deletes: the job, the CLI and the retention report all call these.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.toolkit import log_audit, utcnow
from plugins.surveillance.models import OPEN_STATUSES, Clip, Incident, PurgeRun
from plugins.surveillance.services.incidents import _step
from plugins.surveillance.services.places import actor_name


def purge(
    session: Session,
    *,
    retention_days: int,
    directory: Path | None,
    actor: Any = None,
    now: datetime | None = None,
) -> PurgeRun:
    """Delete clip references and incident photos older than ``retention_days``, except
    those of an open incident (legal hold); erase the reporter of resident reports closed
    longer than that (the account and person links and the resident's own words: the
    incident's kind, place, times and staff timeline stay for the statistics); record the
    counts."""
    now = now or utcnow()
    cutoff = now - timedelta(days=max(1, retention_days))
    clips = list(session.scalars(select(Clip).where(Clip.created_at < cutoff)))
    held = 0
    purged_clips = 0
    for clip in clips:
        incident = session.get(Incident, clip.incident_id) if clip.incident_id else None
        if incident is not None and incident.is_open:
            held += 1
            continue
        session.delete(clip)
        purged_clips += 1
    media = 0
    old = session.scalars(
        select(Incident).where(Incident.photo_path.is_not(None), Incident.raised_at < cutoff)
    )
    for incident in old:
        if incident.is_open:
            held += 1
            continue
        if directory is not None:
            path = directory / os.path.basename(incident.photo_path or "")
            if path.is_file():
                path.unlink()
        incident.photo_path = None
        incident.photo_type = None
        _step(incident, "photo_purged", actor)
        media += 1
    erased = 0
    closed = session.scalars(
        select(Incident).where(
            Incident.source == "resident",
            Incident.closed_at.is_not(None),
            Incident.closed_at < cutoff,
            or_(
                Incident.reporter_id.is_not(None),
                Incident.reporter_person_id.is_not(None),
                Incident.description != "",
            ),
        )
    )
    for incident in closed:
        incident.reporter_id = None
        incident.reporter_person_id = None
        incident.description = ""
        _step(incident, "reporter_erased", actor)
        erased += 1
    run = PurgeRun(
        at=now,
        cutoff=cutoff,
        clips_purged=purged_clips,
        media_purged=media,
        held=held,
        reports_erased=erased,
        actor_name=actor_name(actor),
    )
    session.add(run)
    log_audit(
        session,
        "surveillance.retention.purged",
        actor=actor,
        target_type="purge",
        detail={
            "clips": purged_clips,
            "media": media,
            "held": held,
            "reports_erased": erased,
            "retention_days": retention_days,
        },
    )
    session.flush()
    return run


def purge_runs(session: Session, limit: int = 50) -> list[PurgeRun]:
    return list(session.scalars(select(PurgeRun).order_by(PurgeRun.id.desc()).limit(limit)))


def held_counts(
    session: Session, *, retention_days: int, now: datetime | None = None
) -> dict[str, int]:
    """For the retention report: what the next purge would remove and what is on hold."""
    now = now or utcnow()
    cutoff = now - timedelta(days=max(1, retention_days))
    rows = session.execute(
        select(Clip.id, Incident.status)
        .outerjoin(Incident, Incident.id == Clip.incident_id)
        .where(Clip.created_at < cutoff)
    ).all()
    held = sum(1 for _, s in rows if s in OPEN_STATUSES)
    return {
        "due": len(rows) - held,
        "held": held,
        "clips": session.scalar(select(func.count()).select_from(Clip)) or 0,
    }


#: How often the purge job runs (``register_jobs``; ``shequ surveillance purge`` on demand).
PURGE_INTERVAL_SECONDS = 3600


def clip_schedule(clip: Clip, incident: Incident | None, *, retention_days: int) -> dict[str, Any]:
    """When a clip reference falls due for the purge, and whether an open incident holds
    it past that (legal hold): what the incident page and the API show per clip."""
    due = clip.created_at + timedelta(days=max(1, retention_days))
    return {"purge_after": due, "held": incident is not None and incident.is_open}


def retention_state(
    session: Session, *, retention_days: int, now: datetime | None = None
) -> dict[str, Any]:
    """The retention report as data: the period, what the next purge would remove and
    what is held, the last purge and when the next one is due (the job runs every
    :data:`PURGE_INTERVAL_SECONDS`; "due now" when it has never run or is late)."""
    now = now or utcnow()
    runs = purge_runs(session, limit=20)
    last = runs[0] if runs else None
    next_at = max(now, last.at + timedelta(seconds=PURGE_INTERVAL_SECONDS)) if last else now
    return {
        "retention_days": retention_days,
        "purge_interval_seconds": PURGE_INTERVAL_SECONDS,
        "last_run_at": last.at if last else None,
        "next_run_after": next_at,
        "cutoff": now - timedelta(days=max(1, retention_days)),
        **held_counts(session, retention_days=retention_days, now=now),
        "runs": runs,
    }
