"""The plugin's tables (all prefixed ``volunteers_``, so only this plugin's migration tree
touches them).

Volunteers are registry persons referred to by id only: names and phones stay in the
registry and are read through ``toolkit.registry_reader`` when a roster shows them.

The sign-up limit holds under a race because a place is taken by one conditional
``UPDATE volunteers_activity SET taken = taken + 1 WHERE id = :id AND taken < capacity``
(``services.signups``): the database serialises concurrent updates of one row, and the
second of two sign-ups for the last place finds the condition false and goes on the
waiting list. ``taken`` counts the ``signed_up`` and ``attended`` sign-ups.

Hours are a ledger: one :class:`HoursEntry` per activity and person (a unique
constraint, so crediting twice is a no-op), corrected only through :class:`HoursCorrection`
rows that keep the old value, the new value and the reason.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.toolkit import Base, UTCDateTime, utcnow


class Activity(Base):
    __tablename__ = "volunteers_activity"
    __table_args__ = (
        CheckConstraint("taken >= 0 AND taken <= capacity", name="taken_within_capacity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The 12-digit code of the community that runs it (staff act within their places).
    community: Mapped[str] = mapped_column(String(12), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    signup_deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Places on offer, and places taken (signed up or attended).
    capacity: Mapped[int] = mapped_column(Integer)
    taken: Mapped[int] = mapped_column(Integer, default=0)
    #: Hours credited to each volunteer who attends, in minutes (1.5 h = 90).
    credit_minutes: Mapped[int] = mapped_column(Integer)
    #: "open" or "cancelled".
    state: Mapped[str] = mapped_column(String(20), default="open")
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Signup(Base):
    __tablename__ = "volunteers_signup"
    __table_args__ = (UniqueConstraint("activity_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("volunteers_activity.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    #: The account that signed up (whom to tell).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    #: "signed_up", "waiting", "cancelled", "attended" or "absent".
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    checked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )


class HoursEntry(Base):
    __tablename__ = "volunteers_hours"
    __table_args__ = (UniqueConstraint("activity_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("volunteers_activity.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    community: Mapped[str] = mapped_column(String(12), index=True)
    minutes: Mapped[int] = mapped_column(Integer)
    #: When the service was given (the activity's start): what "hours per year" counts by.
    served_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    credited_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    credited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )


class HoursCorrection(Base):
    __tablename__ = "volunteers_hours_correction"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("volunteers_hours.id", ondelete="CASCADE"), index=True
    )
    old_minutes: Mapped[int] = mapped_column(Integer)
    new_minutes: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    by_id: Mapped[int | None] = mapped_column(ForeignKey("identity_user.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
