"""Verification: binding an account to its registry person, by staff or by the resident
(name, ID number and phone must match one person), and undoing it when the registry says
the person moved out or died.

Self-service verification is enumeration-safe and every attempt is audited, whatever its
outcome (the details typed never are).
"""

from __future__ import annotations

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
