"""Who is asking, read on every request.

It is decided on every request, so it is read with ONE statement of plain columns (token
or session, its account, roles and scopes) instead of ORM objects with relationship
loads: benchmarks showed the ORM path was most of an API read's cost. Bookkeeping writes
(last use) go through their own short transaction, at most once a minute, so a read never
commits the request's session.

A bearer token that passed the check is then trusted by its process for
:data:`TOKEN_CACHE_SECONDS` (:class:`TokenCache`, one per database engine): an API client
sends the same token on every request, and reading it again each time was a third of an
API read. That is the bound on how late a change reaches a token in *another* process (a
revocation, a disabled owner, a role or scope change of the owner; docs/operations.md,
"Bearer-token cache"): each entry is dropped that long after it was read, whatever
happens. In the process that makes the change it is immediate: a commit that changed a
token, an account, its roles or its scopes empties that process's cache. Expiry is
checked on every use. Unknown, revoked or expired tokens are never cached, so a new
token works at once and a wrong one costs the same lookup every time.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, event, select, update
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


#: How long a process trusts a bearer token it has checked, in seconds: the longest a
#: revocation (or a disabled owner, or the owner's changed roles or scopes) made by another
#: process can take to reach this one. docs/operations.md states it; tests/core/
#: test_token_cache.py holds it.
TOKEN_CACHE_SECONDS = 3.0
#: Tokens kept per process (least recently used dropped first): integrations, not users.
TOKEN_CACHE_SIZE = 1024


class TokenCache:
    """Checked bearer tokens of one database engine: digest → (read at, grant, expiry).

    Thread-safe (gthread workers serve requests in threads). Only live tokens are put in;
    an entry is served for at most ``ttl`` seconds after the database said it was live,
    and never past the token's own expiry."""

    def __init__(self, ttl: float = TOKEN_CACHE_SECONDS, size: int = TOKEN_CACHE_SIZE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.size = size
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, TokenGrant, datetime | None]] = (
            OrderedDict())
        self._generation = 0  # bumped by clear(): a read begun before it is not kept

    def get(self, digest: str, now: datetime) -> TokenGrant | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            read_at, grant, expires_at = entry
            if self._clock() - read_at >= self.ttl or (
                expires_at is not None and expires_at <= now
            ):
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return grant

    def ticket(self) -> tuple[float, int]:
        """Taken before the database is read: when, and which generation."""
        return self._clock(), self._generation

    def put(self, digest: str, grant: TokenGrant, expires_at: datetime | None,
            ticket: tuple[float, int]) -> None:
        read_at, generation = ticket
        with self._lock:
            if generation != self._generation:
                return  # a change was committed while this request read the token
            self._entries[digest] = (read_at, grant, expires_at)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1

    def __len__(self) -> int:
        return len(self._entries)


_CACHES: weakref.WeakKeyDictionary[Any, TokenCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def token_cache(bind: Any) -> TokenCache:
    """The token cache of this engine (an app's kernel has one engine; two apps on one
    database have two, and so two caches, like two worker processes)."""
    engine = getattr(bind, "engine", bind)
    cache_ = _CACHES.get(engine)
    if cache_ is None:
        with _CACHES_LOCK:
            cache_ = _CACHES.setdefault(engine, TokenCache())
    return cache_


def account_for_token(session: Session, plaintext: str,
                      now: datetime | None = None) -> TokenGrant | None:
    """The account behind a live bearer token, or None (unknown, revoked, expired, owner
    disabled). One SELECT, or none while this process's :class:`TokenCache` holds the
    token (at most :data:`TOKEN_CACHE_SECONDS`); ``last_used_at`` is written at most once
    a minute."""
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    digest = _digest(plaintext)
    now = now or utcnow()
    cache_ = token_cache(session.get_bind())
    grant = cache_.get(digest, now)
    if grant is not None:
        return grant
    ticket = cache_.ticket()  # before the read: the entry never outlives the bound
    rows = session.connection().execute(_statements()["token"], {"digest": digest}).all()
    if not rows:
        return None
    first = rows[0]
    if first.revoked_at is not None or not first.is_active:
        return None
    if first.expires_at is not None and first.expires_at <= now:
        return None
    if first.last_used_at is None or now - first.last_used_at > timedelta(minutes=1):
        _write_apart(session, update(ApiToken).where(ApiToken.id == first.t_id)
                     .values(last_used_at=now))
    perms = tuple(first.t_perms) if first.t_perms is not None else None
    grant = TokenGrant(first.t_id, _account_from_rows(rows), perms)
    cache_.put(digest, grant, first.expires_at, ticket)
    return grant


#: What a token's answer is made of: a change to any of these empties the cache.
_TOKEN_FACTS = (ApiToken, User, UserRole, UserScope)
_CHANGED = "shequ.token_facts_changed"


@event.listens_for(Session, "after_flush")
def _note_token_facts(session: Session, _context: Any) -> None:
    """Remember that this transaction changed a token, an account, a role or a scope."""
    if session.info.get(_CHANGED):
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, _TOKEN_FACTS):
            session.info[_CHANGED] = True
            return


@event.listens_for(Session, "after_commit")
def _forget_tokens(session: Session) -> None:
    """The committing process sees its own revocations (and the rest) at once."""
    if session.info.pop(_CHANGED, False):
        try:
            bind = session.get_bind()
        except Exception:  # an unbound session: it has no cache either
            return
        cache_ = _CACHES.get(getattr(bind, "engine", bind))
        if cache_ is not None:
            cache_.clear()


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
    # plain column rows: Core on the session's connection (same transaction), a quarter of
    # the ORM's cost on every request (issue 23)
    rows = session.connection().execute(_statements()["session"], {"digest": _digest(token)}).all()
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
