"""The two append-only logs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
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


class AccessEntry(Base):
    """One read of a person's sensitive fields (ID number, phone, address ...). The value
    itself is never stored here: only who read which fields of whom, how and why."""

    __tablename__ = "audit_access"
    __table_args__ = (Index("ix_audit_access_subject_at", "subject_person_id", "at"),)

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
