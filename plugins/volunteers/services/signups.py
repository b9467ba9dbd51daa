"""Sign-ups: a verified resident takes a place or joins the waiting list, and may withdraw
until the activity starts; staff check attendance on the day.

The limit holds under a race without a lock held across the request: a place is taken by
one conditional UPDATE (``taken < capacity``), which the database evaluates against the
row as it is once any concurrent update of it has committed (PostgreSQL re-checks the
condition after waiting for the row lock; SQLite serialises writers). The loser of a race
for the last place gets ``rowcount == 0`` and waits in the list instead."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.toolkit import N_, Message, mask_name, notify, registry_reader, utcnow
from plugins.volunteers.models import Activity, HoursEntry, Signup
from plugins.volunteers.services.common import VolunteerError, local
from plugins.volunteers.services.hours import credit_hours, entry_for


def _take_place(session: Session, activity_id: int) -> bool:
    result = session.execute(
        update(Activity)
        .where(Activity.id == activity_id, Activity.state == "open",
               Activity.taken < Activity.capacity)
        .values(taken=Activity.taken + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _free_place(session: Session, activity_id: int) -> None:
    session.execute(
        update(Activity).where(Activity.id == activity_id, Activity.taken > 0)
        .values(taken=Activity.taken - 1).execution_options(synchronize_session=False)
    )


def signup_of(session: Session, activity_id: int, person_id: int) -> Signup | None:
    return session.scalar(select(Signup).where(
        Signup.activity_id == activity_id, Signup.person_id == person_id))


def sign_up(session: Session, activity: Activity, *, person_id: int, user_id: int | None,
            now: datetime | None = None) -> Signup:
    """Take a place for ``person_id``, or a place on the waiting list when the activity
    is full. Refused when the activity is cancelled, sign-up has closed, or the person
    is already signed up or waiting."""
    now = now or utcnow()
    if activity.state != "open":
        raise VolunteerError(N_("This activity was cancelled."), "state")
    if now > activity.signup_deadline:
        raise VolunteerError(N_("Sign-up for this activity has closed."), "state")
    signup = signup_of(session, activity.id, person_id)
    if signup is not None and signup.status != "cancelled":
        raise VolunteerError(N_("You have signed up for this activity already."), "state")
    if signup is None:
        try:
            with session.begin_nested():
                signup = Signup(activity_id=activity.id, person_id=person_id,
                                user_id=user_id, status="waiting", created_at=now,
                                updated_at=now)
                session.add(signup)
        except IntegrityError:  # the same person, twice at once
            raise VolunteerError(N_("You have signed up for this activity already."),
                                 "state") from None
    signup.user_id = user_id or signup.user_id
    signup.status = "signed_up" if _take_place(session, activity.id) else "waiting"
    signup.updated_at = now
    session.flush()
    session.refresh(activity)
    return signup


def withdraw(session: Session, bus: Any, activity: Activity, *, person_id: int,
             now: datetime | None = None) -> Signup:
    """Cancel one's sign-up before the activity starts. A freed place goes to the first
    on the waiting list, who is told."""
    now = now or utcnow()
    signup = signup_of(session, activity.id, person_id)
    if signup is None or signup.status not in ("signed_up", "waiting"):
        raise VolunteerError(N_("You have not signed up for this activity."), "state")
    if now >= activity.starts_at:
        raise VolunteerError(N_("The activity has started: tell the community worker "
                                "instead."), "state")
    held = signup.status == "signed_up"
    signup.status, signup.updated_at = "cancelled", now
    session.flush()
    if held:
        _free_place(session, activity.id)
        _promote(session, bus, activity)
    session.flush()
    session.refresh(activity)
    return signup


def _promote(session: Session, bus: Any, activity: Activity) -> None:
    """Give free places to the waiting list, first come first served."""
    waiting = list(session.scalars(select(Signup).where(
        Signup.activity_id == activity.id, Signup.status == "waiting"
    ).order_by(Signup.created_at, Signup.id)))
    for signup in waiting:
        if not _take_place(session, activity.id):
            break
        signup.status, signup.updated_at = "signed_up", utcnow()
        if signup.user_id is not None:
            notify(session, bus, user_id=signup.user_id, source="volunteers",
                   link=f"/volunteers/activities/{activity.id}",
                   title=Message("A place for you: %(title)s", title=activity.title),
                   body=Message("A place came free and you are now signed up for "
                                "%(title)s on %(when)s.", title=activity.title,
                                when=activity.starts_at))


def check_in(session: Session, bus: Any, activity: Activity, signup: Signup, *,
             attended: bool, actor: Any, now: datetime | None = None) -> Signup:
    """Record on the day whether a volunteer came. Attending credits the activity's hours
    to their ledger (once: see :func:`credit_hours`); once hours are credited the record
    is corrected through the ledger, with a reason, not by checking in again."""
    now = now or utcnow()
    if activity.state != "open":
        raise VolunteerError(N_("This activity was cancelled."), "state")
    if not check_in_open(activity, now):
        raise VolunteerError(N_("Attendance is checked on the day of the activity."), "state")
    if signup.status not in ("signed_up", "attended", "absent"):
        raise VolunteerError(N_("This volunteer is not signed up."), "signup_id")
    if not attended and entry_for(session, activity.id, signup.person_id) is not None:
        raise VolunteerError(N_("Hours were credited already: correct the entry in the "
                                "ledger, with a reason."), "attended")
    signup.status = "attended" if attended else "absent"
    signup.checked_by_id, signup.updated_at = getattr(actor, "id", None), now
    session.flush()
    if attended:
        credit_hours(session, bus, activity, signup, actor=actor)
    return signup


def check_in_open(activity: Activity, now: datetime | None = None) -> bool:
    """Attendance is checked on the day (the community's calendar day of the start), or
    from six hours before the start for an activity early in the morning."""
    now = now or utcnow()
    return (local(now).date() >= local(activity.starts_at).date()
            or now >= activity.starts_at - timedelta(hours=6))


def roster(session: Session, activity: Activity, *, actor: Any, lang: str = "zh"
           ) -> list[dict[str, Any]]:
    """The sign-ups of an activity with each volunteer's name masked (张**), for the
    staff who run it. Read through the registry reader, so every display is in the
    volunteer's access log; ``enforce_place=False`` because a volunteer from another
    community is on this community's roster by their own act of signing up."""
    signups = list(session.scalars(select(Signup).where(
        Signup.activity_id == activity.id, Signup.status != "cancelled"
    ).order_by(Signup.created_at, Signup.id)))
    reader = registry_reader(session, "volunteers", actor=actor, enforce_place=False,
                             purpose=f"volunteer activity {activity.id}: roster")
    people = {p["id"]: p for p in reader.persons([s.person_id for s in signups])}
    entries = {e.person_id: e for e in session.scalars(select(HoursEntry).where(
        HoursEntry.activity_id == activity.id))}
    out = []
    for s in signups:
        person = people.get(s.person_id) or {}
        out.append({
            "signup_id": s.id, "person_id": s.person_id, "status": s.status,
            "name": mask_name(person.get("name") or "") or "—",
            "community": person.get("community_name") or "",
            "signed_up_at": s.created_at,
            "hours_entry_id": entries[s.person_id].id if s.person_id in entries else None,
            "hours": (entries[s.person_id].minutes / 60) if s.person_id in entries else None,
        })
    return out
