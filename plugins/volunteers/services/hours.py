"""The volunteer-hours ledger: one entry per activity and person, credited when staff
check the volunteer in, corrected only with a reason (each correction kept), and the
resident's own record and the community's yearly summary read from it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.toolkit import MAX_ID, N_, Message, log_audit, notify, utcnow
from plugins.volunteers.models import Activity, HoursCorrection, HoursEntry, Signup
from plugins.volunteers.services.common import (
    VolunteerError,
    hours_text,
    local,
    minutes_of,
    year_bounds,
)


def entry_for(session: Session, activity_id: int, person_id: int) -> HoursEntry | None:
    return session.scalar(select(HoursEntry).where(
        HoursEntry.activity_id == activity_id, HoursEntry.person_id == person_id))


def get_entry(session: Session, entry_id: int) -> HoursEntry | None:
    if not 1 <= entry_id <= MAX_ID:
        return None
    return session.get(HoursEntry, entry_id)


def credit_hours(session: Session, bus: Any, activity: Activity, signup: Signup, *,
                 actor: Any) -> tuple[HoursEntry, bool]:
    """Credit the activity's hours to the volunteer: ``(entry, created)``. Idempotent —
    the unique (activity, person) constraint makes a second credit, even a concurrent
    one, find the first entry instead of adding hours twice. The volunteer is told once,
    in their own language."""
    existing = entry_for(session, activity.id, signup.person_id)
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            entry = HoursEntry(activity_id=activity.id, person_id=signup.person_id,
                               community=activity.community, minutes=activity.credit_minutes,
                               served_at=activity.starts_at,
                               credited_by_id=getattr(actor, "id", None))
            session.add(entry)
    except IntegrityError:
        found = entry_for(session, activity.id, signup.person_id)
        assert found is not None
        return found, False
    if signup.user_id is not None:
        notify(session, bus, user_id=signup.user_id, source="volunteers", kind="success",
               link="/volunteers/mine",
               title=Message("%(hours)s volunteer hours credited",
                             hours=hours_text(entry.minutes)),
               body=Message("Thank you for volunteering at %(title)s. %(hours)s hours "
                            "were added to your record.", title=activity.title,
                            hours=hours_text(entry.minutes)))
    return entry, True


def correct_entry(session: Session, entry: HoursEntry, *, hours: float, reason: str,
                  actor: Any) -> HoursCorrection:
    """Change an entry's hours with a reason; the old and new values are kept as a
    correction, so the ledger's history can be read back."""
    reason = (reason or "").strip()
    if not reason:
        raise VolunteerError(N_("Give the reason for the correction."), "reason", status=422)
    minutes = minutes_of(hours)
    if minutes == entry.minutes:
        raise VolunteerError(N_("That is the number of hours already credited."), "hours")
    correction = HoursCorrection(entry_id=entry.id, old_minutes=entry.minutes,
                                 new_minutes=minutes, reason=reason[:500],
                                 by_id=getattr(actor, "id", None), at=utcnow())
    entry.minutes = minutes
    session.add(correction)
    session.flush()
    log_audit(session, "volunteers.hours.correct", actor=actor, target_type="hours_entry",
              target_id=str(entry.id), detail={"old": correction.old_minutes, "new": minutes})
    return correction


def corrections_of(session: Session, entry_ids: list[int]) -> dict[int, list[HoursCorrection]]:
    out: dict[int, list[HoursCorrection]] = defaultdict(list)
    if entry_ids:
        for c in session.scalars(select(HoursCorrection).where(
                HoursCorrection.entry_id.in_(entry_ids)).order_by(HoursCorrection.id)):
            out[c.entry_id].append(c)
    return out


def person_record(session: Session, person_id: int) -> dict[str, Any]:
    """A volunteer's own record: their sign-ups (with the activities), their ledger
    entries, and their hours per local calendar year (newest first)."""
    signups = list(session.execute(
        select(Signup, Activity).join(Activity, Activity.id == Signup.activity_id)
        .where(Signup.person_id == person_id)
        .order_by(Activity.starts_at.desc(), Activity.id.desc())
    ))
    entries = list(session.execute(
        select(HoursEntry, Activity).join(Activity, Activity.id == HoursEntry.activity_id)
        .where(HoursEntry.person_id == person_id)
        .order_by(HoursEntry.served_at.desc(), HoursEntry.id.desc())
    ))
    per_year: dict[int, int] = defaultdict(int)
    for entry, _activity in entries:
        per_year[local(entry.served_at).year] += entry.minutes
    return {
        "signups": signups,
        "entries": entries,
        "per_year": sorted(per_year.items(), reverse=True),
        "total_minutes": sum(per_year.values()),
    }


def year_summary(session: Session, community: str, year: int) -> dict[str, Any]:
    """One community's year: distinct volunteers credited, activities held (started in
    the year and not cancelled), total hours, and minutes per local month."""
    start, end = year_bounds(year)
    rows = list(session.execute(
        select(HoursEntry.person_id, HoursEntry.minutes, HoursEntry.served_at).where(
            HoursEntry.community == community, HoursEntry.served_at >= start,
            HoursEntry.served_at < end)))
    months = [0] * 12
    for _pid, minutes, served in rows:
        months[local(served).month - 1] += minutes
    activities = session.scalar(select(func.count()).select_from(Activity).where(
        Activity.community == community, Activity.state == "open",
        Activity.starts_at >= start, Activity.starts_at < end)) or 0
    return {
        "community": community, "year": year,
        "volunteers": len({r[0] for r in rows}),
        "activities": activities,
        "total_minutes": sum(months),
        "months": months,
    }


def year_volunteers(session: Session, community: str, year: int) -> list[tuple[int, int, int]]:
    """``(person_id, activities, minutes)`` per volunteer credited in the year, most
    hours first: the rows of the CSV export."""
    start, end = year_bounds(year)
    rows = session.execute(
        select(HoursEntry.person_id, func.count(HoursEntry.id), func.sum(HoursEntry.minutes))
        .where(HoursEntry.community == community, HoursEntry.served_at >= start,
               HoursEntry.served_at < end)
        .group_by(HoursEntry.person_id)
        .order_by(func.sum(HoursEntry.minutes).desc(), HoursEntry.person_id))
    return [(int(p), int(n), int(m or 0)) for p, n, m in rows]
