"""Account rules: passwords, authentication, tokens and permission resolution.

Plain functions over a session, no Flask: the pages, the API and the CLI all call these.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.identity.models import ApiToken, User, UserRole

TOKEN_PREFIX = "shq_"
MIN_PASSWORD, MAX_PASSWORD = 8, 128
#: Spent on unknown usernames so that timing does not reveal which accounts exist.
_DUMMY_HASH: dict[int, str] = {}


class IdentityError(ValueError):
    """A rule was broken; ``field`` names the input it concerns."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise IdentityError(f"at least {MIN_PASSWORD} characters", "password")
    if len(password) > MAX_PASSWORD:
        raise IdentityError(f"at most {MAX_PASSWORD} characters", "password")


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
) -> User:
    check_password_rules(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise IdentityError("this username is taken", "username")
    user = User(
        username=username,
        password_hash=hasher.hash(password),
        kind=kind,
        display_name=display_name or username,
        phone=phone,
    )
    user.roles = [UserRole(role=r) for r in sorted(set(roles))]
    session.add(user)
    session.flush()
    return user


def authenticate(
    session: Session, hasher: PasswordHasher, username: str, password: str
) -> User | None:
    """The user for these credentials, or None. Rehashes when the parameters changed."""
    user = session.scalar(select(User).where(User.username == username))
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


def end_sessions(user: User) -> None:
    """Every session cookie issued before now stops working."""
    user.session_version += 1


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    user: User,
    *,
    name: str,
    permissions: list[str] | None,
    expires_days: int | None,
    granted: set[str],
) -> tuple[ApiToken, str]:
    """Create a token and return it with its plaintext, which is shown once and never
    stored. ``granted`` is the owner's permissions: a token can only narrow them."""
    if permissions is not None:
        extra = sorted(set(permissions) - granted)
        if extra and "*" not in granted:
            raise IdentityError(f"the owner lacks: {', '.join(extra)}", "permission")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
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


def resolve_permissions(role_names: Iterable[str], roles: Mapping[str, set[str]]) -> frozenset[str]:
    granted: set[str] = set()
    for role in role_names:
        granted |= roles.get(role, set())
    return frozenset(granted)
