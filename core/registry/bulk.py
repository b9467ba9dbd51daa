"""The bulk path: many rows into the registry inside the caller's transaction, fast.

Used by the importer and the demo generator (1,000,000 persons for benchmarks). What makes
it fast (docs/requirements.md, "floors: bulk load": SQLAlchemy Core executemany runs at
0.39x raw sqlite3, the ORM at 0.04–0.20x; two secondary indexes cut raw inserts to 0.19x):

* rows are validated in Python first and inserted with **Core executemany** in chunks
  (``session.execute(insert(table), [dict, ...])``), never through ORM objects;
* **ids are allocated up front** (``max(id)`` under the write lock on SQLite, a batch of
  ``nextval`` on PostgreSQL), so related rows (residences, search keys, households) are
  built without ``RETURNING`` round trips (which run at 0.02x on PostgreSQL);
* for a **large load** (at least :data:`REBUILD_THRESHOLD` rows and more rows than the
  table has), the non-unique indexes are dropped in the same transaction and rebuilt at
  the end — one sort per index instead of a million random inserts. DDL is transactional
  on both databases, so a failed load leaves the indexes as they were. Unique constraints
  stay: they are what makes the load correct. Indexes on a foreign key to a table the
  load fills stay too (they grow at their end: the load's new ids increase);
* on PostgreSQL the foreign keys of those tables are dropped too and added back at the
  end (each is a trigger per row; adding it back checks all rows in one join);
* on SQLite the page cache is enlarged for the load (the ID number's unique index takes
  random inserts) and put back before the rebuild.

All of it runs in the caller's transaction: all or nothing.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Index, Table, func, select, text
from sqlalchemy.orm import Session

from core.registry.models import Dwelling, Household, Person, PersonKey, Residence

#: The advisory-lock key that serialises imports on PostgreSQL ("SHQI" in ASCII).
IMPORT_LOCK = 0x53485149
CHUNK = 5000
#: Below this many rows a COPY is not worth its set-up on PostgreSQL.
COPY_MIN_ROWS = 500
REBUILD_THRESHOLD = 20_000
#: SQLite page cache during a large load (KiB): rows / 8, within these bounds.
CACHE_MIN_KIB = 16 * 1024
CACHE_MAX_KIB = 256 * 1024
#: Tables whose non-unique indexes a large load drops and rebuilds.
REBUILT_TABLES: tuple[Table, ...] = (
    # declarative types __table__ as FromClause; each is a Table (one error, this line)
    Person.__table__,  # type: ignore[assignment]
    PersonKey.__table__,
    Residence.__table__,
    Dwelling.__table__,
    Household.__table__,
)


def _is_datetime(column: Any) -> bool:
    from sqlalchemy import DateTime

    impl = getattr(column.type, "impl", column.type)
    return isinstance(impl, DateTime)


def _is_date(column: Any) -> bool:
    from sqlalchemy import Date

    impl = getattr(column.type, "impl", column.type)
    return isinstance(impl, Date)


def converter(dialect: Any, table: Table, key: str) -> Callable[[Any], Any] | None:
    """The column's bind processor for ``dialect`` (dates and datetimes to text on SQLite,
    booleans to integers ...), memoised for dates and datetimes — a load's dates and
    timestamps are few distinct values — or None when the driver takes the Python value
    as it is. ``None`` values pass through. For callers that build rows for
    :meth:`BulkWriter.insert_rows` themselves (a dialect object needs no connection:
    ``sqlalchemy.engine.URL.create("sqlite").get_dialect()()``)."""
    col = table.c[key]
    proc = col.type._cached_bind_processor(dialect)
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


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _follows_new_ids(index: Index, filled: set[str]) -> bool:
    """An index on one foreign key to a table the load fills (``person_id``,
    ``dwelling_id`` …): the load references the rows it creates, whose ids increase, so
    the index only grows at its end — cheap while loading (when the writer waits for the
    validator anyway), while rebuilding it is serial time at the end of the load."""
    cols = list(index.columns)
    return len(cols) == 1 and any(fk.column.table.name in filled for fk in cols[0].foreign_keys)


class BulkWriter:
    """Id allocation, chunked executemany and index rebuilds for one load, in the
    session's transaction."""

    def __init__(self, session: Session, *, chunk: int = CHUNK) -> None:
        self.session = session
        self.chunk = chunk
        self.dialect = session.get_bind().dialect.name
        self._next: dict[str, int] = {}
        self._dropped: list[Index] = []
        self._dropped_fks: list[Any] = []
        self._locked = False
        self._cache_size: tuple[Any, int] | None = None  # (DBAPI connection, old size)
        self._sequences: dict[str, str] = {}

    # ------------------------------------------------------------------ ids

    def lock(self) -> None:
        """Take the write lock now (SQLite: a no-op UPDATE opens the write transaction),
        so ``max(id)`` cannot change under us; PostgreSQL needs no lock (sequences)."""
        if not self._locked and self.dialect == "sqlite":
            self.session.execute(text("UPDATE registry_person SET id = id WHERE 1 = 0"))
        self._locked = True

    def serialise_imports(self) -> None:
        """One import at a time (PostgreSQL: a transaction-level advisory lock, released at
        commit or rollback). Two imports of the same file at once would both see a person
        as new and one would fail on the unique ID number; serialised, the second one
        finds the first one's rows and updates or leaves them (re-import is idempotent).
        SQLite serialises writers by itself."""
        if self.dialect == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": IMPORT_LOCK})

    def ids(self, table: Table, n: int) -> list[int]:
        """``n`` fresh primary keys for ``table``."""
        if n <= 0:
            return []
        if self.dialect == "postgresql":
            seq = self._sequences.get(table.name)
            if seq is None:
                seq = self._sequences[table.name] = self.session.scalar(
                    text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name})
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

    def next_id(self, table: Table | str) -> int:
        """SQLite: the next free id of ``table`` (by name or object), under the write lock;
        whoever allocates from here on (a validating process building rows) owns the
        ids up from it until the transaction ends."""
        if isinstance(table, str):
            table = Person.metadata.tables[table]
        self.lock()
        return max(self._next.get(table.name, 1),
                   (self.session.scalar(select(func.max(table.c.id))) or 0) + 1)

    # ------------------------------------------------------------------ rows

    def converter(self, table: Table, key: str) -> Callable[[Any], Any] | None:
        """:func:`converter` for this session's database."""
        return converter(self.session.get_bind().dialect, table, key)

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
        transaction) — several times faster than executemany (docs/requirements.md,
        "floors: bulk load")."""
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
        params = [tuple(v if c is None else c(v) for c, v in zip(
            convs, (*(r[k] for k in cols), r[key]), strict=True)) for r in rows]
        where = quote(table.c[key].name)
        if dialect.name == "postgresql":
            # One statement per chunk, the values as arrays: an executemany of single-row
            # UPDATEs is a round of the protocol per row (~35 µs each).
            names = [*cols, key]
            arrays = ", ".join(f"%s::{table.c[c].type.compile(dialect)}[]" for c in names)
            sets = ", ".join(f"{quote(table.c[c].name)} = v.{quote('c' + str(i))}"
                             for i, c in enumerate(cols))
            alias = ", ".join(quote(f"c{i}") for i in range(len(names)))
            sql = (f"UPDATE {quote(table.name)} SET {sets} FROM unnest({arrays}) "  # noqa: S608
                   f"AS v({alias}) WHERE {quote(table.name)}.{where} = "
                   f"v.{quote('c' + str(len(cols)))}")
            for i in range(0, len(params), self.chunk):
                part = params[i:i + self.chunk]
                conn.exec_driver_sql(sql, tuple(list(col) for col in zip(*part, strict=True)))
            return len(rows)
        sets = ", ".join(f"{quote(table.c[c].name)} = {mark}" for c in cols)
        sql = f"UPDATE {quote(table.name)} SET {sets} WHERE {where} = {mark}"  # noqa: S608
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
        tables = list(tables)
        filled = {t.name for t in tables}
        for table in tables:
            for index in sorted(table.indexes, key=lambda ix: ix.name or ""):
                if not index.unique and not _follows_new_ids(index, filled):
                    index.drop(conn)
                    self._dropped.append(index)
        if self.dialect == "postgresql":
            # Each foreign key is a trigger per inserted row on PostgreSQL (a million
            # persons fire ~9 million); re-adding the constraint at the end checks every
            # row in one join instead — and fails the load, all of it, if one is wrong.
            from sqlalchemy.schema import DropConstraint

            for table in tables:
                for fk in sorted(table.foreign_key_constraints, key=lambda c: str(c.name)):
                    conn.execute(DropConstraint(fk))
                    self._dropped_fks.append(fk)
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
        raw = conn.connection.dbapi_connection if self.dialect == "sqlite" else None
        threads = None
        if raw is not None:
            # SQLite sorts for CREATE INDEX with helper threads when allowed; at the end
            # of a load the other CPUs are idle (~15 % faster on 2 CPUs).
            threads = raw.execute("PRAGMA threads").fetchone()[0]
            raw.execute(f"PRAGMA threads = {min(4, _cpus())}")
        try:
            while self._dropped:
                self._dropped.pop().create(conn)
        finally:
            if raw is not None and threads is not None:
                raw.execute(f"PRAGMA threads = {int(threads)}")
        if self._dropped_fks:
            from sqlalchemy.schema import AddConstraint

            while self._dropped_fks:
                conn.execute(AddConstraint(self._dropped_fks.pop()))
        # Fresh statistics, or the planner guesses on a table it thinks is empty (and on
        # SQLite may pick the name index for "张s" where the pinyin index is 50x better).
        for table in REBUILT_TABLES:
            self.session.execute(text(f'ANALYZE "{table.name}"'))
