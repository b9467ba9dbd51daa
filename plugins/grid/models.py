"""The plugin's tables (prefixed ``grid_``). Persons are referenced by registry id only;
names, numbers, phones and addresses stay in the registry and are read through
``toolkit.registry_reader`` when shown. Community and grid codes are place codes (not
personal data), kept so a worker's list and a supervisor's coverage filter by place."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.toolkit import Base, UTCDateTime, utcnow


class GridSubject(Base):
    """A person a visit rule selects: a governed reference (person id, rule code, and for
    membership rules the thematic database's code, nothing else of gov_services' data).
    Ended rows (``active`` false) are kept as history, never deleted."""

    __tablename__ = "grid_subject"
    __table_args__ = (UniqueConstraint("person_id", "rule"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    rule: Mapped[str] = mapped_column(String(40))
    #: "registry" (computed), "membership" (gov_services.membership.changed), "arrival".
    source: Mapped[str] = mapped_column(String(20))
    #: The thematic database code for a membership rule, else "".
    database: Mapped[str] = mapped_column(String(40), default="")
    community: Mapped[str | None] = mapped_column(String(12), index=True)
    grid: Mapped[str | None] = mapped_column(String(15), index=True)
    since: Mapped[date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    ended_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class GridVisit(Base):
    """A home visit (入户走访): whom the worker met, what they found, what is needed."""

    __tablename__ = "grid_visit"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    household_id: Mapped[int | None] = mapped_column(Integer, index=True)
    community: Mapped[str | None] = mapped_column(String(12), index=True)
    grid: Mapped[str | None] = mapped_column(String(15), index=True)
    visited_on: Mapped[date] = mapped_column(Date, index=True)
    #: "person" | "family" | "neighbour" | "nobody" (nobody at home).
    met: Mapped[str] = mapped_column(String(20))
    findings: Mapped[str] = mapped_column(Text, default="")
    needs: Mapped[str] = mapped_column(Text, default="")
    follow_up: Mapped[str] = mapped_column(Text, default="")
    follow_up_on: Mapped[date | None] = mapped_column(Date)
    recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GridPatrol(Base):
    """A patrol (巡查): the route or area walked, when, and what was found."""

    __tablename__ = "grid_patrol"

    id: Mapped[int] = mapped_column(primary_key=True)
    community: Mapped[str | None] = mapped_column(String(12), index=True)
    grid: Mapped[str | None] = mapped_column(String(15), index=True)
    area: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    found: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GridFinding(Base):
    """A finding referred onward (one step: ``grid.finding.referred``), with the onward
    status the consumer reports back (a matter's reference and state)."""

    __tablename__ = "grid_finding"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("grid_visit.id", ondelete="SET NULL"), index=True)
    patrol_id: Mapped[int | None] = mapped_column(
        ForeignKey("grid_patrol.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(String(500))
    service_code: Mapped[str | None] = mapped_column(String(60))
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    household_id: Mapped[int | None] = mapped_column(Integer)
    community: Mapped[str] = mapped_column(String(12), index=True)
    grid: Mapped[str | None] = mapped_column(String(15))
    referred_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL"))
    referred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: What the consumer reported back ("filed", "answered", "closed"), "" until then.
    onward_state: Mapped[str] = mapped_column(String(30), default="")
    onward_reference: Mapped[str] = mapped_column(String(60), default="")
    onward_id: Mapped[int | None] = mapped_column(Integer)
    onward_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class GridVisitPerson(Base):
    """Who a household visit covers and whom it met, by person id: ``covered`` persons
    (the household's subjects a rule selects) count as visited that day, ``met`` persons
    are the members the worker spoke to. The visit's own ``person_id`` is always covered."""

    __tablename__ = "grid_visit_person"
    __table_args__ = (UniqueConstraint("visit_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(
        ForeignKey("grid_visit.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    covered: Mapped[bool] = mapped_column(Boolean, default=False)
    met: Mapped[bool] = mapped_column(Boolean, default=False)


class GridCorrection(Base):
    """A correction of a visit or patrol record: who changed which fields, why, and the
    values before and after (JSON, ISO dates). Why a table and not only the audit log:
    the earlier version is part of the record and is shown on it; the audit log keeps
    the act (``grid.visit.corrected``), without the texts."""

    __tablename__ = "grid_correction"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("grid_visit.id", ondelete="CASCADE"), index=True)
    patrol_id: Mapped[int | None] = mapped_column(
        ForeignKey("grid_patrol.id", ondelete="CASCADE"), index=True)
    corrected_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL"))
    corrected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str] = mapped_column(Text)
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
