"""gov_services tables. Applications keep the person's id and the community/grid the case
is handled in (the case's place, which staff scopes are checked against); everything else
about the person is read from the registry when shown, never copied."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.toolkit import Base, UTCDateTime, utcnow


class Application(Base):
    __tablename__ = "gov_services_application"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Human reference shown to the resident: GS-<year>-<id>.
    reference: Mapped[str] = mapped_column(String(40), default="", index=True)
    service_code: Mapped[str] = mapped_column(String(60), index=True)
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    #: The account that applied (the resident's own, also in the assisted channel).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL"), index=True
    )
    #: The staff account that filed it for the resident (assisted / counter channel).
    filed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    channel: Mapped[str] = mapped_column(String(20), default="online")  # online|assisted|counter
    community: Mapped[str | None] = mapped_column(String(12), index=True)
    grid: Mapped[str | None] = mapped_column(String(15), index=True)
    state: Mapped[str] = mapped_column(String(20), index=True, default="submitted")
    #: The review stage a suspended case returns to.
    resume_state: Mapped[str | None] = mapped_column(String(20))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Documents asked for in a "needs material" step (one complete list).
    missing: Mapped[list[str]] = mapped_column(JSON, default=list)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    due_on: Mapped[date | None] = mapped_column(Date, index=True)
    #: Working days left when a case was suspended (the clock stops while suspended).
    remaining_days: Mapped[int | None] = mapped_column(Integer)
    warned_on: Mapped[date | None] = mapped_column(Date)
    #: Set by registry events (moved, deceased): someone must look at the case again.
    review_flag: Mapped[str] = mapped_column(String(200), default="")
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    steps: Mapped[list[Step]] = relationship(
        back_populates="application", order_by="Step.id", cascade="all, delete-orphan"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="application", order_by="Attachment.id", cascade="all, delete-orphan"
    )


class Step(Base):
    """One line of an application's timeline: who did what, with which comment."""

    __tablename__ = "gov_services_step"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("gov_services_application.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(30))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    application: Mapped[Application] = relationship(back_populates="steps")


class Attachment(Base):
    """A file stored under the instance path (outside the web root), served only by a
    view that checks access to its application."""

    __tablename__ = "gov_services_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("gov_services_application.id", ondelete="CASCADE"), index=True
    )
    document: Mapped[str] = mapped_column(String(60))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(Integer)
    stored_as: Mapped[str] = mapped_column(String(80), unique=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(Integer)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    application: Mapped[Application] = relationship(back_populates="attachments")


class Membership(Base):
    """A person's membership of a thematic database. Ending one sets ``ended_on`` and the
    reason; rows are never deleted, so the history of who received what stays."""

    __tablename__ = "gov_services_membership"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    database: Mapped[str] = mapped_column(String(40), index=True)
    service_code: Mapped[str] = mapped_column(String(60))
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("gov_services_application.id", ondelete="SET NULL")
    )
    community: Mapped[str | None] = mapped_column(String(12), index=True)
    grid: Mapped[str | None] = mapped_column(String(15), index=True)
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date, index=True)
    end_reason: Mapped[str] = mapped_column(String(200), default="")
    review_flag: Mapped[str] = mapped_column(String(200), default="")


class Setting(Base):
    """Per-community switch and threshold overrides for one service (admins' local rules).
    No row: the service is enabled with the catalogue's defaults."""

    __tablename__ = "gov_services_setting"
    __table_args__ = (UniqueConstraint("community", "service_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community: Mapped[str] = mapped_column(String(12))
    service_code: Mapped[str] = mapped_column(String(60))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Offer(Base):
    """A proactive offer made to a person (so a daily job never repeats it)."""

    __tablename__ = "gov_services_offer"
    __table_args__ = (UniqueConstraint("person_id", "service_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    service_code: Mapped[str] = mapped_column(String(60))
    user_id: Mapped[int | None] = mapped_column(Integer)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


from plugins.gov_services.appointments import models as _appointments  # noqa: E402,F401
from plugins.gov_services.outreach.models import OutreachContact, OutreachItem  # noqa: E402,F401
