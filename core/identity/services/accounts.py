"""Accounts and their credentials: sign-up, finding a login, authentication, password
changes and resets, enabling and disabling, roles and scopes.

Every administrator-facing change here writes the audit log with its old and new values;
the rules that protect administrators from themselves are in
:mod:`core.identity.services.administration`.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from core.audit.services import log_audit
from core.db import utcnow
from core.identity.models import User, UserRole, UserScope
from core.identity.passwords import password_problem
from core.identity.services.errors import IdentityError
from core.identity.services.sessions import end_all_sessions
from core.registry.validation import mask_phone
from core.rules import N_

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{3,32}$")
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
#: Spent on unknown usernames so that timing does not reveal which accounts exist.
_DUMMY_HASH: dict[int, str] = {}


def check_password(password: str, *, min_length: int, context: Iterable[str] = ()) -> None:
    problem = password_problem(password, min_length=min_length, context=tuple(context))
    if problem[0]:
        raise IdentityError(problem[0], "password", **problem[1])


def create_user(
    session: Session,
    hasher: PasswordHasher,
    *,
    username: str,
    password: str = "",
    kind: str = "resident",
    roles: Iterable[str] = (),
    display_name: str = "",
    phone: str | None = None,
    min_length: int = 8,
    must_change_password: bool = False,
    bus: Any = None,
    password_hash: str | None = None,
    phone_verified_at: datetime | None = None,
) -> User:
    """Create an account. Residents sign up with a username or a mainland mobile number;
    either way the login name is unique, case-insensitively. ``password_hash`` is a
    password hashed earlier, whose policy the caller checked then (the two-step sign-up
    never keeps the password itself between its steps); ``phone_verified_at`` records that
    a code sent to ``phone`` came back."""
    username = username.strip()
    if PHONE_RE.match(username):
        phone = phone or username
    elif not USERNAME_RE.match(username):
        raise IdentityError(
            N_("Use 3 to 32 letters, digits, '.', '-' or '_', or a mobile number."), "username"
        )
    if phone is not None and not PHONE_RE.match(phone):
        raise IdentityError(N_("Enter a mainland mobile number of 11 digits."), "phone")
    if password_hash is None:
        check_password(password, min_length=min_length,
                       context=(username, phone or "", display_name))
    taken = session.scalar(select(User.id).where(_username_is(username)))
    if taken is not None:
        raise IdentityError(N_("This username is taken."), "username")
    if phone and session.scalar(select(User.id).where(User.phone == phone)) is not None:
        raise IdentityError(N_("An account with this mobile number exists."), "phone")
    user = User(
        username=username,
        password_hash=password_hash or hasher.hash(password),
        kind=kind,
        display_name=(display_name or username).strip()[:100],
        phone=phone,
        phone_verified_at=phone_verified_at if phone else None,
        password_changed_at=utcnow(),
        must_change_password=must_change_password,
    )
    user.roles = [UserRole(role=r) for r in sorted(set(roles))]
    session.add(user)
    session.flush()
    if bus is not None:
        bus.publish(session, "identity.user.created", {"user_id": user.id, "kind": kind})
    return user


#: How long a sign-up waits for its code before the form must be filled in again.
SIGNUP_PENDING_SECONDS = 3600


def begin_signup(
    session: Session,
    kernel: Any,
    hasher: PasswordHasher,
    *,
    username: str,
    display_name: str,
    phone: str,
    password: str,
    min_length: int = 8,
    locale: str = "zh",
    otp: Any,
) -> dict[str, Any]:
    """Step one of a resident's sign-up (issue 17: sign-up proves the phone it registers):
    check the details and send a "signup" code to ``phone``. No account is created yet;
    returns the pending sign-up for the caller to keep (the password only as its hash).

    Enumeration-safe about phones: whether ``phone`` already has an account is not
    checked here (the code is sent either way, so only the phone's holder can learn it, at
    step two); a username that is a mobile number is not checked either, for the same
    reason. ``otp`` is :mod:`core.identity.otp`, passed in: services may not import it (it
    imports the limiter, which imports these services). Raises :class:`IdentityError`
    (fields ``username``, ``phone``, ``password``) or
    :class:`~core.identity.otp.CodeError` (429, a code to this number a moment ago)."""
    username = (username or "").strip()
    phone = otp.normalise_recipient("sms", phone or "")
    name_is_phone = bool(PHONE_RE.match(username))
    if not (name_is_phone or USERNAME_RE.match(username)):
        raise IdentityError(
            N_("Use 3 to 32 letters, digits, '.', '-' or '_', or a mobile number."), "username"
        )
    if name_is_phone and not phone:
        phone = username
    problem = otp.recipient_problem("sms", phone)
    if problem:
        raise IdentityError(problem, "phone")
    if name_is_phone and phone != username:
        raise IdentityError(
            N_("Use the mobile number you chose as your username, or choose another "
               "username."), "phone")
    check_password(password, min_length=min_length, context=(username, phone, display_name))
    if not name_is_phone and session.scalar(select(User.id).where(_username_is(username))):
        raise IdentityError(N_("This username is taken."), "username")
    otp.issue_code(session, kernel, purpose="signup", channel="sms", recipient=phone,
                   locale=locale)
    return {"username": username, "display_name": (display_name or "").strip()[:100],
            "phone": phone, "hash": hasher.hash(password), "at": utcnow().timestamp()}


def resend_signup_code(session: Session, kernel: Any, pending: dict[str, Any], *,
                       locale: str = "zh", otp: Any) -> None:
    """Send a pending sign-up's code again (the 60 s wait and the daily allowance of
    :func:`core.identity.otp.issue_code` apply: :class:`~core.identity.otp.CodeError` 429)."""
    otp.issue_code(session, kernel, purpose="signup", channel="sms",
                   recipient=pending["phone"], locale=locale)


def finish_signup(
    session: Session,
    kernel: Any,
    hasher: PasswordHasher,
    pending: dict[str, Any],
    *,
    code: str,
    bus: Any = None,
    otp: Any,
) -> User:
    """Step two: the code sent to the phone creates the resident account, its phone
    proved (``phone_verified_at``). Raises :class:`~core.identity.otp.CodeError` (422) for
    a wrong, expired or used code (the caller commits anyway: a wrong try counts), and
    :class:`IdentityError` when the number already has an account (told only now, to the
    person who just proved they hold it) or the username was taken meanwhile."""
    otp.check_code(session, kernel, purpose="signup", channel="sms",
                   recipient=pending["phone"], code=code)
    if session.scalar(select(User.id).where(User.phone == pending["phone"])) is not None:
        raise IdentityError(
            N_("This mobile number already has an account. Sign in with it, or reset the "
               "password if you forgot it."), "phone")
    return create_user(
        session,
        hasher,
        username=pending["username"],
        password_hash=pending["hash"],
        display_name=pending["display_name"],
        phone=pending["phone"],
        phone_verified_at=utcnow(),
        kind="resident",
        roles=["resident"],
        bus=bus,
    )


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
