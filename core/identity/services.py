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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
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

TOKEN_PREFIX = "shq_"
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{3,32}$")
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
#: Spent on unknown usernames so that timing does not reveal which accounts exist.
_DUMMY_HASH: dict[int, str] = {}


def N_(message: str) -> str:
    """Mark a message for extraction; views translate it with ``gettext``."""
    return message


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
    taken = session.scalar(select(User.id).where(User.username.ilike(username)))
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


def find_login(session: Session, login: str) -> User | None:
    """The account for a login name: username (any case) or mobile number."""
    login = login.strip()
    if PHONE_RE.match(login):
        user = session.scalar(select(User).where(User.phone == login))
        if user is not None:
            return user
    return session.scalar(select(User).where(User.username.ilike(login)))


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
    user.roles = [UserRole(role=r) for r in wanted]
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
    user.scopes = [UserScope(kind=k, code=c) for k, c in wanted]
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
        extra = sorted(set(permissions) - set(granted))
        if extra:
            raise IdentityError(
                N_("The owner lacks: %(names)s"), "permissions", names=", ".join(extra)
            )
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
    """Whether a staff account's assignments cover this community or grid."""
    scopes = {(s.kind, s.code) for s in getattr(user, "scopes", [])}
    if ("all", "") in scopes:
        return True
    if community and ("community", community) in scopes:
        return True
    return bool(grid and ("grid", grid) in scopes)


# ------------------------------------------------------------------------------ assisted


def start_assist(
    session: Session,
    row: UserSession,
    *,
    agent: User,
    resident: User,
    reason: str,
    minutes: int,
    max_minutes: int,
) -> None:
    """A worker at the counter (or a hotline operator) acts for a resident for a stated
    reason and a limited time. Everything done meanwhile names both of them."""
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise IdentityError(N_("State why you act for this resident."), "reason")
    if resident.kind != "resident" or not resident.is_active:
        raise IdentityError(N_("Only an active resident account can be assisted."), "resident")
    if not 1 <= minutes <= max_minutes:
        raise IdentityError(N_("Choose between 1 and %(max)s minutes."), "minutes", max=max_minutes)
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
    verified (the binding itself is kept for the record in the audit log)."""
    user = session.scalar(select(User).where(User.person_id == person_id))
    if user is None or user.verified_at is None:
        return user
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
