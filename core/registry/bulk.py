"""The bulk path: many rows into the registry inside the caller's transaction, fast.

Used by the importer and the demo generator (1,000,000 persons for benchmarks). What makes
it fast (research/performance-floors.md: SQLAlchemy Core executemany runs at 0.39x raw
sqlite3, the ORM at 0.04–0.20x; two secondary indexes cut raw inserts to 0.19x):

* rows are validated in Python first and inserted with **Core executemany** in chunks
  (``session.execute(insert(table), [dict, ...])``), never through ORM objects;
* **ids are allocated up front** (``max(id)`` under the write lock on SQLite, a batch of
  ``nextval`` on PostgreSQL), so related rows (residences, search keys, households) are
  built without ``RETURNING`` round trips (which run at 0.02x on PostgreSQL);
* for a **large load** (at least :data:`REBUILD_THRESHOLD` rows and more rows than the
  table has), the non-unique indexes are dropped in the same transaction and rebuilt at
  the end — one sort per index instead of a million random inserts. DDL is transactional
  on both databases, so a failed load leaves the indexes as they were. Unique constraints
  stay: they are what makes the load correct.

All of it runs in the caller's transaction: all or nothing.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Index, Table, func, select, text
from sqlalchemy.orm import Session

from core.registry.models import Dwelling, Household, Person, PersonKey, Residence

CHUNK = 5000
#: Below this many rows a COPY is not worth its set-up on PostgreSQL.
COPY_MIN_ROWS = 500
REBUILD_THRESHOLD = 20_000
#: Tables whose non-unique indexes a large load drops and rebuilds.
REBUILT_TABLES: tuple[Table, ...] = (
    Person.__table__,  # type: ignore[assignment]
    PersonKey.__table__,  # type: ignore[assignment]
    Residence.__table__,  # type: ignore[assignment]
    Dwelling.__table__,  # type: ignore[assignment]
    Household.__table__,  # type: ignore[assignment]
)


def _is_datetime(column: Any) -> bool:
    from sqlalchemy import DateTime

    impl = getattr(column.type, "impl", column.type)
    return isinstance(impl, DateTime)


def _memo(proc: Any) -> Any:
    """Timestamps of one load are mostly one value: convert each distinct one once."""
    cache: dict[Any, Any] = {}

    def run(value: Any) -> Any:
        try:
            return cache[value]
        except KeyError:
            out = cache[value] = proc(value)
            return out

    return run


class BulkWriter:
    """Id allocation, chunked executemany and index rebuilds for one load, in the
    session's transaction."""

    def __init__(self, session: Session, *, chunk: int = CHUNK) -> None:
        self.session = session
        self.chunk = chunk
        self.dialect = session.get_bind().dialect.name
        self._next: dict[str, int] = {}
        self._dropped: list[Index] = []
        self._locked = False

    # ------------------------------------------------------------------ ids

    def lock(self) -> None:
        """Take the write lock now (SQLite: a no-op UPDATE opens the write transaction),
        so ``max(id)`` cannot change under us; PostgreSQL needs no lock (sequences)."""
        if not self._locked and self.dialect == "sqlite":
            self.session.execute(text("UPDATE registry_person SET id = id WHERE 1 = 0"))
        self._locked = True

    def ids(self, table: Table, n: int) -> list[int]:
        """``n`` fresh primary keys for ``table``."""
        if n <= 0:
            return []
        if self.dialect == "postgresql":
            seq = self.session.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"),
                                      {"t": table.name})
            rows = self.session.execute(
                text("SELECT nextval(:s) FROM generate_series(1, :n)"), {"s": seq, "n": n})
            return [r[0] for r in rows]
        self.lock()
        # max(id) on a rowid table is one index probe; re-reading it each time also
        # covers rows the ORM inserted in between.
        start = max(self._next.get(table.name, 1),
                    (self.session.scalar(select(func.max(table.c.id))) or 0) + 1)
        self._next[table.name] = start + n
        return list(range(start, start + n))

    # ------------------------------------------------------------------ rows

    def insert(self, table: Table, rows: Sequence[dict[str, Any]]) -> int:
        """Insert ``rows`` (dicts with the same keys) by executemany, in chunks. The rows
        are consumed: their values are converted in place.

        The statement is compiled once and each row goes to the driver as a tuple, with
        the columns' bind processors (dates, UTC datetimes, booleans) applied in Python:
        SQLAlchemy's per-row parameter processing would otherwise cost more than the
        insert itself (``exec_driver_sql`` is still Core, on the session's connection)."""
        if not rows:
            return 0
        conn = self.session.connection()
        dialect = conn.dialect
        keys = list(rows[0])
        cols = [table.c[k] for k in keys]
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        # Identifiers are the table's own columns (``table.c[k]`` above), quoted by the
        # dialect; values travel as parameters.
        sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(k) for k in keys)}) "  # noqa: S608
               f"VALUES ({', '.join([mark] * len(keys))})")
        procs = []
        for key, col in zip(keys, cols, strict=True):
            proc = col.type._cached_bind_processor(dialect)
            if proc is not None:
                procs.append((key, _memo(proc) if _is_datetime(col) else proc))
        row_tuple = operator.itemgetter(*keys)
        copy = self._copier(conn, table, keys) if dialect.name == "postgresql" else None
        for start in range(0, len(rows), self.chunk):
            chunk = rows[start:start + self.chunk]
            for key, proc in procs:  # in place, column by column: the rows are ours
                for r in chunk:
                    v = r[key]
                    if v is not None:
                        r[key] = proc(v)
            params = list(map(row_tuple, chunk)) if len(keys) > 1 else [
                (r[keys[0]],) for r in chunk]
            if copy is not None and len(params) >= COPY_MIN_ROWS:
                copy(params)
            else:
                conn.exec_driver_sql(sql, params)
        return len(rows)

    @staticmethod
    def _copier(conn: Any, table: Table, keys: list[str]) -> Any:
        """PostgreSQL: ``COPY ... FROM STDIN`` on the session's own DBAPI connection (same
        transaction) — several times faster than executemany (performance-floors.md)."""
        raw = conn.connection.dbapi_connection
        if not hasattr(raw, "cursor") or not hasattr(raw.cursor(), "copy"):
            return None
        quote = conn.dialect.identifier_preparer.quote
        statement = (f"COPY {quote(table.name)} ({', '.join(quote(k) for k in keys)}) "
                     "FROM STDIN")

        def copy(params: list[tuple[Any, ...]]) -> None:
            with raw.cursor() as cur, cur.copy(statement) as cp:
                for row in params:
                    cp.write_row(row)

        return copy

    def update(self, table: Table, rows: Sequence[dict[str, Any]], key: str = "id") -> int:
        """``UPDATE table SET <other keys> WHERE id = :b_id`` for each row (executemany)."""
        if not rows:
            return 0
        from sqlalchemy import bindparam, update

        cols = [k for k in rows[0] if k != key]
        stmt = update(table).where(table.c[key] == bindparam("b_" + key)).values(
            {c: bindparam("b_" + c) for c in cols})
        params = [{"b_" + k: v for k, v in r.items()} for r in rows]
        for i in range(0, len(params), self.chunk):
            self.session.execute(stmt, params[i:i + self.chunk])
        return len(rows)

    # ------------------------------------------------------------------ indexes

    def maybe_drop_indexes(self, incoming: int, tables: Iterable[Table] = REBUILT_TABLES
                           ) -> bool:
        """Drop the non-unique indexes of ``tables`` when ``incoming`` new persons
        outnumber those there (and are many); :meth:`restore_indexes` rebuilds them."""
        if incoming < REBUILD_THRESHOLD:
            return False
        existing = self.session.scalar(select(func.count()).select_from(Person.__table__)) or 0
        if incoming < existing:
            return False
        self.lock()
        conn = self.session.connection()
        for table in tables:
            for index in sorted(table.indexes, key=lambda ix: ix.name or ""):
                if not index.unique:
                    index.drop(conn)
                    self._dropped.append(index)
        return True

    def restore_indexes(self) -> None:
        conn = self.session.connection()
        while self._dropped:
            self._dropped.pop().create(conn)
        # Fresh statistics, or the planner guesses on a table it thinks is empty (and on
        # SQLite may pick the name index for "张s" where the pinyin index is 50x better).
        for table in REBUILT_TABLES:
            self.session.execute(text(f'ANALYZE "{table.name}"'))
