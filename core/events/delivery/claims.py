"""Claiming rows safely on each database, and what a failed attempt costs.

PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` and array parameters; SQLite takes the
write lock first (``BEGIN IMMEDIATE``). Those dialect differences live here, with the
retry policy (back-off with jitter, the error kept on the row), so the fan-out and the
delivery read as the same steps on both.
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import BigInteger, Select, any_, bindparam, insert, text
from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY
from sqlalchemy.orm import Session

from core.db import Database, UTCDateTime
from core.events.models import Delivery

#: Deliveries claimed (and locked) per transaction when ``events.claim_chunk`` is not set.
#: Each chunk ends in one commit, i.e. one durable disk flush, so a small chunk caps the
#: delivery rate (10 gave a few hundred per second on PostgreSQL). A large one holds its
#: row locks (on SQLite: the database's write lock) while all its handlers run, and is what
#: a crashed process delivers again; see docs/events.md.
CLAIM_CHUNK = 100


#: ``last_error`` keeps the exception type and message, cut to this many characters.
ERROR_MAX_CHARS = 2000


#: Each back-off delay is stretched by up to this fraction, so deliveries that failed
#: together (a database blip) do not all retry in the same instant.
JITTER = 0.1


def claim_chunk(settings: dict[str, Any]) -> int:
    """``events.claim_chunk``: deliveries per claiming transaction (one commit each)."""
    return max(1, int(settings.get("claim_chunk", CLAIM_CHUNK)))


def backoff_seconds(attempts: int, settings: dict[str, Any]) -> float:
    """Delay before attempt ``attempts + 1``: ``base * 2**(attempts-1)`` stretched by up to
    10 % jitter, never more than ``backoff_max_seconds``."""
    base = float(settings["backoff_base_seconds"])
    cap = float(settings["backoff_max_seconds"])
    raw = base * 2.0 ** min(max(attempts - 1, 0), 60)
    return min(cap, raw * random.uniform(1.0, 1.0 + JITTER))  # noqa: S311 - not crypto


def describe_error(exc: BaseException) -> str:
    """``Type: message``, truncated: enough for an admin to recognise the failure; the full
    traceback goes to the log."""
    message = str(exc).strip()
    text_ = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    if len(text_) > ERROR_MAX_CHARS:
        text_ = text_[: ERROR_MAX_CHARS - 1] + "…"
    return text_


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _begin_claim(session: Session) -> None:
    """Start a claiming transaction. On SQLite, take the write lock before reading, so a
    concurrent claimer waits (``busy_timeout``) rather than reading the same rows; this also
    makes the SAVEPOINTs around handlers nest in a real transaction, which pysqlite's
    implicit transactions would not guarantee."""
    if _dialect(session) == "sqlite":
        session.execute(text("BEGIN IMMEDIATE"))


def _locked(stmt: Select, session: Session, *, of: Any) -> Select:
    """``FOR UPDATE SKIP LOCKED`` where the database has it; SQLite is serialised by
    :func:`_begin_claim` instead."""
    if _dialect(session) == "sqlite":
        return stmt
    return stmt.with_for_update(skip_locked=True, of=of)


_PG_FAN_OUT = text(
    "INSERT INTO events_delivery (event_id, subscriber, status, attempts, next_attempt_at) "
    "SELECT e, s, 'pending', 0, :now "
    "FROM unnest(CAST(:eids AS BIGINT[]), CAST(:subs AS VARCHAR[])) AS t (e, s) "
    "ON CONFLICT (event_id, subscriber) DO NOTHING RETURNING id"
).bindparams(bindparam("now", type_=UTCDateTime()))


def _id_in(session: Session, column: Any, ids: list[int]) -> Any:
    """``column IN (ids)``; on PostgreSQL ``column = ANY(:ids)``, one array parameter, so
    the SQL text is the same for any number of ids (parsed and planned once)."""
    if _dialect(session) == "postgresql":
        return column == any_(bindparam(None, ids, type_=PG_ARRAY(BigInteger)))
    return column.in_(ids)


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert delivery rows, skipping pairs that exist already (the unique constraint is the
    last line of defence if two fan-outs ever overlap). Returns how many were inserted."""
    table = Delivery.__table__
    dialect = _dialect(session)
    if dialect == "postgresql":
        # One short statement with two array parameters, whatever the number of rows: a
        # multi-row VALUES list is a new, long SQL text per row count, which the driver
        # re-parses and the server re-plans every time.
        now = rows[0]["next_attempt_at"]
        result = session.execute(
            _PG_FAN_OUT,
            {"eids": [r["event_id"] for r in rows], "subs": [r["subscriber"] for r in rows],
             "now": now},
        )
        return len(result.all())
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - other databases are not supported deployments
        session.execute(insert(table), rows)
        return len(rows)
    stmt = (
        dialect_insert(table)
        .on_conflict_do_nothing(index_elements=["event_id", "subscriber"])
        .returning(table.c.id)
    )
    # RETURNING counts exactly what was inserted (rowcount is unreliable with ON CONFLICT
    # across drivers); SQLAlchemy batches the rows into few statements ("insertmanyvalues").
    return len(session.execute(stmt, rows).all())


def _peek(db: Database, stmt: Select) -> bool:
    """A cheap, lock-free "is there anything to do?" so idle polls never take locks."""
    with db.engine.connect() as conn:
        return conn.execute(stmt.limit(1)).first() is not None
