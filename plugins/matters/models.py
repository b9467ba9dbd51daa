"""The plugin's tables. Names start with ``matters_`` so the ``matters`` migration tree
owns them. Person data stays in the registry: a matter holds a ``person_id``; only what a
caller who is *not* in the registry tells the hotline (``caller_name``, ``caller_phone``)
is kept here, governed (masked, logged, erased after the retention period)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.toolkit import Base, UTCDateTime, utcnow


class MattersDepartment(Base):
    """A department of the street/district (城管, 民政, ...) or a community office that
    takes matters. ``community`` is set for a community office."""

    __tablename__ = "matters_department"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(20), default="department")
    community: Mapped[str | None] = mapped_column(String(12))
    active: Mapped[bool] = mapped_column(default=True)


class MattersRoute(Base):
    """A routing rule: matters of ``category`` in ``place`` (a 12-digit community code, a
    9-digit street code, or ``""`` for anywhere) go to ``department``. The most specific
    place wins; ``category`` ``"*"`` is the fallback for any category. ``answer_days``, when
set, is the rule's own answer limit in working days (before the config's and the
category's default): a district decides it per rule, on the page, without a restart."""

    __tablename__ = "matters_route"
    __table_args__ = (UniqueConstraint("category", "place"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(40))
    place: Mapped[str] = mapped_column(String(12), default="")
    department: Mapped[str] = mapped_column(
        ForeignKey("matters_department.code", ondelete="CASCADE"), index=True
    )
    answer_days: Mapped[int | None] = mapped_column(Integer)


class MattersMember(Base):
    """A staff account working a department's matters: deny by default, so an account
    that is no member of any department sees no department's matters."""

    __tablename__ = "matters_member"
    __table_args__ = (UniqueConstraint("department", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    department: Mapped[str] = mapped_column(
        ForeignKey("matters_department.code", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("identity_user.id", ondelete="CASCADE"), index=True
    )


class Matter(Base):
    """A matter for the government (诉求): filed, routed, signed (签收), answered, rated,
    closed. Deadlines are dates counted in working days."""

    __tablename__ = "matters_matter"
    __table_args__ = (UniqueConstraint("source", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(30), unique=True)
    source: Mapped[str] = mapped_column(String(20))  # hotline | web | grid
    source_id: Mapped[int | None] = mapped_column(Integer)
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    #: The resident's account that filed on the web (their own matter).
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL"), index=True
    )
    filed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL"), index=True
    )
    community: Mapped[str | None] = mapped_column(String(12), index=True)
    category: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(String(200), default="")
    department: Mapped[str] = mapped_column(
        ForeignKey("matters_department.code"), index=True
    )
    state: Mapped[str] = mapped_column(String(20), default="filed", index=True)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sign_due: Mapped[date] = mapped_column(Date)
    answer_due: Mapped[date] = mapped_column(Date)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answer: Mapped[str] = mapped_column(Text, default="")
    #: How the resident learnt the answer: "notified" (an account) or "called" (call-back).
    replied_via: Mapped[str] = mapped_column(String(20), default="")
    rating: Mapped[str | None] = mapped_column(String(20))
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    #: What a caller who is not in the registry told us: governed, erased after retention.
    caller_name: Mapped[str] = mapped_column(String(50), default="")
    caller_phone: Mapped[str] = mapped_column(String(30), default="")
    caller_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MattersStep(Base):
    """The matter's timeline: each step, who took it, and a note (the transfer's reason,
    the answer)."""

    __tablename__ = "matters_step"

    id: Mapped[int] = mapped_column(primary_key=True)
    matter_id: Mapped[int] = mapped_column(
        ForeignKey("matters_matter.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    department: Mapped[str] = mapped_column(String(40), default="")
    note: Mapped[str] = mapped_column(Text, default="")
