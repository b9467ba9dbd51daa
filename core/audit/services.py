"""Writing and reading the audit and access logs.

Plain functions over a session. Writers take the request facts (ip, user agent, request
id) as a mapping so the CLI, workers and views use the same calls; ``request_facts()`` in
``core.audit.web`` builds it inside a request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from core.audit.models import AccessEntry, AuditEntry
from core.db import utcnow

#: Legal floors: Cybersecurity Law Art. 21 (security logs, 6 months) and PIPL Art. 56
#: (records of personal-information processing, 3 years). Config may only lengthen them;
#: the database triggers enforce the same floors (see the core migration).
AUDIT_RETENTION_FLOOR_DAYS = 180
ACCESS_RETENTION_FLOOR_DAYS = 1095

_SECRET_KEYS = ("password", "token", "secret", "id_number", "phone")


def _clean(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    """Drop anything that looks like a secret or a full identifier: logs must never become
    the place a leak happens (security.md R20)."""
    out: dict[str, Any] = {}
    for key, value in (detail or {}).items():
        if any(word in key.lower() for word in _SECRET_KEYS):
            continue
        if isinstance(value, str):
            value = value.replace("\r", "\\r").replace("\n", "\\n")[:500]
        out[key] = value
    return out


def log_audit(
    session: Session,
    action: str,
    *,
    actor: Any = None,
    outcome: str = "ok",
    target_type: str = "",
    target_id: Any = "",
    detail: Mapping[str, Any] | None = None,
    facts: Mapping[str, str] | None = None,
    on_behalf_of_id: int | None = None,
) -> AuditEntry:
    facts = facts or {}
    entry = AuditEntry(
        action=action,
        outcome=outcome,
        actor_id=getattr(actor, "id", None),
        actor_name=(getattr(actor, "username", "") or "")[:64],
        on_behalf_of_id=on_behalf_of_id
        if on_behalf_of_id is not None
        else facts.get("on_behalf_of_id"),  # type: ignore[arg-type]
        target_type=target_type,
        target_id=str(target_id)[:64],
        detail=_clean(detail),
        ip=str(facts.get("ip", ""))[:45],
        user_agent=str(facts.get("user_agent", ""))[:200],
        request_id=str(facts.get("request_id", ""))[:64],
    )
    session.add(entry)
    return entry


def log_access(
    session: Session,
    *,
    actor: Any,
    person_id: int,
    fields: Iterable[str],
    purpose: str,
    via: str = "core",
    facts: Mapping[str, Any] | None = None,
    masked: bool = False,
) -> AccessEntry:
    """Record that ``actor`` read ``fields`` of person ``person_id`` for ``purpose``
    (``masked``: the values were shown masked)."""
    purpose = (purpose or "").strip()
    if not purpose:
        raise ValueError("a purpose is required to read sensitive fields")
    facts = facts or {}
    entry = AccessEntry(
        actor_id=getattr(actor, "id", None),
        actor_name=(getattr(actor, "username", "") or "")[:64],
        on_behalf_of_id=facts.get("on_behalf_of_id"),
        subject_person_id=person_id,
        fields=sorted(set(fields)),
        via=via,
        purpose=purpose[:500],
        request_id=str(facts.get("request_id", ""))[:64],
    )
    session.add(entry)
    return entry


def access_log_for(person_id: int) -> Select:
    """The query behind "who accessed my data": newest first."""
    return (
        select(AccessEntry)
        .where(AccessEntry.subject_person_id == person_id)
        .order_by(AccessEntry.at.desc(), AccessEntry.id.desc())
    )


def search_audit(
    *,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    outcome: str | None = None,
) -> Select:
    query = select(AuditEntry)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if actor:
        query = query.where(AuditEntry.actor_name == actor)
    if outcome:
        query = query.where(AuditEntry.outcome == outcome)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    return query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def search_access(
    *,
    person_id: int | None = None,
    actor: str | None = None,
    via: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select:
    query = select(AccessEntry)
    if person_id is not None:
        query = query.where(AccessEntry.subject_person_id == person_id)
    if actor:
        query = query.where(AccessEntry.actor_name == actor)
    if via:
        query = query.where(AccessEntry.via == via)
    if since:
        query = query.where(AccessEntry.at >= since)
    if until:
        query = query.where(AccessEntry.at < until)
    return query.order_by(AccessEntry.at.desc(), AccessEntry.id.desc())


def purge_expired(
    session: Session, *, audit_days: int, access_days: int, now: datetime | None = None
) -> tuple[int, int]:
    """Delete entries older than the retention periods (never shorter than the floors)."""
    now = now or utcnow()
    audit_days = max(audit_days, AUDIT_RETENTION_FLOOR_DAYS)
    access_days = max(access_days, ACCESS_RETENTION_FLOOR_DAYS)
    a = session.execute(delete(AuditEntry).where(AuditEntry.at < now - timedelta(days=audit_days)))
    b = session.execute(
        delete(AccessEntry).where(AccessEntry.at < now - timedelta(days=access_days))
    )
    return a.rowcount or 0, b.rowcount or 0
