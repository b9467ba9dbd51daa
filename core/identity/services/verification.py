"""Verification: binding an account to its registry person, by staff or by the resident,
and undoing it when the registry says the person moved out or died.

Self-service verification proves the phone ON THE REGISTRY RECORD (issue 17): the resident
types their name and ID number, a one-time code goes by SMS to the mobile number the
community holds for that person (never to one typed), and only that code binds the
account. Knowing a neighbour's name, ID number and phone is therefore not enough.

It is enumeration-safe: a mismatch, a person bound to another account and a record without
a mobile number all answer exactly like a match ("if these details match, we sent a code
to the number on record"), and the second step answers a made-up code like a wrong one.
Every attempt is audited with its real reason for staff, whatever its outcome (the details
typed never are).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.services import log_audit
from core.db import utcnow
from core.identity.models import User
from core.identity.services.errors import IdentityError
from core.registry.validation import IdentifierError, normalise_id_number, parse_id_number
from core.rules import N_


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




# ------------------------------------------------------------------------------ self-service

#: The pending self-service verification, kept between its two steps by the caller (the
#: pages keep it in the signed session cookie, which the browser can read). It never holds
#: the person id in clear: ``ref`` is sealed (:func:`seal_person_ref`) and a mismatch gets
#: random bytes of the same length, so the cookie does not tell a match either.
Pending = dict[str, Any]


def _ref_key(kernel: Any) -> bytes:
    from core.config import ensure_secret_key

    return hashlib.sha256(b"shequ.verify-ref:" + ensure_secret_key(kernel.config).encode()).digest()


def seal_person_ref(kernel: Any, user_id: int, person_id: int | None) -> str:
    """An opaque, fixed-length reference to ``person_id`` for ``user_id`` only (nonce, the id
    masked by an HMAC pad, a tag); ``None`` gives random bytes that look the same."""
    if person_id is None:
        return base64.urlsafe_b64encode(secrets.token_bytes(28)).decode()
    key = _ref_key(kernel)
    nonce = secrets.token_bytes(12)
    pad = hmac.new(key, b"pad|" + nonce, hashlib.sha256).digest()[:8]
    body = bytes(a ^ b for a, b in zip(int(person_id).to_bytes(8, "big"), pad, strict=True))
    tag = hmac.new(key, f"tag|{user_id}|".encode() + nonce + body, hashlib.sha256).digest()[:8]
    return base64.urlsafe_b64encode(nonce + body + tag).decode()


def open_person_ref(kernel: Any, user_id: int, ref: str) -> int | None:
    """The person id sealed in ``ref`` for this account, or None (a mismatch's random
    reference, another account's, or anything tampered with)."""
    try:
        raw = base64.urlsafe_b64decode((ref or "").encode())
    except (ValueError, TypeError):
        return None
    if len(raw) != 28:
        return None
    key = _ref_key(kernel)
    nonce, body, tag = raw[:12], raw[12:20], raw[20:]
    want = hmac.new(key, f"tag|{user_id}|".encode() + nonce + body, hashlib.sha256).digest()[:8]
    if not hmac.compare_digest(tag, want):
        return None
    pad = hmac.new(key, b"pad|" + nonce, hashlib.sha256).digest()[:8]
    return int.from_bytes(bytes(a ^ b for a, b in zip(body, pad, strict=True)), "big")


def _registry_person(session: Session, name: str, id_number: str) -> Any:
    """The active person with exactly this ID number and name, or None."""
    from core.registry.services import _clean_name, find_by_id_number

    person = find_by_id_number(session, normalise_id_number(id_number or ""))
    if person is None or person.status != "active" or person.name != _clean_name(name):
        return None
    return person


def _send_code(session: Session, kernel: Any, user: User, phone: str, locale: str,
               otp: Any) -> None:
    """A "verify" code to the record's phone. A throttled request (an earlier code is
    still on its way, or the number's daily allowance is spent) is silently skipped:
    saying so would tell a match from a mismatch; the earlier code still works."""
    with contextlib.suppress(otp.CodeError):
        otp.issue_code(session, kernel, purpose="verify", channel="sms", recipient=phone,
                       user_id=user.id, locale=locale)


def _record_phone(person: Any) -> str:
    """The record's number if a text message can reach it (a mainland mobile), else ""."""
    phone = re.sub(r"[\s-]", "", person.phone or "") if person is not None else ""
    phone = phone[3:] if phone.startswith("+86") else phone
    return phone if re.fullmatch(r"1[3-9]\d{9}", phone) else ""


def begin_self_verification(
    session: Session,
    kernel: Any,
    user: User,
    *,
    name: str,
    id_number: str,
    locale: str = "zh",
    facts: Mapping[str, Any] | None = None,
    otp: Any,
) -> Pending:
    """Step one: find the active person with this name and ID number and send a code to
    the mobile number on THEIR record (``otp`` is :mod:`core.identity.otp`, passed in:
    services may not import it, it imports the limiter, which imports these services).
    Returns the pending state for step two, the same
    shape whatever happened: a mismatch, a person bound to another account and a record
    without a mobile number send nothing and are told apart only in the audit log."""
    person = _registry_person(session, name, id_number)
    reason = ""
    if person is None:
        reason = "no_match"
    elif session.scalar(select(User.id).where(User.person_id == person.id,
                                              User.id != user.id)) is not None:
        reason = "bound_elsewhere"
    elif not _record_phone(person):
        reason = "no_phone"
    if reason:
        record_verification_attempt(session, user, "failed", reason=reason, facts=facts)
        person = None
    else:
        _send_code(session, kernel, user, _record_phone(person), locale, otp)
        record_verification_attempt(session, user, "pending", reason="code_sent", facts=facts)
    return {"uid": user.id, "ref": seal_person_ref(kernel, user.id, person and person.id),
            "at": utcnow().timestamp(), "tries": 0, "done": False}


def resend_wait(kernel: Any, pending: Pending) -> int:
    """Seconds until "send again" is allowed (``identity.otp_resend_seconds`` after the
    last send), the same for a match and a mismatch."""
    wait = int(kernel.config.identity.get("otp_resend_seconds", 60))
    return max(0, int(pending.get("at", 0) + wait - utcnow().timestamp() + 0.999))


def resend_self_verification(
    session: Session, kernel: Any, user: User, pending: Pending, *, locale: str = "zh",
    otp: Any,
) -> Pending:
    """Send the code again to the record's phone (nothing for a mismatch). Raises
    :class:`~core.identity.otp.CodeError` (429) before :func:`resend_wait` is over."""
    wait = resend_wait(kernel, pending)
    if wait:
        raise otp.CodeError(N_("A code was sent a moment ago. Ask again in %(seconds)s seconds."),
                        "code", status=429, seconds=wait, retry_after=wait)
    person_id = open_person_ref(kernel, user.id, pending.get("ref", ""))
    person = _pending_person(session, person_id)
    if person is not None:
        _send_code(session, kernel, user, _record_phone(person), locale, otp)
    return {**pending, "at": utcnow().timestamp(), "tries": 0, "done": False}


def _pending_person(session: Session, person_id: int | None) -> Any:
    if person_id is None:
        return None
    from core.registry.services import persons_by_ids

    found = persons_by_ids(session, [person_id])
    person = found[0] if found else None
    if person is None or person.status != "active" or not _record_phone(person):
        return None
    return person


def _no_code(kernel: Any, pending: Pending, otp: Any) -> None:
    """What :func:`core.identity.otp.check_code` answers when no code was sent, said for a
    reference to nobody: the same messages, in the same order, with the same count of
    tries, so step two does not tell a mismatch either."""
    CodeError = otp.CodeError  # the class, passed in with its module
    cfg = kernel.config.identity
    if pending.get("done"):
        raise CodeError(N_("This code is not valid any more. Ask for a new code."), "code")
    if utcnow().timestamp() >= pending.get("at", 0) + int(cfg.get("otp_ttl_seconds", 300)):
        pending["done"] = True
        raise CodeError(N_("This code has expired. Ask for a new code."), "code")
    max_tries = int(cfg.get("otp_max_tries", 5))
    pending["tries"] = int(pending.get("tries", 0)) + 1
    if pending["tries"] >= max_tries:
        pending["done"] = True
        raise CodeError(N_("Too many wrong codes. Ask for a new code."), "code")
    raise CodeError(N_("This code is not right. %(left)s tries left."), "code",
                    left=max_tries - pending["tries"])


def finish_self_verification(
    session: Session,
    kernel: Any,
    user: User,
    pending: Pending,
    *,
    code: str,
    bus: Any = None,
    facts: Mapping[str, Any] | None = None,
    otp: Any,
) -> int:
    """Step two: the code sent to the record's phone binds the account to that person
    (``bind_person``, ``identity.user.verified``); returns the person id. Raises
    :class:`~core.identity.otp.CodeError` (422, field ``code``) for a wrong, expired or
    used code, and for any code when step one matched nobody (``pending`` is updated:
    the caller keeps it, and commits either way so a wrong try counts)."""
    if not re.fullmatch(r"\d{6}", re.sub(r"\s", "", code or "")):
        raise otp.CodeError(N_("Enter the 6-digit code from the message."), "code")
    person = _pending_person(session, open_person_ref(kernel, user.id, pending.get("ref", "")))
    try:
        if person is None:
            _no_code(kernel, pending, otp)
        otp.check_code(session, kernel, purpose="verify", channel="sms",
                   recipient=_record_phone(person), code=code)
        bind_person(session, user, person.id, method="self", by=None)
    except IdentityError:  # a wrong code, or bound to another account since step one
        record_verification_attempt(session, user, "failed", reason="wrong_code", facts=facts)
        raise
    pending["done"] = True
    record_verification_attempt(session, user, "ok", facts=facts)
    if bus is not None:
        bus.publish(
            session,
            "identity.user.verified",
            {"user_id": user.id, "person_id": person.id, "method": "self"},
        )
    return person.id
