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
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Index, Table, func, select, text
from sqlalchemy.orm import Session

from core.registry.models import Dwelling, Household, Person, PersonKey, Residence

CHUNK = 5000
#: Below this many rows a COPY is not worth its set-up on PostgreSQL.
COPY_MIN_ROWS = 500
REBUILD_THRESHOLD = 20_000
#: SQLite page cache during a large load (KiB): rows / 8, within these bounds.
CACHE_MIN_KIB = 16 * 1024
CACHE_MAX_KIB = 256 * 1024
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


def _is_date(column: Any) -> bool:
    from sqlalchemy import Date

    impl = getattr(column.type, "impl", column.type)
    return isinstance(impl, Date)


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
        self._cache_size: tuple[Any, int] | None = None  # (DBAPI connection, old size)

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

    def converter(self, table: Table, key: str) -> Callable[[Any], Any] | None:
        """The column's bind processor for this database (dates and datetimes to text on
        SQLite, booleans to integers ...), memoised — a load's dates and timestamps are
        few distinct values — or None when the driver takes the Python value as it is.
        ``None`` values pass through. For callers that build rows for
        :meth:`insert_rows` themselves."""
        col = table.c[key]
        proc = col.type._cached_bind_processor(self.session.get_bind().dialect)
        if proc is None:
            return None
        if not _is_datetime(col) and not _is_date(col):
            return lambda v: None if v is None else proc(v)
        cache: dict[Any, Any] = {None: None}

        def run(value: Any) -> Any:
            try:
                return cache[value]
            except KeyError:
                out = cache[value] = proc(value)
                return out

        return run

    def insert(self, table: Table, rows: Sequence[dict[str, Any]]) -> int:
        """Insert ``rows`` (dicts with the same keys) by executemany, in chunks. The rows
        are consumed: their values are converted in place.

        The statement is compiled once and each row goes to the driver as a tuple, with
        the columns' bind processors (dates, UTC datetimes, booleans) applied in Python:
        SQLAlchemy's per-row parameter processing would otherwise cost more than the
        insert itself (``exec_driver_sql`` is still Core, on the session's connection)."""
        if not rows:
            return 0
        keys = list(rows[0])
        for key in keys:  # in place, column by column: the rows are ours
            conv = self.converter(table, key)
            if conv is not None:
                for r in rows:
                    r[key] = conv(r[key])
        params = list(map(operator.itemgetter(*keys), rows)) if len(keys) > 1 else [
            (r[keys[0]],) for r in rows]
        return self.insert_rows(table, keys, params)

    def insert_rows(self, table: Table, keys: Sequence[str],
                    rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert tuples of ``keys``' values, already in the driver's form (see
        :meth:`converter`), in chunks: executemany on SQLite, ``COPY`` on PostgreSQL."""
        if not rows:
            return 0
        conn = self.session.connection()
        dialect = conn.dialect
        quote = dialect.identifier_preparer.quote
        names = [table.c[k].name for k in keys]  # a KeyError for a column it does not have
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        # Identifiers are the table's own columns, quoted by the dialect; values travel as
        # parameters.
        sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(k) for k in names)}) "  # noqa: S608
               f"VALUES ({', '.join([mark] * len(names))})")
        copy = self._copier(conn, table, names) if dialect.name == "postgresql" else None
        if copy is None and dialect.name == "sqlite":
            # One executemany for the lot: the sqlite3 module steps through the rows in C.
            conn.exec_driver_sql(sql, rows if isinstance(rows, list) else list(rows))
            return len(rows)
        for start in range(0, len(rows), self.chunk):
            chunk = rows[start:start + self.chunk]
            if copy is not None and len(chunk) >= COPY_MIN_ROWS:
                copy(chunk)
            else:
                conn.exec_driver_sql(sql, list(chunk))
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

        def copy(params: Sequence[tuple[Any, ...]]) -> None:
            with raw.cursor() as cur, cur.copy(statement) as cp:
                write = cp.write_row
                for row in params:
                    write(row)

        return copy

    def update(self, table: Table, rows: Sequence[dict[str, Any]], key: str = "id") -> int:
        """``UPDATE table SET <other keys> WHERE id = ?`` for each row (dicts with the same
        keys; driver-level executemany, values through :meth:`converter`)."""
        if not rows:
            return 0
        cols = [k for k in rows[0] if k != key]
        convs = [self.converter(table, k) for k in (*cols, key)]
        conn = self.session.connection()
        dialect = conn.dialect
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        sets = ", ".join(f"{quote(table.c[c].name)} = {mark}" for c in cols)
        where = quote(table.c[key].name)
        sql = f"UPDATE {quote(table.name)} SET {sets} WHERE {where} = {mark}"  # noqa: S608
        params = [tuple(v if c is None else c(v) for c, v in zip(
            convs, (*(r[k] for k in cols), r[key]), strict=True)) for r in rows]
        for i in range(0, len(params), self.chunk):
            conn.exec_driver_sql(sql, params[i:i + self.chunk])
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
        self._grow_cache(incoming)
        return True

    def _grow_cache(self, rows: int) -> None:
        """SQLite: a page cache big enough for the unique indexes that stay (the ID
        number's takes random inserts: with the default 2 MB cache its pages are spilled
        and read back all the time; 1M persons insert ~30 % faster with ~100 MB).
        Put back by :meth:`restore_cache` (before the index rebuild, which is faster with
        the small cache)."""
        if self.dialect != "sqlite" or self._cache_size is not None:
            return
        raw = self.session.connection().connection.dbapi_connection
        if raw is None:
            return
        old = raw.execute("PRAGMA cache_size").fetchone()[0]
        want = min(CACHE_MAX_KIB, max(CACHE_MIN_KIB, rows // 8))
        if (-old if old < 0 else old * 4) < want:  # negative: KiB; positive: pages (~4 KiB)
            raw.execute(f"PRAGMA cache_size = -{int(want)}")
            self._cache_size = (raw, int(old))

    def restore_cache(self) -> None:
        """Undo :meth:`_grow_cache` on the connection it was applied to (also after a
        rollback has returned that connection to the pool)."""
        if self._cache_size is not None:
            raw, old = self._cache_size
            self._cache_size = None
            raw.execute(f"PRAGMA cache_size = {old}")

    def restore_indexes(self) -> None:
        self.restore_cache()
        conn = self.session.connection()
        while self._dropped:
            self._dropped.pop().create(conn)
        # Fresh statistics, or the planner guesses on a table it thinks is empty (and on
        # SQLite may pick the name index for "张s" where the pinyin index is 50x better).
        for table in REBUILT_TABLES:
            self.session.execute(text(f'ANALYZE "{table.name}"'))
