"""Corrections of visit and patrol records: a worker mistyped a date, or learnt more the
day after. Why a limited window and a reason: the records are what supervisors count and
what a referral rests on, so a change after the fact is rare, explained and kept — the
earlier values stay in ``grid_correction`` and are shown on the record; the act is in the
audit log.

Who: the worker who recorded it, within ``[plugins.grid] correction_days`` (7 by default)
of recording; a supervisor (``grid.coverage.read``) any record within their places, at
any time. The same rules as recording apply to the new values (a visit's date not in the
future and within the past year, a patrol's end not before its start)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.toolkit import N_, log_audit, roles_granting, utcnow
from plugins.grid.models import GridCorrection, GridPatrol, GridVisit
from plugins.grid.services.common import GridError, today
from plugins.grid.services.records import _text, check_patrol, check_visit

SUPERVISE = "grid.coverage.read"
VISIT_FIELDS = ("visited_on", "findings", "needs", "follow_up", "follow_up_on")
PATROL_FIELDS = ("area", "started_at", "ended_at", "found")
REASON_MAX = 500
DEFAULT_DAYS = 7


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def is_supervisor(session: Session, user: Any) -> bool:
    """Whether ``user`` holds the supervise permission: a request's principal carries its
    permissions; an account row (a job, a test) is judged by the roles that grant it."""
    permissions = getattr(user, "permissions", None)
    if permissions is not None:
        return SUPERVISE in permissions
    names = getattr(user, "role_names", None) or [
        getattr(r, "role", r) for r in getattr(user, "roles", None) or ()]
    return bool(set(names) & set(roles_granting(SUPERVISE, session)))


def correction_state(session: Session, user: Any, record: GridVisit | GridPatrol, *,
                     days: int = DEFAULT_DAYS, now: datetime | None = None) -> str:
    """``"supervisor"`` or ``"recorder"`` when ``user`` may correct ``record`` (already
    found within their places), ``"late"`` when the recorder's window has passed,
    ``"other"`` when it is someone else's record."""
    if is_supervisor(session, user):
        return "supervisor"
    if record.recorded_by_id is None or record.recorded_by_id != getattr(user, "id", None):
        return "other"
    created = record.created_at
    if created.tzinfo is None:  # SQLite hands back naive UTC on some paths
        from datetime import UTC

        created = created.replace(tzinfo=UTC)
    return "recorder" if (now or utcnow()) - created <= timedelta(days=days) else "late"


def may_correct(session: Session, user: Any, record: GridVisit | GridPatrol, *,
                days: int = DEFAULT_DAYS, now: datetime | None = None) -> bool:
    return correction_state(session, user, record, days=days, now=now) in (
        "supervisor", "recorder")


def _check_may(session: Session, user: Any, record: GridVisit | GridPatrol, days: int,
               now: datetime | None) -> None:
    state = correction_state(session, user, record, days=days, now=now)
    if state == "other":
        raise GridError(N_("Only the worker who recorded it, or a supervisor, can correct "
                           "this record."), "", status=403)
    if state == "late":
        raise GridError(N_("Records can be corrected within %(n)s days of recording; ask "
                           "a supervisor."), "", status=409, n=days)


def _record(session: Session, user: Any, record: GridVisit | GridPatrol,
            changed: dict[str, tuple[Any, Any]], reason: str, kind: str) -> GridCorrection:
    if not changed:
        raise GridError(N_("Nothing was changed: change a value to correct the record."), "")
    for name, (_, new) in changed.items():
        setattr(record, name, new)
    row = GridCorrection(
        visit_id=record.id if kind == "visit" else None,
        patrol_id=record.id if kind == "patrol" else None,
        corrected_by_id=user.id, reason=reason,
        before={k: _json(old) for k, (old, _) in changed.items()},
        after={k: _json(new) for k, (_, new) in changed.items()})
    session.add(row)
    log_audit(session, f"grid.{kind}.corrected", actor=user,
              target_type=f"grid_{kind}", target_id=str(record.id),
              detail={"fields": sorted(changed)})
    session.flush()
    return row


def _reason(reason: Any) -> str:
    try:
        return _text(reason, "reason", limit=REASON_MAX, required=True)
    except GridError as exc:
        raise GridError(exc.message, "reason", errors={"reason": exc.message},
                        n=REASON_MAX) from exc


def correct_visit(session: Session, user: Any, visit: GridVisit, *, reason: str,
                  changes: dict[str, Any], days: int = DEFAULT_DAYS, on: date | None = None,
                  now: datetime | None = None) -> GridCorrection:
    """Correct the fields of ``changes`` (any of VISIT_FIELDS) of a visit found with
    ``get_visit``; the earlier values are kept. Who was met and whom it covers stay."""
    _check_may(session, user, visit, days, now)
    reason = _reason(reason)
    new = {f: changes.get(f, getattr(visit, f)) for f in VISIT_FIELDS}
    texts = check_visit(visited_on=new["visited_on"] or visit.visited_on, met=visit.met,
                        findings=new["findings"] or "", needs=new["needs"] or "",
                        follow_up=new["follow_up"] or "", follow_up_on=new["follow_up_on"],
                        on=on or today())
    new.update(texts)
    new["visited_on"] = new["visited_on"] or visit.visited_on
    changed = {f: (getattr(visit, f), new[f]) for f in VISIT_FIELDS
               if f in changes and new[f] != getattr(visit, f)}
    return _record(session, user, visit, changed, reason, "visit")


def correct_patrol(session: Session, user: Any, patrol: GridPatrol, *, reason: str,
                   changes: dict[str, Any], days: int = DEFAULT_DAYS,
                   now: datetime | None = None) -> GridCorrection:
    """Correct the fields of ``changes`` (any of PATROL_FIELDS) of a patrol found with
    ``get_patrol``; the earlier values are kept. The grid stays."""
    _check_may(session, user, patrol, days, now)
    reason = _reason(reason)
    new = {f: changes.get(f, getattr(patrol, f)) for f in PATROL_FIELDS}
    if new["started_at"] is None:
        raise GridError(N_("Enter when you started."), "started_at")
    area, found = check_patrol(area=new["area"] or "", found=new["found"] or "",
                               started_at=new["started_at"], ended_at=new["ended_at"],
                               now=now or utcnow())
    new.update(area=area, found=found)

    def same(a: Any, b: Any) -> bool:
        return a == b or (isinstance(a, datetime) and isinstance(b, datetime)
                          and a.timestamp() == b.timestamp())

    changed = {f: (getattr(patrol, f), new[f]) for f in PATROL_FIELDS
               if f in changes and not same(new[f], getattr(patrol, f))}
    return _record(session, user, patrol, changed, reason, "patrol")


def corrections_of(session: Session, *, visit_id: int | None = None,
                   patrol_ids: list[int] | None = None) -> list[GridCorrection]:
    """A visit's corrections, or those of several patrols, oldest first."""
    query = select(GridCorrection).order_by(GridCorrection.corrected_at, GridCorrection.id)
    if visit_id is not None:
        query = query.where(GridCorrection.visit_id == visit_id)
    else:
        query = query.where(GridCorrection.patrol_id.in_(patrol_ids or []))
    return list(session.scalars(query))
