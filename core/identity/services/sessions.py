"""Server-side sessions behind the page cookie: started at sign-in, ended at sign-out,
by expiry, a password change or an administrator; the idle and absolute limits are the
:class:`SessionPolicy` read from the configuration.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.db import utcnow
from core.identity.models import User, UserSession
from core.identity.services.tokens import _digest


@dataclass(frozen=True)
class SessionPolicy:
    idle_resident: timedelta
    idle_staff: timedelta
    absolute: timedelta

    @classmethod
    def from_config(cls, identity: Mapping[str, Any]) -> SessionPolicy:
        return cls(
            idle_resident=timedelta(minutes=identity["session_idle_minutes_resident"]),
            idle_staff=timedelta(minutes=identity["session_idle_minutes_staff"]),
            absolute=timedelta(hours=identity["session_absolute_hours"]),
        )

    def idle_for(self, user: User) -> timedelta:
        return self.idle_staff if user.kind == "staff" else self.idle_resident


def start_session(
    session: Session, user: User, *, ip: str = "", user_agent: str = ""
) -> tuple[UserSession, str]:
    """A new server-side session; the returned token goes into the (signed) cookie."""
    token = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user.id, digest=_digest(token), ip=ip[:45], user_agent=user_agent[:200]
    )
    session.add(row)
    session.flush()
    return row, token


def load_session(
    session: Session, token: str, policy: SessionPolicy, now: datetime | None = None
) -> UserSession | None:
    """The live session for a cookie token, or None when unknown, ended, idle too long or
    too old. ``last_seen_at`` is written at most once a minute (not on every request)."""
    row = session.scalar(select(UserSession).where(UserSession.digest == _digest(token)))
    if row is None or row.revoked_at is not None or not row.user.is_active:
        return None
    now = now or utcnow()
    if now - row.created_at > policy.absolute or now - row.last_seen_at > policy.idle_for(row.user):
        row.revoked_at = now
        row.revoke_reason = "expired"
        session.commit()
        return None
    if now - row.last_seen_at > timedelta(minutes=1):
        row.last_seen_at = now
        session.commit()
    return row


def end_session(session: Session, row: UserSession, reason: str = "logout") -> None:
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoke_reason = reason


def end_all_sessions(
    session: Session, user: User, *, reason: str, except_id: int | None = None
) -> int:
    query = (
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoke_reason=reason)
    )
    if except_id is not None:
        query = query.where(UserSession.id != except_id)
    user.session_version += 1
    return session.execute(query).rowcount or 0


def active_sessions(session: Session, user: User) -> list[UserSession]:
    return list(
        session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
            .order_by(UserSession.last_seen_at.desc())
        )
    )
