"""Who is asking, read on every request.

It is decided on every request, so it is read with ONE statement of plain columns (token
or session, its account, roles and scopes) instead of ORM objects with relationship
loads: benchmarks showed the ORM path was most of an API read's cost. Bookkeeping writes
(last use) go through their own short transaction, at most once a minute, so a read never
commits the request's session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import Session

from core.db import utcnow
from core.identity.models import ApiToken, User, UserRole, UserScope, UserSession
from core.identity.services.sessions import SessionPolicy
from core.identity.services.tokens import TOKEN_PREFIX, _digest


@dataclass(frozen=True, order=True)
class ScopeRef:
    kind: str
    code: str


@dataclass(frozen=True)
class Account:
    """A read-only snapshot of an account for one request."""

    id: int
    username: str
    display_name: str
    kind: str
    is_active: bool
    person_id: int | None
    verified_at: datetime | None
    must_change_password: bool
    phone: str | None
    locale: str | None
    role_names: tuple[str, ...]
    scopes: tuple[ScopeRef, ...]

    @property
    def is_verified(self) -> bool:
        return self.person_id is not None and self.verified_at is not None

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    @classmethod
    def of(cls, user: User) -> Account:
        return cls(
            id=user.id, username=user.username, display_name=user.display_name,
            kind=user.kind, is_active=user.is_active, person_id=user.person_id,
            verified_at=user.verified_at, must_change_password=user.must_change_password,
            phone=user.phone, locale=user.locale, role_names=tuple(user.role_names),
            scopes=tuple(sorted(ScopeRef(s.kind, s.code) for s in user.scopes)
                         if user.scopes else ()),
        )


_ACCOUNT_COLUMNS = (
    User.id.label("u_id"), User.username, User.display_name, User.kind, User.is_active,
    User.person_id, User.verified_at, User.must_change_password, User.phone, User.locale,
    UserRole.role, UserScope.kind.label("scope_kind"), UserScope.code.label("scope_code"),
)


def _with_account(stmt: Select) -> Select:
    return (stmt.outerjoin(UserRole, UserRole.user_id == User.id)
            .outerjoin(UserScope, UserScope.user_id == User.id))


def _account_from_rows(rows: list[Any]) -> Account:
    first = rows[0]
    roles = sorted({r.role for r in rows if r.role})
    scopes = sorted({ScopeRef(r.scope_kind, r.scope_code) for r in rows if r.scope_kind},
                    key=lambda s: (s.kind, s.code))
    return Account(
        id=first.u_id, username=first.username, display_name=first.display_name,
        kind=first.kind, is_active=first.is_active, person_id=first.person_id,
        verified_at=first.verified_at, must_change_password=first.must_change_password,
        phone=first.phone, locale=first.locale, role_names=tuple(roles), scopes=tuple(scopes),
    )


@cache
def _statements() -> dict[str, Select]:
    """Built once per process: constructing these selects cost more than running them."""
    return {
        "token": _with_account(
            select(ApiToken.id.label("t_id"), ApiToken.permissions.label("t_perms"),
                   ApiToken.expires_at, ApiToken.revoked_at, ApiToken.last_used_at,
                   *_ACCOUNT_COLUMNS)
            .select_from(ApiToken).join(User, User.id == ApiToken.user_id)
        ).where(ApiToken.digest == bindparam("digest")),
        "session": _with_account(
            select(UserSession.id.label("s_id"), UserSession.created_at,
                   UserSession.last_seen_at, UserSession.revoked_at, UserSession.acting_for_id,
                   UserSession.acting_reason, UserSession.acting_until, *_ACCOUNT_COLUMNS)
            .select_from(UserSession).join(User, User.id == UserSession.user_id)
        ).where(UserSession.digest == bindparam("digest")),
    }


def load_account(session: Session, user_id: int) -> Account | None:
    rows = session.execute(
        _with_account(select(*_ACCOUNT_COLUMNS).select_from(User)).where(User.id == user_id)
    ).all()
    return _account_from_rows(rows) if rows else None


def _write_apart(session: Session, stmt: Any) -> None:
    """A small write in its own transaction, so reading who is asking never commits (or
    holds open) the request's own session."""
    with session.get_bind().begin() as conn:
        conn.execute(stmt)


@dataclass(frozen=True)
class TokenGrant:
    token_id: int
    account: Account
    permissions: tuple[str, ...] | None


def account_for_token(session: Session, plaintext: str,
                      now: datetime | None = None) -> TokenGrant | None:
    """The account behind a live bearer token, or None (unknown, revoked, expired, owner
    disabled). One SELECT; ``last_used_at`` is written at most once a minute."""
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    rows = session.execute(_statements()["token"], {"digest": _digest(plaintext)}).all()
    if not rows:
        return None
    first = rows[0]
    now = now or utcnow()
    if first.revoked_at is not None or not first.is_active:
        return None
    if first.expires_at is not None and first.expires_at <= now:
        return None
    if first.last_used_at is None or now - first.last_used_at > timedelta(minutes=1):
        _write_apart(session, update(ApiToken).where(ApiToken.id == first.t_id)
                     .values(last_used_at=now))
    perms = tuple(first.t_perms) if first.t_perms is not None else None
    return TokenGrant(first.t_id, _account_from_rows(rows), perms)


@dataclass(frozen=True)
class SessionGrant:
    session_id: int
    account: Account
    acting_for_id: int | None
    acting_reason: str
    acting_until: datetime | None


def account_for_session(session: Session, token: str, policy: SessionPolicy,
                        now: datetime | None = None) -> SessionGrant | None:
    """The account behind a session cookie token, or None when unknown, ended, idle too
    long or too old (then it is ended for good). One SELECT on the common path."""
    rows = session.execute(_statements()["session"], {"digest": _digest(token)}).all()
    if not rows:
        return None
    first = rows[0]
    if first.revoked_at is not None or not first.is_active:
        return None
    account = _account_from_rows(rows)
    now = now or utcnow()
    idle = policy.idle_staff if account.kind == "staff" else policy.idle_resident
    if now - first.created_at > policy.absolute or now - first.last_seen_at > idle:
        _write_apart(session, update(UserSession).where(UserSession.id == first.s_id)
                     .values(revoked_at=now, revoke_reason="expired"))
        return None
    if now - first.last_seen_at > timedelta(minutes=1):
        _write_apart(session, update(UserSession).where(UserSession.id == first.s_id)
                     .values(last_seen_at=now))
    return SessionGrant(first.s_id, account, first.acting_for_id, first.acting_reason or "",
                        first.acting_until)
