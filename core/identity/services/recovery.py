"""Self-service password reset and the sign-in code (issue 17).

A resident who forgot the password names the account (username, or the phone or e-mail
address they proved) and gets a one-time code (purpose ``reset``) on a channel the account
has PROVED — the verified phone, else the verified e-mail address — never on one typed.
The code and a new password then replace the password; every session of the account ends
and every API token is revoked (a reset is what someone does when another person may know
the password, and a token made with it would outlive the reset), the audit log records it
and the resident is told.

Non-disclosure is the rule of both steps: the caller gets the same answer, and the server
does much the same work, whether or not the name matched an account with a proved
channel. The new password is always hashed; a wrong, expired, used or never-sent code all
give one message (:data:`CODE_NOT_RIGHT`), because "expired" or "tries left" for one name
and "no code" for another would tell who has an account.

The sign-in code (purpose ``login``) is asked for when an account is being attacked
(``core.identity.limits.login_needs_code``): :func:`login_channel` says where it goes and
:func:`login_proof` binds the code step to the browser that gave the right password.

Plain functions over a session; callers commit. ``otp`` is :mod:`core.identity.otp`,
passed in (services may not import it: it imports the limiter, which imports these
services).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.audit.services import log_audit
from core.db import utcnow
from core.identity.models import ApiToken, User
from core.identity.notifications import Message, Told
from core.identity.passwords import password_problem
from core.identity.services.accounts import PHONE_RE, _username_is, check_password, mask_login
from core.identity.services.errors import IdentityError
from core.identity.services.sessions import end_all_sessions
from core.rules import N_

#: The one answer to every code that does not work in a reset or a sign-in with a code.
CODE_NOT_RIGHT = N_(
    "This code is not right, or it is no longer valid. Enter the newest code from the "
    "message, or ask for a new code."
)
#: A code in the wrong shape (said before anything is looked up, so it discloses nothing).
CODE_SHAPE = N_("Enter the 6-digit code from the message.")
#: How long the reset's pending step (the typed name in the cookie) lasts.
RESET_PENDING_SECONDS = 1800


@dataclass(frozen=True)
class Target:
    """Where a reset code for a typed login goes: the account and its proved channel
    (``sms``/``email`` and the address), or ``user=None`` / ``channel=""`` when none."""

    user: User | None
    channel: str = ""
    recipient: str = ""


def _proved_channel(user: User, prefer_email: bool = False) -> tuple[str, str]:
    phone = ("sms", user.phone) if user.phone and user.phone_verified_at else None
    email = ("email", user.email) if user.email and user.email_verified_at else None
    order = (email, phone) if prefer_email else (phone, email)
    return next((c for c in order if c is not None), ("", ""))


def recovery_target(session: Session, login: str) -> Target:
    """The active account ``login`` names — its username (any case), its mobile number or
    its VERIFIED e-mail address — and the proved channel a code goes to: the e-mail address
    when that is what was typed, else the verified phone, else the verified address."""
    typed = (login or "").strip()[:200]
    if not typed:
        return Target(None)
    user: User | None
    if "@" in typed:
        user = session.scalar(select(User).where(
            func.lower(User.email) == typed.lower(), User.email_verified_at.is_not(None)))
        prefer_email = True
    else:
        compact = re.sub(r"[\s-]", "", typed)
        compact = compact[3:] if compact.startswith("+86") else compact
        user = None
        if PHONE_RE.match(compact):
            user = session.scalar(select(User).where(User.phone == compact))
        if user is None:
            user = session.scalar(select(User).where(_username_is(typed)))
        prefer_email = False
    if user is None or not user.is_active:
        return Target(None)
    channel, recipient = _proved_channel(user, prefer_email)
    return Target(user, channel, recipient)


def login_channel(user: User) -> tuple[str, str]:
    """Where a sign-in code for ``user`` goes: the verified phone, else the verified
    e-mail address; ``("", "")`` when the account has proved neither (its owner must ask
    staff, or wait for the attack to pass)."""
    return _proved_channel(user)


def request_reset(
    session: Session, kernel: Any, *, login: str, locale: str = "zh", facts: Any = None,
    otp: Any,
) -> None:
    """Send a reset code to the proved channel of the account ``login`` names. Returns
    nothing and raises nothing about the account: an unknown name, a disabled account, one
    without a proved channel, and a code refused by the resend wait or the daily allowance
    (:func:`core.identity.otp.issue_code`; the earlier code still works) all look like a
    code sent. The audit log keeps what happened (``auth.password.reset_requested``)."""
    target = recovery_target(session, login)
    if target.user is None or not target.channel:
        _same_work(kernel, login)
        log_audit(session, "auth.password.reset_requested", outcome="failed",
                  detail={"login": mask_login(login),
                          "reason": "no_channel" if target.user else "no_account"},
                  actor=target.user, facts=facts)
        return
    sent = True
    try:
        otp.issue_code(session, kernel, purpose="reset", channel=target.channel,
                       recipient=target.recipient, user_id=target.user.id,
                       locale=target.user.locale or locale)
    except otp.CodeError:  # asked a moment ago, or too often today: nothing more is sent
        sent = False
    log_audit(session, "auth.password.reset_requested", actor=target.user,
              outcome="ok" if sent else "failed",
              detail={"channel": target.channel, **({} if sent else {"reason": "throttled"})},
              facts=facts)


def _same_work(kernel: Any, login: str) -> None:
    """What issuing a code computes (an HMAC keyed from the secret), for a name that gets
    none, so the two answers take about the same time."""
    from core.config import ensure_secret_key

    key = hashlib.sha256(b"shequ.otp:" + ensure_secret_key(kernel.config).encode()).digest()
    hmac.new(key, f"reset|{login}|{secrets.randbelow(10**6):06d}".encode(), hashlib.sha256)


@dataclass(frozen=True)
class ResetDone:
    user: User
    channel: str
    sessions_ended: int
    tokens_revoked: int


def confirm_reset(
    session: Session,
    kernel: Any,
    hasher: PasswordHasher,
    *,
    login: str,
    code: str,
    password: str,
    min_length: int,
    facts: Any = None,
    notice: Callable[[User], tuple[str | Message, Told]] | None = None,
    otp: Any,
) -> ResetDone:
    """Replace the password of the account ``login`` names with ``password``, given the
    reset code sent to its proved channel. Then every session ends, every API token is
    revoked, ``auth.password.reset`` is audited and the owner is told (``notice(user)``
    gives the notification's title and body — :func:`password_reset_notice`'s Messages,
    told in whichever language the owner reads them in; the owner's language goes to the
    channel the code went to).

    Raises :class:`IdentityError`: field ``password`` for the policy (checked first against
    the typed name only, so it says nothing about the account; the account's own name and
    phone are checked once the code proved the caller holds them, and then the code stays
    usable), field ``code`` with :data:`CODE_NOT_RIGHT` for every code that does not work
    and for a name with no account. The caller commits either way: a wrong try counts."""
    check_password(password or "", min_length=min_length, context=(login or "",))
    code = re.sub(r"\s", "", code or "")
    if not re.fullmatch(r"\d{6}", code):
        raise IdentityError(CODE_SHAPE, "code")
    new_hash = hasher.hash(password)  # always: an unknown name costs the same time
    target = recovery_target(session, login)
    if target.user is None or not target.channel:
        _same_work(kernel, login)
        log_audit(session, "auth.password.reset_failed", actor=target.user, outcome="failed",
                  detail={"login": mask_login(login), "reason": "no_code"}, facts=facts)
        raise IdentityError(CODE_NOT_RIGHT, "code")
    user = target.user
    try:
        row = otp.check_code(session, kernel, purpose="reset", channel=target.channel,
                             recipient=target.recipient, code=code)
    except otp.CodeError as exc:
        log_audit(session, "auth.password.reset_failed", actor=user, outcome="failed",
                  detail={"reason": "wrong_code"}, facts=facts)
        raise IdentityError(CODE_NOT_RIGHT, "code") from exc
    problem, params = password_problem(
        password, min_length=min_length,
        context=(user.username, user.phone or "", user.display_name or ""))
    if problem:
        row.consumed_at = None  # the code proved the holder; let them choose again with it
        raise IdentityError(problem, "password", **params)
    user.password_hash = new_hash
    user.password_changed_at = utcnow()
    user.must_change_password = False
    ended = end_all_sessions(session, user, reason="password_reset_self")
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    revoked = int(getattr(result, "rowcount", 0) or 0)
    log_audit(session, "auth.password.reset", actor=user, target_type="user",
              target_id=user.id,
              detail={"channel": target.channel, "sessions_ended": ended,
                      "api_access_revoked": revoked}, facts=facts)
    if notice is not None:
        from core.identity.notifications import notify

        title, body = notice(user)
        notify(session, kernel.bus, user_id=user.id, title=title, body=body,
               kind="security", source="core", channels=[target.channel])
    return ResetDone(user, target.channel, ended, revoked)


def password_reset_notice(user: User) -> tuple[Message, Message]:
    """The notification of a reset, for :func:`reset_password`'s ``notice``: core's
    messages, rendered when read (in the owner's language, not the page's that reset it)."""
    return (
        Message("Your password was reset", domain="core"),
        Message("Your Shequ password was reset with a code sent to you, and every device was "
                "signed out. If you did not do this, ask community staff at once.",
                domain="core"),
    )


def login_proof(kernel: Any, user: User | None, nonce: str) -> str:
    """What the sign-in-code step keeps in the (signed, readable) cookie: an HMAC of the
    account, its password hash and a nonce when the password was right, random bytes of
    the same length when it was not — indistinguishable to whoever reads the cookie, and
    checkable only by the server (:func:`proof_holds`). It binds the code step to the
    browser that gave the right password, so nobody else can spend the owner's tries."""
    if user is None:
        return secrets.token_hex(32)
    from core.config import ensure_secret_key

    key = hashlib.sha256(b"shequ.login-proof:" + ensure_secret_key(kernel.config).encode())
    return hmac.new(key.digest(), f"{user.id}|{user.password_hash}|{nonce}".encode(),
                    hashlib.sha256).hexdigest()


def proof_holds(kernel: Any, user: User | None, nonce: str, proof: str) -> bool:
    if user is None or not user.is_active:
        return False
    return hmac.compare_digest(login_proof(kernel, user, nonce), str(proof or ""))
