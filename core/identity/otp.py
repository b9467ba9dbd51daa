"""One-time codes: proof that the person at the keyboard holds a phone or a mailbox.

Sign-up proves the phone it registers, self-service verification proves the phone on the
registry record (never one typed), a password reset proves the account's phone or address,
and a sign-in under attack proves the owner. Every code is 6 digits, bound to one purpose
and one recipient, valid ``identity.otp_ttl_seconds`` (5 minutes), good for at most
``identity.otp_max_tries`` (5) tries and one use. Asking again is throttled per recipient
(``otp_resend_seconds``, 60 s, and ``otp_per_recipient_per_day``). Only an HMAC of the code
is stored, keyed from the secret key, so a copy of the database alone cannot be searched for
it; the code travels through the outbox (``queue_message``) so a failed send is retried and
visible, and the outbox blanks it once it is sent or expired.

Callers commit whether or not :func:`check_code` raises: a wrong try must count.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.db import utcnow
from core.identity.models import OneTimeCode
from core.identity.services.errors import IdentityError
from core.rules import N_

PURPOSES = ("signup", "verify", "reset", "login", "email")
CHANNELS = ("sms", "email")
#: A mainland mobile number (11 digits, 1 then 3-9): the only numbers an SMS code reaches.
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


class CodeError(IdentityError):
    """A code was wrong, expired, used up or asked for too often. ``status`` is 422 for a
    wrong code and 429 for too many requests, with ``retry_after`` (seconds) for the
    Retry-After header."""

    def __init__(self, message: str, field: str = "code", *, status: int | None = None,
                 retry_after: int | None = None, **params: Any) -> None:
        super().__init__(message, field, **params)
        if status is not None:
            self.status = status
        self.retry_after = retry_after


def _settings(kernel: Any) -> dict[str, Any]:
    return kernel.config.identity


def normalise_recipient(channel: str, value: str) -> str:
    """The phone without spaces or dashes (and without +86), the address lower-cased."""
    value = (value or "").strip()
    if channel == "sms":
        value = re.sub(r"[\s-]", "", value)
        if value.startswith("+86"):
            value = value[3:]
        return value
    return value.lower()


def recipient_problem(channel: str, value: str) -> str:
    """Why a code cannot be sent here, as a msgid, or ``""``."""
    if channel == "sms" and not MOBILE_RE.match(value):
        return N_("Enter an 11-digit mobile number starting with 1: codes are sent by SMS.")
    if channel == "email" and not EMAIL_RE.match(value):
        return N_("Enter an e-mail address such as name@example.com.")
    return ""


def _digest(kernel: Any, recipient: str, purpose: str, code: str) -> str:
    from core.config import ensure_secret_key

    key = hashlib.sha256(b"shequ.otp:" + ensure_secret_key(kernel.config).encode()).digest()
    return hmac.new(key, f"{purpose}|{recipient}|{code}".encode(), hashlib.sha256).hexdigest()


def issue_code(
    session: Session,
    kernel: Any,
    *,
    purpose: str,
    channel: str,
    recipient: str,
    user_id: int | None = None,
    locale: str = "zh",
) -> OneTimeCode:
    """Make a new code for ``(recipient, purpose)`` and queue it for sending; any earlier
    unused code for the pair stops working. Raises :class:`CodeError` (429, field
    ``code``) while the resend wait or the daily allowance for this recipient is not over;
    the recipient must already be valid (:func:`recipient_problem`)."""
    from core.identity import limits
    from core.identity.notifications import queue_message

    if purpose not in PURPOSES or channel not in CHANNELS:
        raise ValueError(f"unknown purpose/channel {purpose!r}/{channel!r}")
    recipient = normalise_recipient(channel, recipient)
    cfg = _settings(kernel)
    from limits import parse

    resend = parse(f"1 per {int(cfg.get('otp_resend_seconds', 60))} second")
    daily = parse(f"{int(cfg.get('otp_per_recipient_per_day', 10))} per day")
    if not limits.test(resend, "otp", recipient):
        wait = max(1, int(limits.reset_at(resend, "otp", recipient) - utcnow().timestamp()))
        raise CodeError(N_("A code was sent a moment ago. Ask again in %(seconds)s seconds."),
                        "code", status=429, seconds=wait, retry_after=wait)
    if not limits.test(daily, "otp-day", recipient):
        raise CodeError(N_("Too many codes were sent to this number or address today. "
                           "Try again tomorrow, or ask community staff."),
                        "code", status=429, retry_after=3600)
    limits.hit(resend, "otp", recipient)
    limits.hit(daily, "otp-day", recipient)

    now = utcnow()
    session.execute(
        update(OneTimeCode)
        .where(OneTimeCode.recipient == recipient, OneTimeCode.purpose == purpose,
               OneTimeCode.consumed_at.is_(None))
        .values(consumed_at=now)
    )
    code = f"{secrets.randbelow(10**6):06d}"
    ttl = int(cfg.get("otp_ttl_seconds", 300))
    otp = OneTimeCode(
        purpose=purpose, channel=channel, recipient=recipient, user_id=user_id,
        digest=_digest(kernel, recipient, purpose, code), created_at=now,
        expires_at=now + timedelta(seconds=ttl), tries=0,
    )
    session.add(otp)
    msg = queue_message(
        session, kernel.bus, channel=channel, recipient=recipient, user_id=user_id,
        template="otp", params={"code": code, "minutes": max(1, ttl // 60), "purpose": purpose},
        locale=locale,
    )
    otp.message_id = msg.id
    session.flush()
    return otp


def check_code(
    session: Session, kernel: Any, *, purpose: str, channel: str, recipient: str, code: str
) -> OneTimeCode:
    """The newest unused code for ``(recipient, purpose)`` if ``code`` is it; it is then
    used up. Otherwise raises :class:`CodeError` (422, field ``code``): wrong (the try is
    counted; the last allowed try spends the code), expired, or none asked for. The
    messages never say whether an account exists."""
    recipient = normalise_recipient(channel, recipient)
    code = re.sub(r"\s", "", code or "")
    if not re.fullmatch(r"\d{6}", code):
        raise CodeError(N_("Enter the 6-digit code from the message."), "code")
    otp = session.scalar(
        select(OneTimeCode)
        .where(OneTimeCode.recipient == recipient, OneTimeCode.purpose == purpose,
               OneTimeCode.consumed_at.is_(None))
        .order_by(OneTimeCode.id.desc())
        .limit(1)
    )
    now = utcnow()
    if otp is None:
        raise CodeError(N_("This code is not valid any more. Ask for a new code."), "code")
    if otp.expires_at <= now:
        otp.consumed_at = now
        raise CodeError(N_("This code has expired. Ask for a new code."), "code")
    max_tries = int(_settings(kernel).get("otp_max_tries", 5))
    if not hmac.compare_digest(otp.digest, _digest(kernel, recipient, purpose, code)):
        otp.tries += 1
        if otp.tries >= max_tries:
            otp.consumed_at = now
            raise CodeError(N_("Too many wrong codes. Ask for a new code."), "code")
        raise CodeError(N_("This code is not right. %(left)s tries left."), "code",
                        left=max_tries - otp.tries)
    otp.consumed_at = now
    return otp
