"""Activities: staff of a community create, edit and cancel them; everyone reads them.
Cancelling tells every volunteer who signed up or waits, in their own language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from core.toolkit import MAX_ID, N_, Message, log_audit, notify, utcnow
from plugins.volunteers.models import Activity, HoursEntry, Signup
from plugins.volunteers.services.common import (
    MAX_CAPACITY,
    VolunteerError,
    hours_text,
    minutes_of,
)

EDITABLE = ("title", "description", "place", "starts_at", "ends_at", "signup_deadline",
            "capacity", "hours")


@dataclass
class ActivityInput:
    """What staff type for an activity; times are aware (UTC) by the time they get here."""

    title: str
    place: str
    starts_at: datetime
    ends_at: datetime
    signup_deadline: datetime
    capacity: int
    hours: float
    description: str = ""


def _check(data: ActivityInput, *, taken: int = 0) -> dict[str, str]:
    """Every rule of an activity's fields at once, so a form shows all its problems."""
    errors: dict[str, str] = {}
    if not (data.title or "").strip():
        errors["title"] = N_("Enter a title.")
    if not (data.place or "").strip():
        errors["place"] = N_("Enter where it takes place.")
    for name in ("starts_at", "ends_at", "signup_deadline"):
        if not 2000 <= getattr(data, name).year <= 2100:
            errors[name] = N_("Enter a date between 2000 and 2100.")
    if {"starts_at", "ends_at", "signup_deadline"} & set(errors):
        return errors
    if data.ends_at <= data.starts_at:
        errors["ends_at"] = N_("The end must be after the start.")
    elif (data.ends_at - data.starts_at).days >= 7:
        errors["ends_at"] = N_("An activity lasts less than a week.")
    if data.signup_deadline > data.starts_at:
        errors["signup_deadline"] = N_("Sign-up must close before the activity starts.")
    if not 1 <= data.capacity <= MAX_CAPACITY:
        errors["capacity"] = N_("Offer between 1 and 10000 places.")
    elif data.capacity < taken:
        errors["capacity"] = N_("More volunteers have signed up than that.")
    try:
        minutes_of(data.hours)
    except VolunteerError as exc:
        errors["hours"] = exc.message
    return errors


def _refuse(errors: dict[str, str]) -> None:
    if errors:
        field = next(iter(errors))
        raise VolunteerError(errors[field], field, errors=errors)


def create_activity(session: Session, *, community: str, data: ActivityInput,
                    actor: Any) -> Activity:
    """A new activity of ``community``; the caller has checked the actor acts for it."""
    _refuse(_check(data))
    activity = Activity(
        community=community, title=data.title.strip(), description=(data.description or "").strip(),
        place=data.place.strip(), starts_at=data.starts_at, ends_at=data.ends_at,
        signup_deadline=data.signup_deadline, capacity=data.capacity, taken=0,
        credit_minutes=minutes_of(data.hours), state="open",
        created_by_id=getattr(actor, "id", None),
    )
    session.add(activity)
    session.flush()
    log_audit(session, "volunteers.activity.create", actor=actor, target_type="activity",
              target_id=str(activity.id), detail={"community": community})
    return activity


def update_activity(session: Session, activity: Activity, *, changes: dict[str, Any],
                    actor: Any) -> Activity:
    """Change some fields; a cancelled activity, or one whose hours were credited, is
    history and stays as it was."""
    if activity.state != "open":
        raise VolunteerError(N_("This activity was cancelled."), "state")
    if has_credited(session, activity.id):
        raise VolunteerError(N_("Hours were credited for this activity: it can no longer "
                                "be changed."), "state")
    current = ActivityInput(
        title=activity.title, place=activity.place, starts_at=activity.starts_at,
        ends_at=activity.ends_at, signup_deadline=activity.signup_deadline,
        capacity=activity.capacity, hours=activity.credit_minutes / 60,
        description=activity.description,
    )
    for key, value in changes.items():
        if key in EDITABLE and value is not None:
            setattr(current, key, value)
    _refuse(_check(current, taken=activity.taken))
    activity.title, activity.place = current.title.strip(), current.place.strip()
    activity.description = (current.description or "").strip()
    activity.starts_at, activity.ends_at = current.starts_at, current.ends_at
    activity.signup_deadline, activity.capacity = current.signup_deadline, current.capacity
    activity.credit_minutes = minutes_of(current.hours)
    activity.updated_at = utcnow()
    session.flush()
    log_audit(session, "volunteers.activity.update", actor=actor, target_type="activity",
              target_id=str(activity.id), detail={"fields": sorted(changes)})
    return activity


def cancel_activity(session: Session, bus: Any, activity: Activity, *, reason: str,
                    actor: Any) -> int:
    """Cancel the activity and tell everyone signed up or waiting; returns how many
    accounts were told. Refused once anyone's hours were credited."""
    reason = (reason or "").strip()
    if not reason:
        raise VolunteerError(N_("Say why the activity is cancelled."), "reason", status=422)
    if activity.state != "open":
        raise VolunteerError(N_("This activity was cancelled."), "state")
    if has_credited(session, activity.id):
        raise VolunteerError(N_("Hours were credited for this activity: it can no longer "
                                "be changed."), "state")
    activity.state, activity.cancel_reason = "cancelled", reason[:500]
    activity.updated_at = utcnow()
    told = 0
    signups = session.scalars(select(Signup).where(
        Signup.activity_id == activity.id, Signup.status.in_(("signed_up", "waiting"))))
    for signup in signups:
        signup.status, signup.updated_at = "cancelled", utcnow()
        if signup.user_id is None:
            continue
        notify(session, bus, user_id=signup.user_id, source="volunteers",
               kind="warning", link=f"/volunteers/activities/{activity.id}",
               title=Message("Volunteer activity cancelled: %(title)s",
                             title=activity.title),
               body=Message("%(title)s on %(when)s will not take place. Reason: "
                            "%(reason)s", title=activity.title, when=activity.starts_at,
                            reason=activity.cancel_reason))
        told += 1
    activity.taken = 0
    session.flush()
    log_audit(session, "volunteers.activity.cancel", actor=actor, target_type="activity",
              target_id=str(activity.id), detail={"told": told})
    return told


def has_credited(session: Session, activity_id: int) -> bool:
    return session.scalar(select(func.count()).select_from(HoursEntry).where(
        HoursEntry.activity_id == activity_id)) > 0


def get_activity(session: Session, activity_id: int) -> Activity | None:
    """The activity, or ``None`` (an id beyond the table's range names nothing)."""
    if not 1 <= activity_id <= MAX_ID:
        return None
    return session.get(Activity, activity_id)


def activities_query(*, community: str | None = None, upcoming: bool | None = None,
                     communities: list[str] | None = None, now: datetime | None = None
                     ) -> Select:
    """Activities, the soonest first; ``upcoming`` True: not yet ended and not cancelled,
    False: ended. ``communities`` limits to a staff member's places."""
    query = select(Activity)
    if community:
        query = query.where(Activity.community == community)
    if communities is not None:
        query = query.where(Activity.community.in_(communities))
    now = now or utcnow()
    if upcoming is True:
        query = query.where(Activity.ends_at > now, Activity.state == "open")
        return query.order_by(Activity.starts_at, Activity.id)
    if upcoming is False:
        query = query.where(Activity.ends_at <= now)
    return query.order_by(Activity.starts_at.desc(), Activity.id.desc())


def activity_out(activity: Activity) -> dict[str, Any]:
    """The API's view of an activity (no personal data)."""
    return {
        "id": activity.id, "community": activity.community, "title": activity.title,
        "description": activity.description, "place": activity.place,
        "starts_at": activity.starts_at, "ends_at": activity.ends_at,
        "signup_deadline": activity.signup_deadline, "capacity": activity.capacity,
        "taken": activity.taken, "places_left": max(activity.capacity - activity.taken, 0),
        "hours": float(hours_text(activity.credit_minutes)), "state": activity.state,
        "cancel_reason": activity.cancel_reason or None,
    }
