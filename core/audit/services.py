"""Writing and reading the audit and access logs.

Plain functions over a session. Writers take the request facts (ip, user agent, request
id) as a mapping so the CLI, workers and views use the same calls; ``request_facts()`` in
``core.audit.web`` builds it inside a request.

The access log is one row per identical display and day (:func:`log_access`): entries are
queued on the session and upserted in one statement when it commits, or on their own when
it ends without a commit (the listeners at the bottom of the access-log section).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, event, func, insert, select
from sqlalchemy.orm import Session

from core.audit.models import AccessEntry, AuditEntry
from core.current import current_kernel
from core.db import utcnow

#: Legal floors: Cybersecurity Law Art. 21 (security logs, 6 months) and PIPL Art. 56
#: (records of personal-information processing, 3 years). Config may only lengthen them;
#: the database triggers enforce the same floors (see the core migration).
AUDIT_RETENTION_FLOOR_DAYS = 180
ACCESS_RETENTION_FLOOR_DAYS = 1095

_SECRET_KEYS = ("password", "token", "secret", "id_number", "phone")


def _clean(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    """Drop anything that looks like a secret or a full identifier: logs must never become
    the place a leak happens (docs/requirements.md R20)."""
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
        else facts.get("on_behalf_of_id"),
        target_type=target_type,
        target_id=str(target_id)[:64],
        detail=_clean(detail),
        ip=str(facts.get("ip", ""))[:45],
        user_agent=str(facts.get("user_agent", ""))[:200],
        request_id=str(facts.get("request_id", ""))[:64],
    )
    session.add(entry)
    return entry


#: Where identical displays wait for the session's commit (``Session.info``).
_PENDING = "shequ.access_pending"
#: Rows per upsert statement (a list page is one; a large export a few).
_BATCH = 500
_log = logging.getLogger(__name__)


def _viewer(actor: Any) -> Any:
    """Who really saw it: the agent in the assisted channel (``Principal.agent``)."""
    return getattr(actor, "agent", None) or actor


def _role_of(viewer: Any) -> str:
    """The role to name the viewer by: a staff role before "admin", "resident" last."""
    try:
        roles = [r for r in (getattr(viewer, "role_names", None) or ()) if r]
    except Exception:  # a detached account row: its roles cannot be loaded any more
        return ""
    for preferred in (lambda r: r not in ("admin", "resident"), lambda r: r == "admin"):
        for role in roles:
            if preferred(role):
                return str(role)[:40]
    return str(roles[0])[:40] if roles else ""


def _zone() -> Any:
    """The configured time zone (``[app] timezone``) when an app is active, else UTC:
    the day an entry belongs to, so "one row per day" means the residents' day."""
    from flask import has_app_context

    try:
        kernel = current_kernel() if has_app_context() else None
    except KeyError:  # a bare Flask app, not built by create_app
        kernel = None
    config = getattr(kernel, "config", None)
    name = config.app.get("timezone") if config is not None else None
    return _zone_named(name) if name else UTC


@functools.lru_cache(maxsize=8)
def _zone_named(name: str) -> Any:
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name)
    except Exception:  # pragma: no cover - config validation names a real zone
        return UTC


def access_key(row: Mapping[str, Any], day: date) -> str:
    """The digest identical displays of one day share (the unique ``key`` column)."""
    facts = [row["actor_id"], row["actor_name"], row["actor_role"], row["on_behalf_of_id"],
             row["subject_person_id"], row["via"], row["purpose"], list(row["fields"]),
             bool(row["masked"]), day.isoformat()]
    text = json.dumps(facts, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def access_row(
    *,
    actor: Any,
    person_id: int,
    fields: Iterable[str],
    purpose: str,
    via: str = "core",
    facts: Mapping[str, Any] | None = None,
    masked: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One entry as a row of ``audit_access`` (with its ``key``), not yet written.

    ``actor=None`` is a system job: it is named "system". In the assisted channel the
    agent is the viewer and the resident's account goes to ``on_behalf_of_id``."""
    purpose = (purpose or "").strip()
    if not purpose and not masked:
        raise ValueError("a purpose is required to read sensitive fields")
    facts = facts or {}
    viewer = _viewer(actor)
    behalf = facts.get("on_behalf_of_id")
    if behalf is None and getattr(actor, "agent", None) is not None:
        behalf = getattr(getattr(actor, "account", None), "id", None)
    at = now or utcnow()
    row = {
        "at": at,
        "last_at": at,
        "actor_id": getattr(viewer, "id", None),
        "actor_name": ((getattr(viewer, "username", "") or "") if viewer is not None
                       else "system")[:64],
        "actor_role": _role_of(viewer),
        "on_behalf_of_id": behalf,
        "subject_person_id": int(person_id),
        "fields": sorted(set(fields)),
        "via": via[:40],
        "purpose": purpose[:500],
        "masked": bool(masked),
        "request_id": str(facts.get("request_id", ""))[:64],
        "count": 1,
    }
    row["key"] = access_key(row, at.astimezone(_zone()).date())
    return row


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
    now: datetime | None = None,
) -> None:
    """Record that ``actor`` was shown ``fields`` of person ``person_id`` for ``purpose``
    (``masked``: the sensitive values were shown masked; a masked display may have no
    purpose, a full one must).

    Identical displays on one day (viewer, person, ``via``, purpose, fields, masked) are
    one row with a count. The entry is written with the session's next commit — one
    upsert statement for everything logged since — or, if the session ends without one,
    on its own straight after: a page that shows a person and commits nothing is still
    in the person's log."""
    log_accesses(session, [access_row(actor=actor, person_id=person_id, fields=fields,
                                      purpose=purpose, via=via, facts=facts, masked=masked,
                                      now=now)])


def log_accesses(session: Session, rows: Iterable[Mapping[str, Any]]) -> int:
    """Queue several entries made by :func:`access_row` (a list page: one per person
    shown); like :func:`log_access`, they go out in one statement. Returns how many.

    A person shown twice by one request (a record page and its household list) counts
    once: queued rows with the same key and request id merge without adding."""
    pending: dict[str, dict[str, Any]] = session.info.setdefault(_PENDING, {})
    n = 0
    for row in rows:
        n += 1
        same = pending.get(row["key"])
        if same is None:
            pending[row["key"]] = dict(row)
            continue
        if not (row["request_id"] and row["request_id"] == same["request_id"]):
            same["count"] += row["count"]
        same["last_at"] = max(same["last_at"], row["last_at"])
    from core.metrics import access_logged  # shequ_access_log_entries_total (/metrics)

    access_logged(n)
    return n


def write_access_log(session: Session) -> int:
    """Write the queued entries now, in the session's transaction (tests, and callers
    that want them visible before their commit). Returns how many rows were upserted."""
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return 0
    return _upsert(session, list(pending.values()))


def _upsert(executor: Any, rows: list[dict[str, Any]]) -> int:
    """``INSERT ... ON CONFLICT (key) DO UPDATE SET count = count + n, last_at = latest``
    in batches of :data:`_BATCH` (one statement — one ``executemany`` — for a page)."""
    dialect = executor.get_bind().dialect.name if isinstance(executor, Session) \
        else executor.dialect.name
    stmt = _upsert_statement(dialect)
    for start in range(0, len(rows), _BATCH):
        executor.execute(stmt, rows[start:start + _BATCH])
    return len(rows)


@functools.lru_cache(maxsize=4)
def _upsert_statement(dialect: str) -> Any:
    """Built once per dialect, so SQLAlchemy compiles it once (a statement built per
    call cost a millisecond a read, most of it compiling)."""
    table = AccessEntry.__table__
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert

        latest = func.greatest
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert

        latest = func.max  # two arguments: SQLite's scalar max()
    else:  # pragma: no cover - the two supported databases
        return insert(table)
    stmt = dialect_insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c["key"]],
        set_={"count": table.c["count"] + stmt.excluded["count"],
              "last_at": latest(table.c["last_at"], stmt.excluded["last_at"])},
    )


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    """Queued entries go out in the transaction being committed. SQLAlchemy fires this
    for a savepoint's commit too (an event handler's ``begin_nested()``): those leave the
    queue alone, so the outer commit writes everything once — popping the queue in
    ``after_commit`` would drop what a handler logged inside its savepoint."""
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_PENDING, None)
    if pending:
        _upsert(session, list(pending.values()))


@event.listens_for(Session, "after_transaction_end")
def _write_left_over(session: Session, transaction: Any) -> None:
    """A session that ends (rollback, close) with entries still queued writes them in a
    transaction of their own: what was shown stays shown, whatever else the view did."""
    if transaction.parent is not None:
        return
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    try:
        with session.get_bind().begin() as conn:
            _upsert(conn, list(pending.values()))
    except Exception:  # never turn a finished request into an error; say so loudly
        _log.exception("could not write %d access-log entries", len(pending))


def access_log_for(person_id: int) -> Select:
    """The query behind "who accessed my data": the latest display first."""
    return (
        select(AccessEntry)
        .where(AccessEntry.subject_person_id == person_id)
        .order_by(AccessEntry.last_at.desc(), AccessEntry.id.desc())
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
