"""Appointment tables (预约办理). Offices are the catalogue's (``data/services.json``);
what the counters, the hours and the slots are is data here, kept by staff on the manage
page. A booking holds the person's id and the community staff scopes are checked against,
never the person's name or number.

Two constraints carry the rules that must hold under concurrency:

* ``uq_gov_services_appt_booking_seat``: one active booking per seat of a slot (a
  cancelled booking gives its seat back by setting ``seat`` to NULL, and NULLs never
  collide), so two residents taking the last place at once cannot both win;
* ``uq_gov_services_appt_booking_person``: one active booking per person, service and day
  (``active_day`` is the day while the booking is active, NULL once cancelled or missed);
* ``uq_gov_services_appt_booking_queue``: queue numbers are unique per office and day.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.toolkit import Base, UTCDateTime, utcnow


class Counter(Base):
    """A counter (窗口) of an office; a slot's capacity counts the active counters."""

    __tablename__ = "gov_services_appt_counter"
    __table_args__ = (UniqueConstraint("office", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office: Mapped[str] = mapped_column(String(60), index=True)
    number: Mapped[int] = mapped_column(Integer)
    label_zh: Mapped[str] = mapped_column(String(100), default="")
    label_en: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class OpeningHours(Base):
    """One opening period of an office on a weekday (0 Monday … 6 Sunday), local time
    ``HH:MM`` in ``app.timezone``; several periods a day (morning and afternoon)."""

    __tablename__ = "gov_services_appt_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    office: Mapped[str] = mapped_column(String(60), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    opens: Mapped[str] = mapped_column(String(5))
    closes: Mapped[str] = mapped_column(String(5))


class SlotRule(Base):
    """Which service can be booked and how: slot length, places per slot per counter, how
    far ahead, and until when before the slot a booking may be changed or cancelled."""

    __tablename__ = "gov_services_appt_slot_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_code: Mapped[str] = mapped_column(String(60), unique=True)
    office: Mapped[str] = mapped_column(String(60))
    minutes: Mapped[int] = mapped_column(Integer, default=30)
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    days_ahead: Mapped[int] = mapped_column(Integer, default=14)
    cutoff_hours: Mapped[int] = mapped_column(Integer, default=2)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Booking(Base):
    """A resident's appointment, from booking to served (or cancelled, or missed)."""

    __tablename__ = "gov_services_appt_booking"
    __table_args__ = (
        UniqueConstraint("service_code", "starts_at", "seat",
                         name="uq_gov_services_appt_booking_seat"),
        UniqueConstraint("person_id", "service_code", "active_day",
                         name="uq_gov_services_appt_booking_person"),
        UniqueConstraint("office", "day", "queue_no", name="uq_gov_services_appt_booking_queue"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_code: Mapped[str] = mapped_column(String(60), index=True)
    office: Mapped[str] = mapped_column(String(60), index=True)
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    #: The account that booked (told of changes, reminded).
    user_id: Mapped[int | None] = mapped_column(Integer)
    community: Mapped[str | None] = mapped_column(String(12), index=True)
    #: The office's local day of the slot.
    day: Mapped[date] = mapped_column(Date, index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: 1…capacity while active; NULL once cancelled (the place is free again).
    seat: Mapped[int | None] = mapped_column(Integer)
    #: ``day`` while active (booked, checked in, called, served); NULL when cancelled or missed.
    active_day: Mapped[date | None] = mapped_column(Date)
    #: booked | checked_in | called | served | cancelled | no_show
    state: Mapped[str] = mapped_column(String(20), default="booked", index=True)
    queue_no: Mapped[int | None] = mapped_column(Integer)
    counter: Mapped[int | None] = mapped_column(Integer)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    served_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
