"""The hotline's tables (all prefixed ``commerce_``, so only this plugin's migration tree
touches them).

A merchant *is* a registry organisation (``organisation_id``); what the hotline adds is
its service offer (categories, communities, hours, prices) and its vetting state.

Residents are referred to by registry person id only: their name, phone and address are
read through the scoped reader whenever a ticket shows them, never copied here. The only
personal data these tables hold is what a caller gave the hotline that the registry does
not have (``Ticket.caller_*``: a caller who is not registered, another phone to call, the
work done somewhere else than where they live). Those copies are governed like registry
data (``services.contact_view``): masked by default, in full only for the step that needs
them, every display logged, and erased ``caller_data_retention_days`` after the case
closes (``services.erase_caller_data``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.toolkit import Base, UTCDateTime, utcnow


class Merchant(Base):
    __tablename__ = "commerce_merchant"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The registry organisation (validated credit code); one merchant per organisation.
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("registry_organisation.id"), unique=True
    )
    #: The shop name residents know (店名); the legal name stays in the registry.
    name: Mapped[str] = mapped_column(String(100))
    categories: Mapped[list] = mapped_column(JSON, default=list)
    #: 12-digit community codes served.
    communities: Mapped[list] = mapped_column(JSON, default=list)
    opening_hours: Mapped[str] = mapped_column(String(200), default="")
    price_list: Mapped[str] = mapped_column(Text, default="")
    phone: Mapped[str] = mapped_column(String(30), default="")
    #: applied → approved → suspended | revoked (suspended → approved on reinstatement).
    status: Mapped[str] = mapped_column(String(20), default="applied", index=True)
    status_reason: Mapped[str] = mapped_column(String(500), default="")
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    warnings: Mapped[int] = mapped_column(Integer, default=0)
    applied_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MerchantStaff(Base):
    """Core accounts have no organisation link: this binds a merchant's staff account to
    its merchant (one merchant per account)."""

    __tablename__ = "commerce_merchant_staff"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("identity_user.id", ondelete="CASCADE"), primary_key=True
    )
    merchant_id: Mapped[int] = mapped_column(
        ForeignKey("commerce_merchant.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MerchantLog(Base):
    """Every vetting decision and warning, with its reason and the regulator."""

    __tablename__ = "commerce_merchant_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(
        ForeignKey("commerce_merchant.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(500), default="")
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Ticket(Base):
    __tablename__ = "commerce_ticket"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: operator | web | one_key
    channel: Mapped[str] = mapped_column(String(20))
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    community: Mapped[str | None] = mapped_column(String(12), index=True)
    category: Mapped[str | None] = mapped_column(String(30), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    #: Governed copies of what the caller told the hotline and the registry does not hold
    #: (empty when the registry's name, phone or address is the one to use).
    caller_name: Mapped[str] = mapped_column(String(50), default="")
    caller_phone: Mapped[str] = mapped_column(String(30), default="")
    caller_address: Mapped[str] = mapped_column(String(300), default="")
    #: When the retention job erased the copies above.
    caller_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    public_area: Mapped[bool] = mapped_column(Boolean, default=False)
    elderly_alone: Mapped[bool] = mapped_column(Boolean, default=False)
    #: callback → received → dispatched → accepted → in_progress → completed → confirmed
    #: → rated; cancelled from any open state.
    state: Mapped[str] = mapped_column(String(20), index=True)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("commerce_merchant.id"), index=True)
    accept_by: Mapped[datetime | None] = mapped_column(UTCDateTime())
    response_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completion_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    final_price: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str] = mapped_column(String(500), default="")
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the case closed (work completed, or cancelled): the retention clock of the
    #: caller's copies starts here.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: Set by registry events: moved | deceased (open tickets need a look).
    flag: Mapped[str] = mapped_column(String(20), default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Dispatch(Base):
    """Each offer of a ticket to a merchant and how it ended. At most one offer per ticket
    can ever be ``accepted`` (a partial unique index), on top of the conditional UPDATE."""

    __tablename__ = "commerce_dispatch"
    __table_args__ = (
        Index(
            "uq_commerce_dispatch_accepted",
            "ticket_id",
            unique=True,
            sqlite_where=text("outcome = 'accepted'"),
            postgresql_where=text("outcome = 'accepted'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("commerce_ticket.id", ondelete="CASCADE"), index=True
    )
    merchant_id: Mapped[int] = mapped_column(ForeignKey("commerce_merchant.id"), index=True)
    #: auto | manual | redispatch
    mode: Mapped[str] = mapped_column(String(20))
    #: offered | accepted | declined | expired | withdrawn
    outcome: Mapped[str] = mapped_column(String(20), default="offered")
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TicketEvent(Base):
    """The ticket's timeline."""

    __tablename__ = "commerce_ticket_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("commerce_ticket.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    note: Mapped[str] = mapped_column(String(500), default="")
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Complaint(Base):
    __tablename__ = "commerce_complaint"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("commerce_ticket.id", ondelete="CASCADE"), index=True
    )
    merchant_id: Mapped[int] = mapped_column(ForeignKey("commerce_merchant.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(1000))
    #: open → warned | suspended | dismissed
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    decision_note: Mapped[str] = mapped_column(String(500), default="")
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
