"""Accounts, their roles and their API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "identity_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    #: Set when a one-time code sent to ``phone`` was entered (sign-up, or later).
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Lower-cased; unique. Proved like the phone, by a code sent to it.
    email: Mapped[str | None] = mapped_column(String(200), unique=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The resident declined non-urgent notices by SMS/e-mail (urgent ones always go).
    notices_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16), default="resident")  # resident | staff
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    #: Bumped when every session must die at once (disable, password reset); sessions
    #: themselves are rows in ``identity_session``.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Set by an admin's password reset: the next sign-in must choose a new password.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    #: The registry person this account is bound to; set by verification.
    person_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_by_id: Mapped[int | None] = mapped_column(Integer)
    verification_method: Mapped[str | None] = mapped_column(String(20))  # in_person | self

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    scopes: Mapped[list[UserScope]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def role_names(self) -> list[str]:
        return sorted(r.role for r in self.roles)

    @property
    def is_verified(self) -> bool:
        """Bound to a registry person: what plugins check ("only verified residents vote")."""
        return self.person_id is not None and self.verified_at is not None

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"


class UserRole(Base):
    __tablename__ = "identity_user_role"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("identity_user.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(40))

    user: Mapped[User] = relationship(back_populates="roles")


class ApiToken(Base):
    """A personal access token. Only a SHA-256 digest is stored: the token has 256 bits of
    entropy, so a slow hash would add cost to every API call and no security."""

    __tablename__ = "identity_api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("identity_user.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    #: ``None`` means every permission of the owner; otherwise a subset of them.
    permissions: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")


class UserScope(Base):
    """Where a staff account may act: a community (12-digit division code) or a grid.
    Staff with no scope row act nowhere in the registry, by the deny-by-default rule;
    ``kind = "all"`` (district level) is granted explicitly."""

    __tablename__ = "identity_user_scope"
    __table_args__ = (UniqueConstraint("user_id", "kind", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("identity_user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # all | community | grid
    code: Mapped[str] = mapped_column(String(32), default="")

    user: Mapped[User] = relationship(back_populates="scopes")


class UserSession(Base):
    """One signed-in browser. The cookie holds a random token whose SHA-256 is stored
    here, so ending a session on the server ends it everywhere, copied cookies included."""

    __tablename__ = "identity_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("identity_user.id", ondelete="CASCADE"), index=True
    )
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ip: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str | None] = mapped_column(String(40))
    #: While set, the session acts for this resident account (assisted channel).
    acting_for_id: Mapped[int | None] = mapped_column(Integer)
    acting_reason: Mapped[str | None] = mapped_column(String(200))
    acting_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")


class RolePermission(Base):
    """An administrator's change to a role's default permissions: ``granted`` adds a
    permission the role lacks by default, ``granted = False`` removes one it has."""

    __tablename__ = "identity_role_permission"
    __table_args__ = (UniqueConstraint("role", "permission"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(40))
    permission: Mapped[str] = mapped_column(String(120))
    granted: Mapped[bool] = mapped_column(Boolean)
    changed_by_id: Mapped[int | None] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Notification(Base):
    """An in-app notification: the header shows the unread count."""

    __tablename__ = "identity_notification"
    __table_args__ = (Index("ix_identity_notification_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("identity_user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40), default="info")
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[str] = mapped_column(String(40), default="core")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The title and body as messages (msgid, params, catalogue), rendered when read in
    #: the reader's language; None for text a person wrote. ``title``/``body`` keep the
    #: text in the recipient's language at send time: the fallback, and what SMS said.
    title_message: Mapped[Any | None] = mapped_column(JSON)
    body_message: Mapped[Any | None] = mapped_column(JSON)


class OutboundMessage(Base):
    """A message for an external channel (SMS, e-mail). Always recorded here, whether a
    gateway plugin sent it or not, so nothing is sent silently or lost."""

    __tablename__ = "identity_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    recipient: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: recorded (no gateway configured) | queued | sent | failed
    status: Mapped[str] = mapped_column(String(16), default="recorded")
    sent_by: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    #: The message template (``otp``, ``notice``, ...) and its parameters: what an SMS
    #: provider's template call needs. An ``otp`` message's ``code`` parameter is blanked
    #: once it is sent or expired, so the outbox never keeps a usable code.
    template: Mapped[str] = mapped_column(String(60), default="")
    params: Mapped[dict | None] = mapped_column(JSON)
    #: The recipient's language the message was written in (zh | en).
    locale: Mapped[str] = mapped_column(String(8), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OneTimeCode(Base):
    """A 6-digit code that proves possession of a phone or mailbox for one purpose. Only
    an HMAC of the code is stored (keyed from the secret key, so a copy of the database
    alone cannot be searched for it); :mod:`core.identity.otp` holds the rules."""

    __tablename__ = "identity_otp"
    __table_args__ = (Index("ix_identity_otp_recipient_purpose", "recipient", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: signup | verify | reset | login (and ``email`` for proving an address)
    purpose: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(8))  # sms | email
    #: The normalised phone number or lower-cased e-mail address.
    recipient: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    tries: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_id: Mapped[int | None] = mapped_column(Integer)
