"""The state of each proactive offer and the log of staff contacts. Person references
only (``person_id``); names, phones and addresses are read from the registry when shown.

``gov_services_offer`` (models.py) stays the ledger of "an offer was ever made"; an
:class:`OutreachItem` is the offer as it stands — how it reaches the person (notification
or a worker's call or visit), its outcome and when it may be made again.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.toolkit import Base, UTCDateTime, utcnow

#: An item still to act on (the outreach list shows these).
OPEN_OUTCOMES = ("open", "reached", "unreachable")
#: Done: the list leaves them out; the offer is not repeated for ``offer_repeat_days``.
DONE_OUTCOMES = ("applied", "declined", "completed", "ineligible")
OUTCOMES = (*OPEN_OUTCOMES, *DONE_OUTCOMES)
#: What a worker records after a call or a visit.
STAFF_OUTCOMES = ("reached", "applied", "declined", "unreachable")


class OutreachItem(Base):
    """One offer of one service to one person, as it stands (unique per person and
    service: a repeat reopens the row instead of adding one)."""

    __tablename__ = "gov_services_outreach_item"
    __table_args__ = (UniqueConstraint("person_id", "service_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    service_code: Mapped[str] = mapped_column(String(60))
    #: The place the item is worked in (staff scope is checked against it).
    community: Mapped[str | None] = mapped_column(String(12), index=True)
    grid: Mapped[str | None] = mapped_column(String(15), index=True)
    #: ``notification`` (told through their account) or ``outreach`` (a worker calls).
    channel: Mapped[str] = mapped_column(String(20), default="outreach", index=True)
    #: The account that was notified, if any.
    user_id: Mapped[int | None] = mapped_column(Integer)
    #: ``rules`` (the evaluator), ``grid`` (a grid worker's finding), ``workflow``.
    source: Mapped[str] = mapped_column(String(20), default="rules")
    #: The grid finding that asked for it (idempotency of ``grid.finding.referred``).
    finding_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    state: Mapped[str] = mapped_column(String(20), default="open", index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    follow_up_on: Mapped[date | None] = mapped_column(Date)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    #: How many times the offer was made (a repeat after the suppression period adds one).
    rounds: Mapped[int] = mapped_column(Integer, default=1)

    contacts: Mapped[list[OutreachContact]] = relationship(
        back_populates="item", order_by="OutreachContact.id", cascade="all, delete-orphan"
    )


class OutreachContact(Base):
    """One call or visit by a worker, or the resident's own answer: what came of it."""

    __tablename__ = "gov_services_outreach_contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("gov_services_outreach_item.id", ondelete="CASCADE"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(20))
    #: ``call``, ``visit`` (a worker) or ``resident`` (the resident declined online).
    method: Mapped[str] = mapped_column(String(20), default="call")
    note: Mapped[str] = mapped_column(Text, default="")
    follow_up_on: Mapped[date | None] = mapped_column(Date)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    item: Mapped[OutreachItem] = relationship(back_populates="contacts")
