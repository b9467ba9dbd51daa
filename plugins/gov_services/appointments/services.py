"""Appointments (预约办理): the rules, for the pages, the API and the jobs alike.

An office is open on a day when it has hours for that weekday and the day is not a public
holiday of the working-day calendar (``core.toolkit.working_calendar``); a weekend day the
calendar makes a working day (调休) keeps Monday's hours. A service's slots are cut from
the office's periods by its :class:`SlotRule`; a slot holds ``capacity`` places per active
counter. Times are the office's (``app.timezone``); the database keeps UTC.

Why the constraints: the place taken is a seat number unique per slot, so when two
residents take the last place at once the database refuses the second insert and the
second resident is told the slot is full — no lock, no count that can race.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.toolkit import (
    N_,
    Bilingual,
    Message,
    RuleError,
    local_zone,
    notify,
    scope_allows,
    utcnow,
)
from plugins.gov_services.appointments.models import Booking, Counter, OpeningHours, SlotRule
from plugins.gov_services.services.vocabulary import PLUGIN

ACTIVE = ("booked", "checked_in", "called", "served")
STATES = ("booked", "checked_in", "called", "served", "cancelled", "no_show")
STATE_LABELS = {
    "booked": N_("Booked"),
    "checked_in": N_("Checked in, waiting"),
    "called": N_("Called to the counter"),
    "served": N_("Served"),
    "cancelled": N_("Cancelled"),
    "no_show": N_("Missed"),
}
WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"),
            N_("Saturday"), N_("Sunday"))
#: Minutes after a slot's end before an unattended booking counts as missed.
NO_SHOW_GRACE = 15
#: Missed appointments within this many days that make a "repeated" note for staff.
NO_SHOW_WINDOW = 90
REPEATED_NO_SHOWS = 2


class AppointmentError(RuleError):
    """A rule refused a booking or a step: 422 with the field at fault."""

    status = 422


class SlotTaken(AppointmentError):
    """The slot is full, or the person already has a booking that day: 409."""

    status = 409


class StateError(AppointmentError):
    """A step the booking's state does not allow (cancel after the cut-off, check in a
    cancelled booking): 409."""

    status = 409


class NotBookable(AppointmentError):
    status = 404


@dataclass
class Slot:
    """One bookable time of a service on a day, local times and the places left."""

    start: datetime
    end: datetime
    capacity: int
    taken: int

    @property
    def free(self) -> int:
        return max(self.capacity - self.taken, 0)

    @property
    def time(self) -> str:
        return self.start.strftime("%H:%M")


# ------------------------------------------------------------------------------ clock


def now_utc() -> datetime:
    """The clock the rules read (a parameter wins: jobs and tests pass a fixed one)."""
    return utcnow()


def local(at: datetime, tz: ZoneInfo | None = None) -> datetime:
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo("UTC"))
    return at.astimezone(tz or local_zone())


def parse_hhmm(value: str) -> time:
    h, m = value.split(":")
    return time(int(h), int(m))


# ------------------------------------------------------------------------------ setup


def rule_for(session: Session, service_code: str) -> SlotRule | None:
    rule = session.scalar(select(SlotRule).where(SlotRule.service_code == service_code))
    return rule if rule is not None and rule.active else None


def bookable_services(session: Session) -> list[SlotRule]:
    return list(session.scalars(
        select(SlotRule).where(SlotRule.active.is_(True)).order_by(SlotRule.service_code)))


def counters(session: Session, office: str, *, active_only: bool = True) -> list[Counter]:
    q = select(Counter).where(Counter.office == office).order_by(Counter.number)
    if active_only:
        q = q.where(Counter.active.is_(True))
    return list(session.scalars(q))


def hours(session: Session, office: str) -> dict[int, list[tuple[str, str]]]:
    """``weekday → [(opens, closes), …]`` of an office, in order."""
    out: dict[int, list[tuple[str, str]]] = {d: [] for d in range(7)}
    for row in session.scalars(select(OpeningHours).where(OpeningHours.office == office)
                               .order_by(OpeningHours.weekday, OpeningHours.opens)):
        out[row.weekday].append((row.opens, row.closes))
    return out


def periods(session: Session, calendar: Any, office: str, day: date) -> list[tuple[str, str]]:
    """The office's opening periods on ``day``: none on a public holiday; on a weekend day
    made a working day (调休), Monday's."""
    if day in calendar.holidays:
        return []
    table = hours(session, office)
    found = table[day.weekday()]
    if not found and day.weekday() >= 5 and calendar.is_working(day):
        found = table[0]
    return found


def capacity(session: Session, rule: SlotRule) -> int:
    """Places per slot: the rule's places per counter times the office's active counters."""
    n = session.scalar(select(func.count()).select_from(Counter).where(
        Counter.office == rule.office, Counter.active.is_(True))) or 0
    return rule.capacity * n


def slots(session: Session, calendar: Any, rule: SlotRule, day: date, *,
          now: datetime | None = None, tz: ZoneInfo | None = None,
          with_past: bool = False) -> list[Slot]:
    """The service's slots on ``day`` with the places left; past ones left out."""
    tz = tz or local_zone()
    now = now or now_utc()
    cap = capacity(session, rule)
    taken = dict(session.execute(
        select(Booking.starts_at, func.count()).where(
            Booking.service_code == rule.service_code, Booking.day == day,
            Booking.seat.is_not(None)).group_by(Booking.starts_at)).all())
    taken = {local(k, tz): v for k, v in taken.items()}
    out = []
    for opens, closes in periods(session, calendar, rule.office, day):
        start = datetime.combine(day, parse_hhmm(opens), tz)
        end_of_period = datetime.combine(day, parse_hhmm(closes), tz)
        step = timedelta(minutes=rule.minutes)
        while start + step <= end_of_period:
            if with_past or start > now:
                out.append(Slot(start, start + step, cap, taken.get(start, 0)))
            start += step
    return out


# ------------------------------------------------------------------------------ booking


def check_day(session: Session, calendar: Any, rule: SlotRule, day: date,
               now: datetime, tz: ZoneInfo) -> None:
    today = local(now, tz).date()
    if day < today:
        raise AppointmentError(N_("That day has passed. Choose a day from today on."), "day")
    if day > today + timedelta(days=rule.days_ahead):
        raise AppointmentError(
            N_("Appointments can be made up to %(n)s days ahead."), "day", n=rule.days_ahead)
    if not periods(session, calendar, rule.office, day):
        raise AppointmentError(
            N_("The office is closed that day (a weekend or public holiday). Choose another day."),
            "day")


def find_slot(session: Session, calendar: Any, rule: SlotRule, day: date, at: str, *,
              now: datetime, tz: ZoneInfo) -> Slot:
    """The slot starting at ``at`` (``HH:MM``) on ``day``, or the field's message."""
    check_day(session, calendar, rule, day, now, tz)
    try:
        wanted = datetime.combine(day, parse_hhmm(at), tz)
    except (ValueError, TypeError):
        raise AppointmentError(N_("Choose one of the times offered."), "time") from None
    for slot in slots(session, calendar, rule, day, now=now, tz=tz, with_past=True):
        if slot.start == wanted:
            if slot.start <= now:
                raise AppointmentError(
                    N_("That time has passed. Choose a later time."), "time")
            return slot
    raise AppointmentError(N_("Choose one of the times offered."), "time")


def _seat_into(session: Session, booking: Booking, slot: Slot) -> None:
    """Give ``booking`` a free seat of ``slot`` and flush, in a savepoint per try: the
    unique constraints decide between two residents taking the same place at once."""
    own = booking.id  # None for a new booking
    starts = slot.start.astimezone(UTC)
    for _ in range(max(slot.capacity, 1)):
        q = select(Booking.seat).where(
            Booking.service_code == booking.service_code, Booking.starts_at == starts,
            Booking.seat.is_not(None))
        if own is not None:
            q = q.where(Booking.id != own)
        used = set(session.scalars(q))
        free = [s for s in range(1, slot.capacity + 1) if s not in used]
        if not free:
            break
        values = {"day": slot.start.date(), "starts_at": starts,
                  "ends_at": slot.end.astimezone(UTC), "seat": free[0],
                  "active_day": slot.start.date()}
        nested = session.begin_nested()
        try:
            for k, v in values.items():
                setattr(booking, k, v)
            session.add(booking)
            session.flush()
        except IntegrityError:
            nested.rollback()
            if own is None:
                booking.id = None
            if _double(session, booking.person_id, booking.service_code, slot.start.date(),
                       exclude=own):
                raise SlotTaken(
                    N_("You already have an appointment for this service that day."),
                    "day") from None
            continue
        nested.commit()
        return
    raise SlotTaken(N_("This time is fully booked. Choose another time."), "time")


def _double(session: Session, person_id: int, service_code: str, day: date,
            exclude: int | None = None) -> Booking | None:
    q = select(Booking).where(Booking.person_id == person_id,
                              Booking.service_code == service_code,
                              Booking.active_day == day)
    if exclude:
        q = q.where(Booking.id != exclude)
    return session.scalar(q)


def book(session: Session, g: Any, *, service_code: str, person_id: int, user_id: int | None,
         community: str | None, day: date, at: str, now: datetime | None = None,
         channel: str | None = None) -> Booking:
    """Book the slot at ``at`` on ``day`` for the person; told by notification, and
    ``gov_services.appointment.booked`` published in the same transaction. ``channel``
    (:func:`channel_of`) is how it was booked, None when the caller does not say."""
    now = now or now_utc()
    tz = local_zone(g.kernel)
    rule = rule_for(session, service_code)
    if rule is None:
        raise NotBookable(N_("This service cannot be booked."), "service_code")
    slot = find_slot(session, g.calendar, rule, day, at, now=now, tz=tz)
    if _double(session, person_id, service_code, day):
        raise SlotTaken(N_("You already have an appointment for this service that day."), "day")
    if slot.free <= 0:
        raise SlotTaken(N_("This time is fully booked. Choose another time."), "time")
    booking = Booking(service_code=service_code, office=rule.office, person_id=person_id,
                      user_id=user_id, community=community, state="booked")
    _seat_into(session, booking, slot)
    _publish(session, g, booking, "booked", now=now, channel=channel)
    _tell(session, g, booking, N_("Appointment booked: %(service)s"),
          N_("%(when)s at %(office)s. Bring your ID card. Change or cancel it up to %(n)s "
             "hours before."), n=rule.cutoff_hours)
    return booking


def _before_cutoff(session: Session, booking: Booking, now: datetime) -> None:
    if booking.state != "booked":
        raise StateError(N_("This appointment can no longer be changed."), "state")
    rule = session.scalar(select(SlotRule).where(SlotRule.service_code == booking.service_code))
    hours_ = rule.cutoff_hours if rule is not None else 2
    if now >= booking.starts_at - timedelta(hours=hours_):
        raise StateError(
            N_("Appointments can be changed or cancelled only up to %(n)s hours before. "
               "Please call the office."), "state", n=hours_)


def change(session: Session, g: Any, booking: Booking, *, day: date, at: str,
           now: datetime | None = None, channel: str | None = None) -> Booking:
    """Move a booking to another slot (till the cut-off); the old place is freed.
    Publishes ``gov_services.appointment.changed`` with the slot it left."""
    now = now or now_utc()
    _before_cutoff(session, booking, now)
    rule = rule_for(session, booking.service_code)
    if rule is None:
        raise NotBookable(N_("This service cannot be booked."), "service_code")
    slot = find_slot(session, g.calendar, rule, day, at, now=now, tz=local_zone(g.kernel))
    if slot.start == local(booking.starts_at, slot.start.tzinfo):
        raise AppointmentError(N_("That is the time you already have."), "time")
    if _double(session, booking.person_id, booking.service_code, day, exclude=booking.id):
        raise SlotTaken(N_("You already have an appointment for this service that day."), "day")
    previous = (booking.day, booking.starts_at, booking.ends_at)
    # free the old place first, then take one in the new slot
    booking.seat, booking.active_day = None, None
    session.flush()
    _seat_into(session, booking, slot)
    booking.reminded_at = None
    _publish(session, g, booking, "changed", now=now, channel=channel, previous=previous)
    _tell(session, g, booking, N_("Appointment changed: %(service)s"),
          N_("Your new time: %(when)s at %(office)s."))
    return booking


def cancel(session: Session, g: Any, booking: Booking, *, now: datetime | None = None,
           channel: str | None = None) -> Booking:
    """Cancel (till the cut-off): the place is free for someone else at once.
    Publishes ``gov_services.appointment.cancelled``."""
    now = now or now_utc()
    _before_cutoff(session, booking, now)
    booking.state, booking.seat, booking.active_day = "cancelled", None, None
    session.flush()
    _publish(session, g, booking, "cancelled", now=now, channel=channel)
    _tell(session, g, booking, N_("Appointment cancelled: %(service)s"),
          N_("Your appointment of %(when)s is cancelled."))
    return booking


def my_bookings(session: Session, person_id: int) -> list[Booking]:
    return list(session.scalars(select(Booking).where(Booking.person_id == person_id)
                                .order_by(Booking.starts_at.desc()).limit(50)))


# ------------------------------------------------------------------------------ staff


def may_handle(user: Any, booking: Booking) -> bool:
    """Staff act on a booking only within their places (its community)."""
    return scope_allows(user, community=booking.community)


def day_list(session: Session, user: Any, office: str, day: date) -> list[Booking]:
    """The office's bookings of the day within the viewer's places, in time order."""
    rows = session.scalars(select(Booking).where(Booking.office == office, Booking.day == day,
                                                 Booking.state != "cancelled")
                           .order_by(Booking.starts_at, Booking.id))
    return [b for b in rows if may_handle(user, b)]


def no_show_counts(session: Session, person_ids: Iterable[int], now: datetime) -> dict[int, int]:
    """Missed appointments per person within the last ``NO_SHOW_WINDOW`` days."""
    ids = list(set(person_ids))
    if not ids:
        return {}
    since = now - timedelta(days=NO_SHOW_WINDOW)
    return dict(session.execute(select(Booking.person_id, func.count()).where(
        Booking.person_id.in_(ids), Booking.state == "no_show", Booking.starts_at >= since)
        .group_by(Booking.person_id)).all())


def check_in(session: Session, g: Any, booking: Booking, *, now: datetime | None = None,
             channel: str | None = "counter") -> int:
    """The resident is at the office: the next queue number of the office's day (unique by
    constraint; two desks checking in at once retry with the next number). Publishes
    ``gov_services.appointment.checked_in`` with the number; check-in is at the desk, so
    the channel is ``counter`` unless the caller says otherwise."""
    now = now or now_utc()
    if booking.state != "booked":
        raise StateError(N_("Only a booked appointment can be checked in."), "state")
    if booking.day != local(now, local_zone(g.kernel)).date():
        raise StateError(N_("Check-in is on the day of the appointment only."), "state")
    for _ in range(20):
        top = session.scalar(select(func.max(Booking.queue_no)).where(
            Booking.office == booking.office, Booking.day == booking.day)) or 0
        nested = session.begin_nested()
        try:
            booking.queue_no, booking.state, booking.checked_in_at = top + 1, "checked_in", now
            session.flush()
        except IntegrityError:
            nested.rollback()
            continue
        nested.commit()
        break
    else:  # pragma: no cover - twenty desks at once
        raise StateError(N_("Please try again."), "state")
    _publish(session, g, booking, "checked_in", now=now, channel=channel,
             queue_number=booking.queue_no)
    _tell(session, g, booking, N_("Your queue number: %(number)s"),
          N_("Please wait to be called for %(service)s at %(office)s."),
          number=queue_label(booking.queue_no))
    return booking.queue_no


def queue_label(number: int | None) -> str:
    return f"A{number:03d}" if number else ""


def call_next(session: Session, g: Any, user: Any, office: str, counter: int, *,
              now: datetime | None = None) -> Booking | None:
    """Call the lowest waiting number (within the caller's places) to ``counter``."""
    today = local(now or now_utc(), local_zone(g.kernel)).date()
    waiting = session.scalars(select(Booking).where(
        Booking.office == office, Booking.day == today, Booking.state == "checked_in")
        .order_by(Booking.queue_no))
    for b in waiting:
        if may_handle(user, b):
            b.state, b.counter = "called", counter
            session.flush()
            _tell(session, g, b, N_("Number %(number)s, please go to counter %(counter)s"),
                  N_("%(service)s at %(office)s."), number=queue_label(b.queue_no),
                  counter=counter)
            return b
    return None


def serve(session: Session, booking: Booking, *, now: datetime | None = None) -> Booking:
    if booking.state not in ("checked_in", "called"):
        raise StateError(N_("Only a checked-in appointment can be marked served."), "state")
    booking.state, booking.served_at = "served", now or now_utc()
    session.flush()
    return booking


def mark_no_show(session: Session, g: Any, booking: Booking, *,
                 now: datetime | None = None, channel: str | None = "counter") -> Booking:
    """After the slot has ended, a booking nobody checked in is missed; the resident is
    told, and may book again. Publishes ``gov_services.appointment.no_show``: channel
    ``counter`` when staff mark it at the desk, None from the sweep job."""
    now = now or now_utc()
    if booking.state != "booked":
        raise StateError(N_("Only a booked appointment can be marked missed."), "state")
    if now < booking.ends_at:
        raise StateError(N_("The appointment has not ended yet."), "state")
    booking.state, booking.active_day = "no_show", None
    session.flush()
    _publish(session, g, booking, "no_show", now=now, channel=channel)
    missed = no_show_counts(session, [booking.person_id], now).get(booking.person_id, 0)
    body = (N_("You did not come to your appointment of %(when)s. You have missed %(count)s "
               "appointments recently; please cancel in time if you cannot come.")
            if missed >= REPEATED_NO_SHOWS else
            N_("You did not come to your appointment of %(when)s. You can book a new one."))
    _tell(session, g, booking, N_("Missed appointment: %(service)s"), body, count=missed)
    return booking


# ------------------------------------------------------------------------------ jobs


def send_reminders(session: Session, g: Any, *, now: datetime | None = None) -> int:
    """Remind residents of tomorrow's appointments (local day), once each
    (``reminded_at``), in their language with the office's local time."""
    now = now or now_utc()
    tomorrow = local(now, local_zone(g.kernel)).date() + timedelta(days=1)
    rows = list(session.scalars(select(Booking).where(
        Booking.day == tomorrow, Booking.state == "booked", Booking.reminded_at.is_(None))))
    for b in rows:
        b.reminded_at = now
        _tell(session, g, b, N_("Reminder: your appointment tomorrow, %(service)s"),
              N_("%(when)s at %(office)s. Bring your ID card. If you cannot come, cancel it."))
    session.flush()
    return len(rows)


def sweep_no_shows(session: Session, g: Any, *, now: datetime | None = None) -> int:
    """Mark bookings nobody checked in, ``NO_SHOW_GRACE`` minutes after their slot."""
    now = now or now_utc()
    rows = list(session.scalars(select(Booking).where(
        Booking.state == "booked", Booking.ends_at <= now - timedelta(minutes=NO_SHOW_GRACE))))
    for b in rows:
        mark_no_show(session, g, b, now=now, channel=None)
    return len(rows)


# ------------------------------------------------------------------------------ manage


def set_rule(session: Session, g: Any, service_code: str, *, minutes: int, capacity: int,
             days_ahead: int, cutoff_hours: int, active: bool) -> SlotRule:
    """Make a service bookable at its catalogue office (or change how)."""
    from plugins.gov_services.appointments.catalogue import office_code

    service = g.catalogue.get(service_code)
    if service is None:
        raise NotBookable(N_("There is no such service."), "service_code")
    office = office_code(g, service)
    if office is None:
        raise AppointmentError(N_("This service has no office to go to."), "service_code")
    if not 5 <= minutes <= 240:
        raise AppointmentError(N_("Between 5 and 240 minutes."), "minutes")
    rule = session.scalar(select(SlotRule).where(SlotRule.service_code == service_code))
    if rule is None:
        rule = SlotRule(service_code=service_code)
        session.add(rule)
    rule.office, rule.minutes, rule.capacity = office, minutes, capacity
    rule.days_ahead, rule.cutoff_hours, rule.active = days_ahead, cutoff_hours, active
    session.flush()
    return rule


def set_hours(session: Session, office: str, weekday: int,
              spans: list[tuple[str, str]]) -> None:
    """Replace an office's periods on a weekday (an empty list: closed that weekday)."""
    cleaned = []
    for opens, closes in spans:
        try:
            a, b = parse_hhmm(opens), parse_hhmm(closes)
        except (ValueError, TypeError):
            raise AppointmentError(N_("Write times as HH:MM, e.g. 09:00–12:00."), "hours") from None
        if a >= b:
            raise AppointmentError(N_("A period must close after it opens."), "hours")
        cleaned.append((a.strftime("%H:%M"), b.strftime("%H:%M")))
    for row in session.scalars(select(OpeningHours).where(
            OpeningHours.office == office, OpeningHours.weekday == weekday)):
        session.delete(row)
    for a, b in cleaned:
        session.add(OpeningHours(office=office, weekday=weekday, opens=a, closes=b))
    session.flush()


def parse_spans(text: str) -> list[tuple[str, str]]:
    """``"09:00-12:00, 13:30-17:00"`` → periods (empty text: closed)."""
    out = []
    for part in (text or "").replace("，", ",").replace("–", "-").split(","):
        part = part.strip()
        if not part:
            continue
        if part.count("-") != 1:
            raise AppointmentError(N_("Write times as HH:MM, e.g. 09:00–12:00."), "hours")
        a, b = (x.strip() for x in part.split("-"))
        out.append((a, b))
    return out


def set_counter(session: Session, office: str, number: int, *, label_zh: str = "",
                label_en: str = "", active: bool = True) -> Counter:
    """Add a counter or change one (deactivated counters no longer add places)."""
    if not 1 <= number <= 99:
        raise AppointmentError(N_("A counter number from 1 to 99."), "number")
    row = session.scalar(select(Counter).where(Counter.office == office, Counter.number == number))
    if row is None:
        row = Counter(office=office, number=number)
        session.add(row)
    row.label_zh, row.label_en, row.active = label_zh, label_en, active
    session.flush()
    return row


# ------------------------------------------------------------------------------ events


def channel_of(user: Any) -> str:
    """The channel of a step a signed-in account takes for its own booking: ``assisted``
    while a worker acts for the resident, else ``web`` (the pages and the API)."""
    return "assisted" if getattr(user, "assisted", False) else "web"


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def event_payload(g: Any, booking: Booking, *, now: datetime, channel: str | None,
                  previous: tuple[date, datetime, datetime] | None = None,
                  queue_number: int | None = None) -> dict[str, Any]:
    """The payload of ``gov_services.appointment.*`` (``schemas.AppointmentEvent``): the
    booking's ids and codes and its slot — a person reference, never a copy of registry
    data. The slot is stated twice on purpose: the office's local ``day``/``time`` in the
    named ``timezone`` (what the resident was told) and ``starts_at``/``ends_at`` in UTC
    with their offset, as every other event's times."""
    tz = local_zone(g.kernel)
    out: dict[str, Any] = {
        "booking_id": booking.id,
        "service_code": booking.service_code,
        "office": booking.office,
        "person_id": booking.person_id,
        "community": booking.community,
        "state": booking.state,
        "day": booking.day.isoformat(),
        "time": local(booking.starts_at, tz).strftime("%H:%M"),
        "starts_at": _utc(booking.starts_at).isoformat(),
        "ends_at": _utc(booking.ends_at).isoformat(),
        "timezone": tz.key,
        "channel": channel,
        "at": _utc(now).isoformat(),
    }
    if queue_number is not None:
        out["queue_number"] = queue_number
    if previous is not None:
        day, starts, ends = previous
        out.update(previous_day=day.isoformat(),
                   previous_time=local(starts, tz).strftime("%H:%M"),
                   previous_starts_at=_utc(starts).isoformat(),
                   previous_ends_at=_utc(ends).isoformat())
    return out


def _publish(session: Session, g: Any, booking: Booking, verb: str, **kw: Any) -> None:
    """Publish the step's event into the outbox on the caller's session: it commits or
    rolls back with the step itself, so a refused step never leaves an event behind."""
    g.bus.publish(session, f"gov_services.appointment.{verb}", event_payload(g, booking, **kw))


# ------------------------------------------------------------------------------ telling


def _tell(session: Session, g: Any, booking: Booking, title: str, body: str,
          **params: Any) -> None:
    """Tell the resident, in the language they read it in, with the office's local time
    (a datetime parameter is shown in ``app.timezone`` when read)."""
    if booking.user_id is None:
        return
    from plugins.gov_services.appointments.catalogue import office_name

    service = g.catalogue.get(booking.service_code)
    words: dict[str, Any] = {
        "service": (Bilingual(service.name_en, service.name_zh) if service
                    else booking.service_code),
        "office": Bilingual(office_name(g, booking.office, "en"),
                            office_name(g, booking.office, "zh")),
        "when": booking.starts_at,
        **params,
    }
    notify(session, g.bus, user_id=booking.user_id,
           title=Message(title, **words), body=Message(body, **words),
           link="/gov-services/appointments/mine", source=PLUGIN)


__all__ = [
    "ACTIVE", "STATES", "STATE_LABELS", "WEEKDAYS", "AppointmentError", "Booking", "Slot",
    "SlotTaken", "StateError", "book", "call_next", "cancel", "change", "channel_of",
    "check_in", "day_list", "event_payload", "mark_no_show", "my_bookings", "no_show_counts",
    "send_reminders", "serve",
    "set_counter", "set_hours", "set_rule", "slots", "sweep_no_shows",
]
