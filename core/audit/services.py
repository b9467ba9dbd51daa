"""Writing and reading the audit and access logs.

Plain functions over a session. Writers take the request facts (ip, user agent, request
id) as a mapping so the CLI, workers and views use the same calls; ``request_facts()`` in
``core.audit.web`` builds it inside a request.

The access log is one row per identical display and day (:func:`log_access`): entries are
queued on the session and upserted in one statement when it commits, or on their own when
it ends without a commit (the listeners at the bottom of the access-log section).

A *masked* display that this process has already written today (same key) is not written
again: its count is added in memory (:class:`_HeldCounts`, one per engine) and written,
as the same upsert, at most :data:`HELD_COUNT_SECONDS` later by a timer, before any read
of the access log in this process, when the engine is disposed and at exit. So the first
display of a day is in the log before the answer, always; a repeat of it only adds to
its count and last time, which may reach the database a moment later. A reveal (full
values) is always written before the answer.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import json
import logging
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, event, func, insert, select
from sqlalchemy.orm import Session

from core.audit.models import AccessEntry, AuditEntry
from core.db import local_today, utcnow

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
    row["key"] = access_key(row, local_today(at))
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


#: The longest a repeated masked display's count waits in memory before it is written.
HELD_COUNT_SECONDS = 2.0
#: Keys of today's masked rows a process remembers as written (least recent dropped: a
#: dropped key only means its next repeat is written at once again).
_KNOWN_KEYS = 20_000
#: Rows written by the committing transaction, remembered as written once it commits.
_WRITTEN = "shequ.access_written"
#: Held counts a session wrote so it could read the log: handed back if it does not commit.
_BORROWED = "shequ.access_borrowed"


class _HeldCounts:
    """One engine's held counts: the masked rows this process has written (their keys),
    and the repeats of them not written yet, merged per key (see the module docstring).
    Thread-safe; a forked child starts with nothing held (its parent writes its own)."""

    def __init__(self, engine: Any) -> None:
        self._engine = weakref.ref(engine)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self.known: OrderedDict[str, None] = OrderedDict()
        self.held: dict[str, dict[str, Any]] = {}
        self._timer: threading.Timer | None = None
        self._failures = 0

    def _forked(self) -> None:
        if self._pid != os.getpid():
            self._pid, self.held, self._timer = os.getpid(), {}, None

    def hold(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Keep the repeats of known masked rows; return the rows to write now."""
        write: list[dict[str, Any]] = []
        with self._lock:
            self._forked()
            for row in rows:
                if not row["masked"] or row["key"] not in self.known:
                    write.append(row)
                    continue
                self.known.move_to_end(row["key"])
                _merge(self.held, row)
            if self.held and self._timer is None:
                self._timer = threading.Timer(HELD_COUNT_SECONDS, self.flush)
                self._timer.daemon = True
                self._timer.start()
        return write

    def remember(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self.known[key] = None
                self.known.move_to_end(key)
            while len(self.known) > _KNOWN_KEYS:
                self.known.popitem(last=False)

    def take(self) -> list[dict[str, Any]]:
        with self._lock:
            self._forked()
            rows, self.held = list(self.held.values()), {}
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return rows

    def give_back(self, rows: list[dict[str, Any]]) -> None:
        """Counts that were not written after all (their transaction ended without a
        commit): held again, and the timer set."""
        with self._lock:
            self._forked()
            for row in rows:
                _merge(self.held, row)
            if self.held and self._timer is None:
                self._timer = threading.Timer(HELD_COUNT_SECONDS, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Write every held count now, in a transaction of its own (the timer, the
        engine's disposal, exit). A failure keeps them held for three more tries."""
        rows = self.take()
        engine = self._engine()
        if not rows or engine is None:
            return
        try:
            with engine.begin() as conn:
                _upsert(conn, rows)
            self._failures = 0
        except Exception:
            self._failures += 1
            if self._failures <= 3:
                _log.warning("could not write %d held access-log counts; trying again",
                             len(rows), exc_info=True)
                self.give_back(rows)
            else:  # never loop forever on a database that is gone; say so loudly
                _log.exception("dropped %d held access-log counts", len(rows))
                self._failures = 0


def _merge(held: dict[str, dict[str, Any]], row: Mapping[str, Any]) -> None:
    same = held.get(row["key"])
    if same is None:
        held[row["key"]] = dict(row)
    else:
        same["count"] += row["count"]
        same["last_at"] = max(same["last_at"], row["last_at"])


_HELD: weakref.WeakKeyDictionary[Any, _HeldCounts] = weakref.WeakKeyDictionary()
_HELD_LOCK = threading.Lock()


def _engine_of(bind: Any) -> Any:
    return getattr(bind, "engine", bind)


def _held_for(bind: Any) -> _HeldCounts:
    engine = _engine_of(bind)
    held = _HELD.get(engine)
    if held is None:
        with _HELD_LOCK:
            held = _HELD.get(engine)
            if held is None:
                held = _HELD[engine] = _HeldCounts(engine)
                event.listen(engine, "engine_disposed", lambda _engine: held.flush())
    return held


def flush_held_counts() -> None:
    """Write every engine's held counts now (at exit; callers that must see exact counts
    in another process at once)."""
    for held in list(_HELD.values()):
        held.flush()


atexit.register(flush_held_counts)


def _split(session: Session, pending: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The queued rows to write now; repeats of rows already written are held."""
    try:
        bind = session.get_bind()
    except Exception:  # an unbound session: write everything, as before
        return list(pending.values())
    return _held_for(bind).hold(list(pending.values()))


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
        rows = _split(session, pending)
        if rows:
            _upsert(session, rows)
            session.info.setdefault(_WRITTEN, []).extend(r["key"] for r in rows if r["masked"])


@event.listens_for(Session, "after_commit")
def _remember_written(session: Session) -> None:
    written = session.info.pop(_WRITTEN, None)
    session.info.pop(_BORROWED, None)  # committed with this transaction
    if written:
        with contextlib.suppress(Exception):  # an unbound session holds nothing
            _held_for(session.get_bind()).remember(written)


@event.listens_for(Session, "after_transaction_end")
def _write_left_over(session: Session, transaction: Any) -> None:
    """A session that ends (rollback, close) with entries still queued writes them in a
    transaction of their own: what was shown stays shown, whatever else the view did.
    Held counts it borrowed to read the log and did not commit are held again."""
    if transaction.parent is not None:
        return
    session.info.pop(_WRITTEN, None)  # not committed: not known to be written
    borrowed = session.info.pop(_BORROWED, None)
    if borrowed:
        _held_for(session.get_bind()).give_back(borrowed)
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    try:
        rows = _split(session, pending)
        if not rows:
            return
        with session.get_bind().begin() as conn:
            _upsert(conn, rows)
        masked = [r["key"] for r in rows if r["masked"]]
        if masked:
            _held_for(session.get_bind()).remember(masked)
    except Exception:  # never turn a finished request into an error; say so loudly
        _log.exception("could not write %d access-log entries", len(pending))


def _reads_access_log(statement: Any) -> bool:
    """Whether a SELECT reads ``audit_access`` directly (how every reader of the log
    reads it). Cached per statement object: the hot paths reuse theirs."""
    try:
        return _reads_access_log_cached(statement)
    except TypeError:  # an unhashable statement
        return _froms_access_log(statement)


@functools.lru_cache(maxsize=256)
def _reads_access_log_cached(statement: Any) -> bool:
    return _froms_access_log(statement)


def _froms_access_log(statement: Any) -> bool:
    froms = getattr(statement, "get_final_froms", None)
    return froms is not None and any(f is AccessEntry.__table__ for f in froms())


@event.listens_for(Session, "do_orm_execute")
def _held_before_reading(state: Any) -> None:
    """Before this process reads the access log, the counts it holds are written in the
    reading transaction (and held again if that one does not commit): a page or test in
    this process never sees a count it has already added in memory missing.

    Runs before every ORM statement, so the cheap questions come first: is anything held
    for this engine at all (mostly not), and does an ORM select name the entry's mapper.
    Only a Core select of the table is analysed (``get_final_froms`` compiles it, which
    cost a quarter of a resident's home page when it ran for every statement)."""
    if not _HELD or not state.is_select:
        return
    session = state.session
    try:
        held = _HELD.get(_engine_of(session.get_bind()))
    except Exception:
        return
    if held is None or not held.held:
        return
    if not _names_access_log(state):
        return
    rows = held.take()
    if rows:
        _upsert(session.connection(), rows)
        session.info.setdefault(_BORROWED, []).extend(rows)


#: Statements already asked about (the hot paths build theirs once at import): asking
#: ``all_mappers`` again cost 8 % of an API read while counts were held.
_NAMES_SEEN: dict[Any, bool] = {}
_NAMES_SEEN_SIZE = 512


def _names_access_log(state: Any) -> bool:
    statement = state.statement
    try:
        seen = _NAMES_SEEN.get(statement)
    except TypeError:  # an unhashable statement: ask every time
        return _names_access_log_now(state)
    if seen is None:
        seen = _names_access_log_now(state)
        if len(_NAMES_SEEN) >= _NAMES_SEEN_SIZE:
            _NAMES_SEEN.clear()  # statements built per call: start again, stay bounded
        _NAMES_SEEN[statement] = seen
    return seen


def _names_access_log_now(state: Any) -> bool:
    mappers = state.all_mappers
    if mappers:
        return any(m.class_ is AccessEntry for m in mappers) or _reads_access_log(
            state.statement)
    return _reads_access_log(state.statement)


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
