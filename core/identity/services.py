"""Account rules: sign-up, authentication, sessions, tokens, roles, scopes, verification
and the assisted channel.

Plain functions over a session, no Flask: the pages, the API, the CLI and event handlers
all call these. Callers commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Select, bindparam, false, func, or_, select, update
from sqlalchemy.orm import Session

from core.audit.services import log_audit
from core.db import utcnow
from core.identity.models import (
    ApiToken,
    RolePermission,
    User,
    UserRole,
    UserScope,
    UserSession,
)
from core.identity.passwords import password_problem
from core.registry.validation import (
    IdentifierError,
    mask_phone,
    normalise_id_number,
    parse_id_number,
)

TOKEN_PREFIX = "shq_"
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{3,32}$")
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
#: Spent on unknown usernames so that timing does not reveal which accounts exist.
_DUMMY_HASH: dict[int, str] = {}


def N_(message: str) -> str:
    """Mark a message for extraction; views translate it with ``gettext``."""
    return message


#: A token may carry only permissions its owner holds (the API answers 403).
OWNER_LACKS = N_("The owner lacks: %(names)s")
#: Assisting a resident who does not live where the worker serves.
OUTSIDE_PLACES = N_(
    "You can only act for residents who live in the places you serve. Ask a colleague "
    "there, or the hotline."
)
#: ``permissions: []`` (the API answers 422).
NO_PERMISSIONS = N_(
    "Name at least one permission, or leave the list out to give the token all of yours."
)


class IdentityError(ValueError):
    """A rule was broken; ``field`` names the input it concerns (for form and API errors).
    ``message`` is an English msgid with ``%(name)s`` placeholders filled from ``params``,
    so pages can show it translated: ``gettext(exc.message, **exc.params)``."""

    def __init__(self, message: str, field: str = "", **params: Any):
        super().__init__(message % params if params else message)
        self.message = message
        self.field = field
        self.params = params


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ------------------------------------------------------------------------------ accounts


def check_password(password: str, *, min_length: int, context: Iterable[str] = ()) -> None:
    problem = password_problem(password, min_length=min_length, context=tuple(context))
    if problem[0]:
        raise IdentityError(problem[0], "password", **problem[1])


def create_user(
    session: Session,
    hasher: PasswordHasher,
    *,
    username: str,
    password: str,
    kind: str = "resident",
    roles: Iterable[str] = (),
    display_name: str = "",
    phone: str | None = None,
    min_length: int = 8,
    must_change_password: bool = False,
    bus: Any = None,
) -> User:
    """Create an account. Residents sign up with a username or a mainland mobile number;
    either way the login name is unique, case-insensitively."""
    username = username.strip()
    if PHONE_RE.match(username):
        phone = phone or username
    elif not USERNAME_RE.match(username):
        raise IdentityError(
            N_("Use 3 to 32 letters, digits, '.', '-' or '_', or a mobile number."), "username"
        )
    if phone is not None and not PHONE_RE.match(phone):
        raise IdentityError(N_("Enter a mainland mobile number of 11 digits."), "phone")
    check_password(password, min_length=min_length, context=(username, phone or "", display_name))
    taken = session.scalar(select(User.id).where(_username_is(username)))
    if taken is not None:
        raise IdentityError(N_("This username is taken."), "username")
    if phone and session.scalar(select(User.id).where(User.phone == phone)) is not None:
        raise IdentityError(N_("An account with this mobile number exists."), "phone")
    user = User(
        username=username,
        password_hash=hasher.hash(password),
        kind=kind,
        display_name=(display_name or username).strip()[:100],
        phone=phone,
        password_changed_at=utcnow(),
        must_change_password=must_change_password,
    )
    user.roles = [UserRole(role=r) for r in sorted(set(roles))]
    session.add(user)
    session.flush()
    if bus is not None:
        bus.publish(session, "identity.user.created", {"user_id": user.id, "kind": kind})
    return user


def _username_is(name: str) -> Any:
    """Exactly this username, in any case. Not ``ILIKE``: there ``%`` and ``_`` are
    wildcards, and ``name%`` would reach the account ``name`` under another spelling (and
    a fresh rate-limit counter). Usernames are ASCII, so only ASCII is folded: Python's
    ``lower()`` would also fold the Kelvin sign into ``k``."""
    if not name.isascii():
        return false()  # no username has this
    return func.lower(User.username) == name.lower()


def find_login(session: Session, login: str) -> User | None:
    """The account for a login name: exactly its username (any case) or its mobile
    number. Wildcards are ordinary characters here."""
    login = (login or "").strip()
    if not login:
        return None
    if PHONE_RE.match(login):
        user = session.scalar(select(User).where(User.phone == login))
        if user is not None:
            return user
    return session.scalar(select(User).where(_username_is(login)))


def mask_login(login: str) -> str:
    """A typed login as the audit log keeps it: a mobile number masked like everywhere
    else (``138****1234``), any other name cut to its first two characters (``wa****``),
    so a failed sign-in never stores someone's phone number or a password typed into the
    wrong box."""
    login = (login or "").strip()[:64]
    compact = re.sub(r"[\s-]", "", login)
    if PHONE_RE.match(compact):
        return mask_phone(compact)
    if len(login) <= 2:
        return "*" * len(login)
    return login[:2] + "*" * min(len(login) - 2, 8)


def authenticate(
    session: Session, hasher: PasswordHasher, login: str, password: str
) -> User | None:
    """The user for these credentials, or None. Rehashes when the parameters changed.
    Unknown and disabled accounts cost the same time as a wrong password."""
    user = find_login(session, login)
    if user is None or not user.is_active:
        key = id(hasher)
        if key not in _DUMMY_HASH:
            _DUMMY_HASH[key] = hasher.hash(secrets.token_hex(8))
        with contextlib.suppress(VerificationError):
            hasher.verify(_DUMMY_HASH[key], password)
        return None
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def verify_password(hasher: PasswordHasher, user: User, password: str) -> bool:
    """Re-authentication before sensitive changes (password, phone)."""
    try:
        return hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def change_password(
    session: Session,
    hasher: PasswordHasher,
    user: User,
    *,
    current: str,
    new: str,
    min_length: int,
    keep_session_id: int | None = None,
) -> None:
    """Change a password after re-authentication; every other session of the user ends."""
    if not verify_password(hasher, user, current):
        raise IdentityError(N_("The current password is not right."), "current_password")
    if current == new:
        raise IdentityError(N_("Choose a password different from the current one."), "password")
    check_password(new, min_length=min_length, context=(user.username, user.phone or ""))
    user.password_hash = hasher.hash(new)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    end_all_sessions(session, user, reason="password_changed", except_id=keep_session_id)


def reset_password(
    session: Session, hasher: PasswordHasher, user: User, *, admin: User, min_length: int
) -> str:
    """An administrator's reset: a temporary password the user must change at next sign-in.
    Returns it (shown once to the admin); every session of the user ends."""
    temporary = "-".join(secrets.token_urlsafe(4) for _ in range(3))
    user.password_hash = hasher.hash(temporary)
    user.must_change_password = True
    end_all_sessions(session, user, reason="password_reset")
    log_audit(
        session,
        "admin.user.password_reset",
        actor=admin,
        target_type="user",
        target_id=user.id,
        detail={"username": user.username},
    )
    return temporary


def set_active(
    session: Session, user: User, active: bool, *, admin: User, reason: str = ""
) -> None:
    """Disable (ending every session and token use) or re-enable an account."""
    if user.id == admin.id and not active:
        raise IdentityError(N_("You cannot disable your own account."), "user")
    old = user.is_active
    user.is_active = active
    user.disabled_reason = None if active else (reason or "")[:200]
    if not active:
        end_all_sessions(session, user, reason="disabled")
    log_audit(
        session,
        "admin.user.enabled" if active else "admin.user.disabled",
        actor=admin,
        target_type="user",
        target_id=user.id,
        detail={"username": user.username, "old": old, "new": active, "reason": reason},
    )


def _replace_children(current: list[Any], wanted: Iterable[Any], *, key: Callable[[Any], Any],
                      make: Callable[[Any], Any]) -> None:
    """Make a child collection equal ``wanted`` by removing and adding only what changed:
    replacing the whole list would insert a kept row again before deleting the old one and
    trip the unique constraint."""
    wanted = list(wanted)
    for child in [c for c in current if key(c) not in wanted]:
        current.remove(child)
    have = {key(c) for c in current}
    current.extend(make(w) for w in wanted if w not in have)


def set_roles(
    session: Session, user: User, roles: Iterable[str], *, admin: User, known: Iterable[str]
) -> None:
    wanted = sorted(set(roles))
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise IdentityError(N_("Unknown role(s): %(names)s"), "roles", names=", ".join(unknown))
    old = user.role_names
    if old == wanted:
        return
    _replace_children(user.roles, wanted, key=lambda r: r.role, make=lambda r: UserRole(role=r))
    log_audit(
        session,
        "admin.user.roles_changed",
        actor=admin,
        target_type="user",
        target_id=user.id,
        detail={"username": user.username, "old": old, "new": wanted},
    )


def set_scopes(
    session: Session, user: User, scopes: Iterable[tuple[str, str]], *, admin: User
) -> None:
    """Where a staff account may act: ``("all", "")``, ``("community", code)`` or
    ``("grid", code)``."""
    wanted = sorted({(k, c) for k, c in scopes})
    for kind, code in wanted:
        if kind not in ("all", "community", "grid"):
            raise IdentityError(N_("Unknown scope kind '%(kind)s'."), "scopes", kind=kind)
        if kind == "community" and not re.fullmatch(r"\d{12}", code):
            raise IdentityError(N_("A community is its 12-digit division code."), "scopes")
        if kind == "grid" and not code:
            raise IdentityError(N_("A grid scope needs the grid code."), "scopes")
    old = sorted((s.kind, s.code) for s in user.scopes)
    if old == wanted:
        return
    _replace_children(user.scopes, wanted, key=lambda sc: (sc.kind, sc.code),
                      make=lambda kc: UserScope(kind=kc[0], code=kc[1]))
    log_audit(
        session,
        "admin.user.scopes_changed",
        actor=admin,
        target_type="user",
        target_id=user.id,
        detail={
            "username": user.username,
            "old": [list(s) for s in old],
            "new": [list(s) for s in wanted],
        },
    )


# ------------------------------------------------------------------------------ sessions


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


# ------------------------------------------------------------------------------ per request
#
# Who is asking is decided on every request, so it is read with ONE statement of plain
# columns (token or session, its account, roles and scopes) instead of ORM objects with
# relationship loads: benchmarks showed the ORM path was most of an API read's cost.
# Bookkeeping writes (last use) go through their own short transaction, at most once a
# minute, so a read never commits the request's session.


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
    with session.get_bind().begin() as conn:  # type: ignore[union-attr]
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


# ------------------------------------------------------------------------------ tokens


def create_token(
    session: Session,
    user: User,
    *,
    name: str,
    permissions: list[str] | None,
    expires_days: int | None,
    granted: set[str] | frozenset[str],
) -> tuple[ApiToken, str]:
    """Create a token and return it with its plaintext, which is shown once and never
    stored (only its SHA-256: the token has 256 bits of entropy, so a slow hash would add
    cost to every API call and no security). A token can only narrow its owner's rights."""
    if permissions is not None:
        if not permissions:
            raise IdentityError(NO_PERMISSIONS, "permissions")
        extra = sorted(set(permissions) - set(granted))
        if extra:
            raise IdentityError(OWNER_LACKS, "permissions", names=", ".join(extra))
    if expires_days is not None and not 1 <= expires_days <= 3650:
        raise IdentityError(N_("Expiry must be between 1 and 3650 days."), "expires_days")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=(name or "token").strip()[:100],
        prefix=plaintext[:10],
        digest=_digest(plaintext),
        permissions=sorted(set(permissions)) if permissions is not None else None,
        expires_at=utcnow() + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(token)
    session.flush()
    return token, plaintext


def token_lookup(session: Session, plaintext: str, now: datetime | None = None) -> ApiToken | None:
    """The live token for this plaintext, or None if unknown, revoked, expired or its
    owner is disabled. ``last_used_at`` is written at most once a minute: recording every
    use would turn every API read into a write."""
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.digest == _digest(plaintext)))
    now = now or utcnow()
    if token is None or token.revoked_at is not None or not token.user.is_active:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
        session.commit()
    return token


def revoke_token(session: Session, token: ApiToken, *, actor: User) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        log_audit(
            session,
            "identity.token.revoked",
            actor=actor,
            target_type="token",
            target_id=token.id,
            detail={"name": token.name, "owner_id": token.user_id},
        )


# ------------------------------------------------------------------------------ roles


def role_overrides(session: Session) -> list[RolePermission]:
    return list(session.scalars(select(RolePermission).order_by(RolePermission.id)))


def effective_roles(
    defaults: Mapping[str, set[str]], overrides: Iterable[RolePermission]
) -> dict[str, set[str]]:
    """Defaults from core and plugins, then each administrator override applied."""
    roles = {role: set(perms) for role, perms in defaults.items()}
    for o in overrides:
        perms = roles.setdefault(o.role, set())
        if o.granted:
            perms.add(o.permission)
        else:
            perms.discard(o.permission)
    return roles


def set_role_permission(
    session: Session,
    *,
    role: str,
    permission: str,
    granted: bool,
    admin: User,
    defaults: Mapping[str, set[str]],
    known_permissions: Iterable[str],
) -> None:
    """Grant or withdraw one permission of a role; recorded in the audit log. Returning a
    permission to its default removes the override row, so defaults keep flowing in."""
    if role not in defaults:
        raise IdentityError(N_("Unknown role '%(role)s'."), "role", role=role)
    if permission not in set(known_permissions):
        raise IdentityError(N_("Unknown permission '%(name)s'."), "permission", name=permission)
    if role == "admin" and permission.startswith("identity.") and not granted:
        raise IdentityError(N_("Administrators keep the account permissions."), "permission")
    row = session.scalar(
        select(RolePermission).where(
            RolePermission.role == role, RolePermission.permission == permission
        )
    )
    before = effective_roles(defaults, role_overrides(session)).get(role, set())
    old = permission in before
    if old == granted:
        return
    default = permission in defaults[role]
    if row is not None:
        session.delete(row)
    if granted != default:
        session.add(
            RolePermission(
                role=role, permission=permission, granted=granted, changed_by_id=admin.id
            )
        )
    log_audit(
        session,
        "admin.role.permission_changed",
        actor=admin,
        target_type="role",
        target_id=role,
        detail={"permission": permission, "old": old, "new": granted},
    )


def resolve_permissions(role_names: Iterable[str], roles: Mapping[str, set[str]]) -> frozenset[str]:
    granted: set[str] = set()
    for role in role_names:
        granted |= roles.get(role, set())
    return frozenset(granted)


# ------------------------------------------------------------------------------ scopes


def scope_allows(user: Any, *, community: str | None = None, grid: str | None = None) -> bool:
    """Whether a staff account's assignments cover this community or grid; deny by
    default (no assignment covers nothing). ``scopes`` may hold rows or ``ScopeRef``s, or
    the ``(kind, code)`` pairs of a ``toolkit.AccountView``."""
    scopes = {tuple(s) if isinstance(s, tuple) else (s.kind, s.code)
              for s in getattr(user, "scopes", None) or ()}
    if ("all", "") in scopes:
        return True
    if community and ("community", community) in scopes:
        return True
    return bool(grid and ("grid", grid) in scopes)


# ------------------------------------------------------------------------------ assisted


#: Roles whose members may assist any caller, wherever the caller lives: the hotline
#: answers the whole district. Everyone else assists only within their own places.
ASSIST_ANYWHERE_ROLES = frozenset({"hotline_operator"})


def resident_places(session: Session, person_id: int | None) -> tuple[str | None, str | None]:
    """(community code, grid code) where the registry person lives now; (None, None) for
    no person, or one who is not active."""
    if person_id is None:
        return None, None
    from core.registry.models import Community, Grid, Person

    row = session.execute(
        select(Community.code, Grid.code)
        .select_from(Person)
        .outerjoin(Community, Community.id == Person.community_id)
        .outerjoin(Grid, Grid.id == Person.grid_id)
        .where(Person.id == person_id, Person.status == "active")
    ).first()
    return (row[0], row[1]) if row else (None, None)


def may_assist(session: Session, agent: Any, resident: Any) -> bool:
    """Whether ``agent`` may act for ``resident``: hotline operators for any caller; other
    staff only for a resident whose registry person lives within their scopes. Deny by
    default: a resident not (or no longer) in the register is nobody's place."""
    if ASSIST_ANYWHERE_ROLES & set(getattr(agent, "role_names", ()) or ()):
        return True
    community, grid = resident_places(session, getattr(resident, "person_id", None))
    if community is None and grid is None:
        return False
    return scope_allows(agent, community=community, grid=grid)


def start_assist(
    session: Session,
    row: UserSession,
    *,
    agent: User,
    resident: User,
    reason: str,
    minutes: int,
    max_minutes: int,
    facts: Mapping[str, Any] | None = None,
) -> None:
    """A worker at the counter (or a hotline operator) acts for a resident for a stated
    reason and a limited time, within the places the worker serves (:func:`may_assist`).
    Everything done meanwhile names both of them; a refused start is audited too."""
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise IdentityError(N_("State why you act for this resident."), "reason")
    if resident.kind != "resident" or not resident.is_active:
        raise IdentityError(N_("Only an active resident account can be assisted."), "resident")
    if not 1 <= minutes <= max_minutes:
        raise IdentityError(N_("Choose between 1 and %(max)s minutes."), "minutes", max=max_minutes)
    if not may_assist(session, agent, resident):
        log_audit(
            session,
            "identity.assist.refused",
            actor=agent,
            outcome="denied",
            target_type="user",
            target_id=resident.id,
            detail={"reason": "outside_scope"},
            facts=facts,
        )
        raise IdentityError(OUTSIDE_PLACES, "resident")
    row.acting_for_id = resident.id
    row.acting_reason = reason[:200]
    row.acting_until = utcnow() + timedelta(minutes=minutes)
    log_audit(
        session,
        "identity.assist.started",
        actor=agent,
        on_behalf_of_id=resident.id,
        target_type="user",
        target_id=resident.id,
        detail={"reason": reason, "minutes": minutes},
        facts=facts,
    )


def stop_assist(session: Session, row: UserSession, *, agent: User) -> None:
    if row.acting_for_id is not None:
        log_audit(
            session,
            "identity.assist.ended",
            actor=agent,
            on_behalf_of_id=row.acting_for_id,
            target_type="user",
            target_id=row.acting_for_id,
        )
    row.acting_for_id = None
    row.acting_reason = None
    row.acting_until = None


# ------------------------------------------------------------------------------ verification


def bind_person(
    session: Session, user: User, person_id: int, *, method: str, by: User | None
) -> None:
    """Bind the account to a registry person: the account becomes verified."""
    other = session.scalar(select(User).where(User.person_id == person_id, User.id != user.id))
    if other is not None:
        raise IdentityError(N_("This person is already bound to another account."), "person")
    user.person_id = person_id
    user.verified_at = utcnow()
    user.verified_by_id = by.id if by is not None else None
    user.verification_method = method
    log_audit(
        session,
        "identity.verification.granted",
        actor=by or user,
        target_type="user",
        target_id=user.id,
        detail={"method": method, "person_id": person_id},
    )


def revoke_verification(session: Session, person_id: int, *, reason: str) -> User | None:
    """The registry says this person moved out or died: the bound account is no longer
    verified (the binding itself is kept for the record in the audit log). Returns the
    account whose verification was revoked, or None when there was none."""
    user = session.scalar(select(User).where(User.person_id == person_id))
    if user is None or user.verified_at is None:
        return None  # nothing to revoke
    user.verified_at = None
    user.person_id = None
    log_audit(
        session,
        "identity.verification.revoked",
        target_type="user",
        target_id=user.id,
        detail={"reason": reason, "person_id": person_id},
    )
    return user


# ------------------------------------------------------------------------------ own account
#
# What a signed-in person does with their own account (the /account pages and the resident
# API): the object checks live here, so a page and an endpoint cannot disagree about
# whose session or token is whose.

def id_number_problem(value: str) -> str:
    """Why this is not a valid ID number, as a msgid, or ``""``. The registry's own parser
    decides (:func:`core.registry.validation.parse_id_number`: separators, full-width
    digits and 15-digit numbers are accepted exactly as the registry accepts them), so a
    number the register holds is never refused here. A typo is caught before the registry
    is asked, so it never costs one of the resident's verification attempts."""
    try:
        parse_id_number(value or "")
    except IdentifierError as exc:
        if exc.code == "format":
            return N_(
                "Enter the 18 characters of your ID number: 17 digits, then a digit or X."
            )
        return N_("This ID number is not right. Check each digit against your ID card.")
    return ""


#: Ids beyond the database's integer range cannot exist (and SQLite cannot even bind them).
MAX_ID = 2**31 - 1


def own_session(session: Session, user: User, session_id: int) -> UserSession | None:
    """One of the user's live sessions, or None (someone else's, ended, or unknown)."""
    if not 0 < session_id <= MAX_ID:
        return None
    row = session.get(UserSession, session_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        return None
    return row


def end_own_session(
    session: Session,
    user: User,
    session_id: int,
    *,
    actor: User | None = None,
    facts: Mapping[str, Any] | None = None,
) -> UserSession | None:
    """End one of the user's own sessions ("sign out that phone"). Returns None when the id
    is not a live session of theirs: callers answer 404, whoever's session it is."""
    row = own_session(session, user, session_id)
    if row is None:
        return None
    end_session(session, row, "ended_by_user")
    log_audit(
        session,
        "identity.session.ended",
        actor=actor or user,
        target_type="session",
        target_id=row.id,
        facts=facts,
    )
    return row


def end_other_sessions(
    session: Session,
    user: User,
    *,
    keep_id: int | None,
    actor: User | None = None,
    facts: Mapping[str, Any] | None = None,
) -> int:
    """End every session of the user except ``keep_id`` (this device)."""
    count = end_all_sessions(session, user, reason="ended_by_user", except_id=keep_id)
    log_audit(
        session,
        "identity.session.ended_others",
        actor=actor or user,
        target_type="user",
        target_id=user.id,
        detail={"count": count},
        facts=facts,
    )
    return count


def own_tokens(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens, newest first, revoked and expired ones included (for the record)."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def own_token(session: Session, user: User, token_id: int) -> ApiToken | None:
    if not 0 < token_id <= MAX_ID:
        return None
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        return None
    return token


def create_own_token(
    session: Session,
    user: User,
    *,
    name: str,
    permissions: list[str] | None,
    expires_days: int | None,
    granted: Iterable[str],
    narrowed: bool = False,
    facts: Mapping[str, Any] | None = None,
) -> tuple[ApiToken, str]:
    """A personal token for the signed-in user, within what they hold now (``granted``).

    ``narrowed`` says the request itself came with a narrowed token: then "all my
    permissions" means the ones that token carries, never the owner's full set, so a
    token cannot mint a stronger one."""
    granted = frozenset(granted)
    if not (name or "").strip():
        raise IdentityError(N_("Give the token a name, so you can recognise it later."), "name")
    if permissions is not None and not permissions:
        # Refused rather than read as "everything": an empty list looks like "nothing".
        raise IdentityError(NO_PERMISSIONS, "permissions")
    if permissions is None and narrowed:
        permissions = sorted(granted)
    token, plaintext = create_token(
        session,
        user,
        name=name,
        permissions=permissions,
        expires_days=expires_days,
        granted=granted,
    )
    log_audit(
        session,
        "identity.token.created",
        actor=user,
        target_type="token",
        target_id=token.id,
        detail={
            "name": token.name,
            "prefix": token.prefix,
            "permissions": token.permissions,
            "expires_days": expires_days,
        },
        facts=facts,
    )
    return token, plaintext


def find_resident(session: Session, login: str) -> User:
    """The resident account a worker is about to assist, by username or mobile number."""
    user = find_login(session, login or "")
    if user is None or user.kind != "resident":
        raise IdentityError(
            N_("No resident account has this username or mobile number."), "resident"
        )
    if not user.is_active:
        raise IdentityError(N_("This account is disabled."), "resident")
    return user


def display_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Account id → display name, in one query (for "who accessed my data")."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(User.id, User.display_name, User.username).where(User.id.in_(wanted))
    )
    return {uid: (name or username) for uid, name, username in rows}


def record_verification_attempt(
    session: Session,
    user: User,
    outcome: str,
    *,
    agent: User | None = None,
    reason: str = "",
    facts: Mapping[str, Any] | None = None,
) -> None:
    """Every self-service verification attempt is in the audit log, whatever its outcome;
    the details typed (name, ID number, phone) never are."""
    log_audit(
        session,
        "identity.verification.attempted",
        actor=agent or user,
        outcome=outcome,
        target_type="user",
        target_id=user.id,
        detail={"reason": reason} if reason else None,
        facts=facts,
    )


def self_verify(
    session: Session,
    user: User,
    *,
    name: str,
    id_number: str,
    phone: str,
    bus: Any = None,
    facts: Mapping[str, Any] | None = None,
) -> int | None:
    """Self-service verification: the name, ID number and phone must all match one person
    in the registry. On a match the account is bound to that person (``bind_person``) and
    ``identity.user.verified`` is published; returns the person id, or None otherwise.

    Enumeration-safe: a person already bound to another account answers exactly like a
    mismatch (None), so nobody learns from the answer that these details belong to a
    registered person with an account. The audit log keeps the real reason for staff; the
    page tells a genuine resident what to do next (check, or be verified in person)."""
    from core.registry.services import match_person

    person = match_person(
        session,
        name=(name or "").strip(),
        id_number=normalise_id_number(id_number),
        phone=(phone or "").strip(),
    )
    if person is None:
        record_verification_attempt(session, user, "failed", reason="no_match", facts=facts)
        return None
    try:
        bind_person(session, user, person.id, method="self", by=None)
    except IdentityError:
        record_verification_attempt(session, user, "failed", reason="bound_elsewhere", facts=facts)
        return None
    record_verification_attempt(session, user, "ok", facts=facts)
    if bus is not None:
        bus.publish(
            session,
            "identity.user.verified",
            {"user_id": user.id, "person_id": person.id, "method": "self"},
        )
    return person.id


# ------------------------------------------------------------------------------ administration
#
# What the admin pages, the admin API and the CLI share. Each change is written to the audit
# log with its old and new values (the functions above do that; these add the rules an
# administrator needs protecting from, and the queries behind the lists).


def temporary_password(min_length: int = 0) -> str:
    """A random password to hand over once (at least 96 bits, and at least ``min_length``
    characters); it must be changed at the first sign-in."""
    length = max(min_length, 20)
    return "-".join(secrets.token_urlsafe(4) for _ in range(length // 7 + 1))[:length]


def search_users(
    *,
    text: str | None = None,
    role: str | None = None,
    kind: str | None = None,
    active: bool | None = None,
) -> Select:
    """Accounts matching every given filter, oldest first. ``text`` matches the username or
    the display name, case-insensitively (``%`` and ``_`` are taken literally)."""
    query = select(User)
    text = (text or "").strip()
    if text:
        query = query.where(
            or_(
                User.username.icontains(text, autoescape=True),
                User.display_name.icontains(text, autoescape=True),
            )
        )
    if role:
        query = query.where(User.roles.any(UserRole.role == role))
    if kind:
        query = query.where(User.kind == kind)
    if active is not None:
        query = query.where(User.is_active.is_(active))
    return query.order_by(User.id)


def admin_create_user(
    session: Session,
    hasher: PasswordHasher,
    *,
    username: str,
    roles: Iterable[str],
    known_roles: Iterable[str],
    admin: Any,
    password: str | None = None,
    kind: str = "staff",
    display_name: str = "",
    phone: str | None = None,
    scopes: Iterable[tuple[str, str]] = (),
    min_length: int = 8,
    bus: Any = None,
) -> tuple[User, str | None]:
    """An account created by an administrator (page, API or CLI). Without ``password`` it
    gets a temporary one, returned to be shown once and changed at the first sign-in."""
    if kind not in ("staff", "resident"):
        raise IdentityError(N_("An account is either staff or resident."), "kind")
    wanted = sorted(set(roles))
    if not wanted:
        raise IdentityError(N_("Choose at least one role."), "roles")
    unknown = sorted(set(wanted) - set(known_roles))
    if unknown:
        raise IdentityError(N_("Unknown role(s): %(names)s"), "roles", names=", ".join(unknown))
    temporary = None
    if password is None:
        context = (username, phone or "", display_name)
        temporary = temporary_password(min_length)
        for _ in range(20):  # it contained the name (hardly ever): draw again
            if not password_problem(temporary, min_length=min_length, context=context)[0]:
                break
            temporary = temporary_password(min_length)
        password = temporary
    user = create_user(
        session,
        hasher,
        username=username,
        password=password,
        kind=kind,
        roles=wanted,
        display_name=display_name,
        phone=phone or None,
        min_length=min_length,
        must_change_password=temporary is not None,
        bus=bus,
    )
    log_audit(
        session,
        "admin.user.created",
        actor=admin,
        target_type="user",
        target_id=user.id,
        detail={"username": user.username, "kind": kind, "old": None, "new": {"roles": wanted}},
    )
    scopes = list(scopes)
    if scopes:
        set_scopes(session, user, scopes, admin=admin)
    return user, temporary


def change_roles(
    session: Session, user: User, roles: Iterable[str], *, admin: Any, known: Iterable[str]
) -> None:
    """:func:`set_roles`, refusing to let administrators take away their own administrator
    role (nobody might be left to give it back)."""
    roles = set(roles)
    own = user.id == getattr(admin, "id", None)
    if own and "admin" in user.role_names and "admin" not in roles:
        raise IdentityError(N_("You cannot remove your own administrator role."), "roles")
    kept = {r.role: r for r in user.roles}
    set_roles(session, user, roles, admin=admin, known=known)
    # set_roles builds new rows for every role; the rows of roles kept must stay (a new
    # row next to the old one would break the unique constraint when flushed).
    user.roles = [kept.get(r.role, r) for r in user.roles]


def change_scopes(
    session: Session, user: User, scopes: Iterable[tuple[str, str]], *, admin: Any
) -> None:
    """:func:`set_scopes` (validated, audited old → new), keeping the rows of the scopes
    that stay, as :func:`change_roles` does."""
    kept = {(s.kind, s.code): s for s in user.scopes}
    set_scopes(session, user, scopes, admin=admin)
    user.scopes = [kept.get((s.kind, s.code), s) for s in user.scopes]


def disable_account(session: Session, user: User, *, admin: Any, reason: str) -> bool:
    """Disable with a stated reason: every session ends and every token stops working.
    Returns False when the account was already disabled (nothing is changed then)."""
    reason = (reason or "").strip()
    if not reason:
        raise IdentityError(N_("Give the reason for disabling the account."), "reason")
    if len(reason) > 200:
        raise IdentityError(N_("Use at most %(max)s characters."), "reason", max=200)
    if not user.is_active:
        return False
    set_active(session, user, False, admin=admin, reason=reason)
    return True


def enable_account(session: Session, user: User, *, admin: Any) -> bool:
    """Re-enable a disabled account; False when it was active already."""
    if user.is_active:
        return False
    set_active(session, user, True, admin=admin)
    return True


def end_user_sessions(session: Session, user: User, *, admin: Any) -> int:
    """An administrator signs the account out everywhere (tokens are not affected)."""
    count = end_all_sessions(session, user, reason="ended_by_admin")
    log_audit(
        session,
        "admin.user.sessions_ended",
        actor=admin,
        target_type="user",
        target_id=user.id,
        detail={"username": user.username, "count": count},
    )
    return count


def update_account(
    session: Session,
    user: User,
    *,
    admin: Any,
    known_roles: Iterable[str],
    roles: Iterable[str] | None = None,
    scopes: Iterable[tuple[str, str]] | None = None,
    is_active: bool | None = None,
    reason: str = "",
) -> None:
    """Apply the given changes (``None`` leaves a part alone), each audited old → new."""
    if roles is not None:
        change_roles(session, user, roles, admin=admin, known=known_roles)
    if scopes is not None:
        change_scopes(session, user, scopes, admin=admin)
    if is_active is True:
        enable_account(session, user, admin=admin)
    elif is_active is False:
        disable_account(session, user, admin=admin, reason=reason)


def count_active_sessions(session: Session, user: User) -> int:
    return (
        session.scalar(
            select(func.count(UserSession.id)).where(
                UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
            )
        )
        or 0
    )


def account_history(user_id: int) -> Select:
    """Audit entries about one account, newest first."""
    from core.audit.models import AuditEntry

    return (
        select(AuditEntry)
        .where(AuditEntry.target_type == "user", AuditEntry.target_id == str(user_id))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )


def parse_scopes(all_areas: bool, communities: str, grids: str) -> list[tuple[str, str]]:
    """Scopes from a form: a district-wide tick box and codes separated by new lines,
    commas or spaces (validated by :func:`set_scopes`)."""
    scopes: list[tuple[str, str]] = [("all", "")] if all_areas else []
    scopes += [("community", c) for c in re.split(r"[\s,，、]+", communities or "") if c]
    scopes += [("grid", g) for g in re.split(r"[\s,，、]+", grids or "") if g]
    for kind, code in scopes:
        if kind == "grid" and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", code):
            raise IdentityError(
                N_("A grid code has 1 to 32 letters, digits, '-' or '_'."), "scopes"
            )
    return scopes


@dataclass(frozen=True)
class RoleState:
    """One role's effective permissions next to its defaults (from core and plugins)."""

    role: str
    granted: frozenset[str]
    default: frozenset[str]

    @property
    def added(self) -> frozenset[str]:
        return self.granted - self.default

    @property
    def removed(self) -> frozenset[str]:
        return self.default - self.granted


def role_states(session: Session, defaults: Mapping[str, set[str]]) -> list[RoleState]:
    effective = effective_roles(defaults, role_overrides(session))
    return [
        RoleState(role, frozenset(effective.get(role, set())), frozenset(perms))
        for role, perms in defaults.items()
    ]


def set_role_permissions(
    session: Session,
    *,
    role: str,
    granted: Iterable[str],
    considered: Iterable[str],
    admin: Any,
    defaults: Mapping[str, set[str]],
    known_permissions: Iterable[str],
) -> list[str]:
    """Apply a role's tick boxes: each permission in ``considered`` (those the form showed)
    is granted when it is in ``granted`` and withdrawn otherwise, one audited
    :func:`set_role_permission` per change. Returns the permissions that changed."""
    if role not in defaults:
        raise IdentityError(N_("Unknown role '%(role)s'."), "role", role=role)
    known = set(known_permissions)
    granted, considered = set(granted), set(considered)
    unknown = sorted((granted | considered) - known)
    if unknown:
        raise IdentityError(N_("Unknown permission '%(name)s'."), "permission", name=unknown[0])
    before = effective_roles(defaults, role_overrides(session)).get(role, set())
    changed = []
    for permission in sorted(considered):
        want = permission in granted
        if (permission in before) != want:
            set_role_permission(
                session,
                role=role,
                permission=permission,
                granted=want,
                admin=admin,
                defaults=defaults,
                known_permissions=known,
            )
            changed.append(permission)
    return changed


def search_messages(*, status: str | None = None, channel: str | None = None) -> Select:
    """Outbound SMS and e-mail (``core.identity.notifications``), newest first."""
    from core.identity.models import OutboundMessage

    query = select(OutboundMessage)
    if status:
        query = query.where(OutboundMessage.status == status)
    if channel:
        query = query.where(OutboundMessage.channel == channel)
    return query.order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc())


def mask_recipient(value: str | None) -> str:
    """A phone or e-mail address as staff lists show it: ``138****5678``, ``z***@example.cn``."""
    value = value or ""
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    return mask_phone(value)


def admin_reset_password(
    session: Session, hasher: PasswordHasher, user: User, *, admin: Any, min_length: int
) -> str:
    """:func:`reset_password` for someone else: administrators change their own password
    on the password page (re-entering the current one), not by resetting it."""
    if user.id == getattr(admin, "id", None):
        raise IdentityError(
            N_("Change your own password on the password page instead."), "password"
        )
    return reset_password(session, hasher, user, admin=admin, min_length=min_length)
