"""The two append-only logs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow

_BigId = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    """A security-relevant event: sign-ins (and failures, lock-outs), permission denials,
    and every administrative change with its old and new values."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_actor_at", "actor_id", "at"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    #: e.g. auth.login.succeeded, auth.login.failed, auth.denied, admin.user.disabled
    action: Mapped[str] = mapped_column(String(80), index=True)
    outcome: Mapped[str] = mapped_column(String(16), default="ok")  # ok | denied | failed
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    #: When a worker acts for a resident (assisted channel), the resident's account.
    on_behalf_of_id: Mapped[int | None] = mapped_column(Integer)
    target_type: Mapped[str] = mapped_column(String(40), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    ip: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")


def _same_as_at(context: Any) -> datetime:
    """``last_at`` of a row written without one: its ``at`` (one read, first and last)."""
    return context.get_current_parameters().get("at") or utcnow()


class AccessEntry(Base):
    """Displays of a person's data (name, ID number, phone, address ...) to someone else.
    The value itself is never stored here: only who saw which fields of whom, masked or
    in full, how and why.

    Identical displays on one day — same viewer, person, plugin, purpose, fields and
    masked/full — are one row: ``at`` is the first, ``last_at`` the latest and ``count``
    how many (``key`` is the unique digest of those facts and the day; rows written
    without one are never merged). The database lets an UPDATE change ``count`` and
    ``last_at`` only, upwards; nothing else, ever (see the core migrations)."""

    __tablename__ = "audit_access"
    __table_args__ = (
        Index("ix_audit_access_subject_at", "subject_person_id", "at"),
        Index("uq_audit_access_key", "key", unique=True),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    on_behalf_of_id: Mapped[int | None] = mapped_column(Integer)
    #: The registry person whose data was read.
    subject_person_id: Mapped[int] = mapped_column(Integer)
    fields: Mapped[list[str]] = mapped_column(JSON)
    #: "core" or the plugin id through which the read happened.
    via: Mapped[str] = mapped_column(String(40), default="core")
    purpose: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str] = mapped_column(String(64), default="")
    #: The viewer's role when they looked ("community_worker"), "" for a system job or
    #: an exchange client.
    actor_role: Mapped[str] = mapped_column(String(40), default="", server_default="")
    #: The sensitive values were shown masked (a list, a record before "show in full").
    masked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Identical displays this day (see the class docstring).
    count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    last_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_same_as_at)
    key: Mapped[str | None] = mapped_column(String(64))
