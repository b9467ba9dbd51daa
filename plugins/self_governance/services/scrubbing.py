"""After a sealed box is opened (ballots or rating sheets): clean the database files of
what the open period wrote, once the transaction commits. Shared by :mod:`.ballots` and
:mod:`.evaluation`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from plugins.self_governance.services.common import PLUGIN, log

_SCRUB = "self_governance.scrub"


def _scrub_on_commit(session: Session, tables: tuple[str, ...]) -> None:
    """Ask for :func:`scrub_after_close` once this session's transaction commits (never
    on a rollback: then nothing was opened)."""
    pending = session.info.setdefault(_SCRUB, set())
    pending.update(tables)
    if not session.info.get(_SCRUB + ".listening"):
        session.info[_SCRUB + ".listening"] = True
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", lambda s: s.info.get(_SCRUB, set()).clear())


def _after_commit(session: Session) -> None:
    tables = sorted(session.info.get(_SCRUB) or ())
    if not tables:
        return
    session.info[_SCRUB] = set()
    try:
        scrub_after_close(session.get_bind(), tables)
    except Exception:  # the count is committed; cleaning the files is best effort
        log.exception("could not scrub the database files after opening a ballot box")


def scrub_after_close(engine: Any, tables: Iterable[str]) -> None:
    """Clean the database files of what the open period wrote, outside any transaction.

    SQLite: ``PRAGMA wal_checkpoint(TRUNCATE)`` copies the WAL into the database file and
    truncates it to zero bytes, so the frames that showed each cast (roll row and sealed
    box side by side) are gone from the ``-wal`` file; the boxes' cells were zeroed by
    ``secure_delete`` when they were deleted. PostgreSQL: ``VACUUM`` of the ballot tables
    removes the dead sealed tuples from the heap (it cannot while an older snapshot is
    still open; the next autovacuum does). WAL segments of the open period stay until
    PostgreSQL recycles them — they hold only sealed boxes (docs: the threat model)."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        with engine.connect() as conn:
            # wait a little for readers of older snapshots, not the full busy timeout
            busy = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            conn.exec_driver_sql("PRAGMA busy_timeout = 3000")
            try:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").all()
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(busy or 0)}")
    elif dialect == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                if table.isidentifier() and table.startswith(PLUGIN + "_"):
                    conn.exec_driver_sql(f"VACUUM {table}")
