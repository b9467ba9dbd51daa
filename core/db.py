"""SQLAlchemy 2 engine, sessions and the declarative base every model shares.

One :class:`Database` per app. Sessions are short: one per request (``current_session()``,
closed at teardown), one per CLI command and one per worker job (``db.session_scope()``).
Plugins' models subclass :class:`Base` too, with table names prefixed by the plugin id, so
each migration tree can tell its own tables apart (see ``core.migrate``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import g, has_app_context
from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from core.config import AppSection
from core.current import current_kernel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Table-name prefixes owned by core; every other table belongs to the plugin it is
#: prefixed with. Plugin ids may not take these (see ``hookspecs.RESERVED_IDS``).
CORE_TABLE_PREFIXES = ("core_", "identity_", "registry_", "events_", "audit_")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


#: The zone days are counted in when nothing configures one: ``[app] timezone``'s own
#: default (read from the config schema, so the two cannot drift apart). A loaded config
#: always has a value (the schema supplies this default), so it is used only where no
#: kernel is at hand: a bare service call, a script, a test outside any app.
DEFAULT_TIMEZONE: str = AppSection().fields["timezone"].load_default


def local_zone(kernel: Any = None) -> ZoneInfo:
    """The configured time zone (``[app] timezone``, Asia/Shanghai by default): the one in
    which residents and staff live their days. ``kernel`` is for code outside a request or
    app context (a job, an event handler, a CLI step holding the kernel); without it the
    current app's kernel is used, and with neither the documented default. One rule for
    core and every plugin: a copy that fell back to UTC put "today" a day behind Beijing
    every evening outside a request."""
    if kernel is None and has_app_context():
        try:
            kernel = current_kernel()
        except KeyError:  # a bare Flask app, not built by create_app
            kernel = None
    app = getattr(getattr(kernel, "config", None), "app", None) or {}
    return ZoneInfo(str(app.get("timezone") or DEFAULT_TIMEZONE))


def local_today(now: datetime | None = None, *, kernel: Any = None) -> date:
    """Today in the configured time zone, not the server's: at 23:30 UTC it is already
    tomorrow in Beijing, and a birthday, an age or a "since today" follows Beijing's day.
    ``now`` (aware) lets a test or a job set the clock; ``kernel`` as for
    :func:`local_zone`."""
    return (now or utcnow()).astimezone(local_zone(kernel)).date()


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend. SQLite drops tzinfo; this puts it
    back so comparisons never mix naive and aware values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given; use core.db.utcnow()")
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


#: How long a SQLite writer waits for the write lock before "database is locked" (ms).
#: Why 30 s, the server's request timeout: an import of 10,000 rows holds the one write
#: lock for its whole transaction (nothing half-written), 12-14 s on a busy 2-core machine
#: (bench embedded_concurrency); with 10 s an export started beside it waited, then
#: answered 503. Readers never wait (WAL); only writers queue.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.close()


def make_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size)
    _ping_when_idle(engine)
    return engine


#: A pooled PostgreSQL connection unused for this long is pinged before it is handed out.
IDLE_PING_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection on checkout only when it sat idle in the pool for
    :data:`IDLE_PING_SECONDS` — not on every checkout, as ``pool_pre_ping`` does.

    Why: on a busy server every request's ping was one more round trip (4 instead of 3 for
    a read, docs/performance.md), yet the connections that go stale are the idle ones (a
    database restart, a firewall dropping quiet connections). A connection used within the
    last seconds that turns out dead fails its statement; SQLAlchemy then invalidates the
    whole pool, that one request answers 503 with Retry-After, and the next gets a fresh
    connection (docs/operations.md, "Database outages")."""

    def fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the driver's error: the pool retries with a new one
            raise DisconnectionError(str(exc)) from exc
        if alive is False:
            raise DisconnectionError("the connection did not answer a ping")

    event.listen(engine, "connect", fresh)
    event.listen(engine, "checkin", fresh)
    event.listen(engine, "checkout", checkout)


class Database:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 5) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo, pool_size=pool_size)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error: CLI and jobs."""
        session = self.Session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def get_db() -> Database:
    return current_kernel().db


def current_session() -> Session:
    """The request's session, created on first use and closed at teardown. Uncommitted work
    is rolled back then, so a view that forgets to commit loses nothing silently half-way."""
    if "_shequ_session" not in g:
        g._shequ_session = get_db().Session()
    return g._shequ_session


def close_request_session(_exc: BaseException | None = None) -> None:
    if has_app_context():
        session = g.pop("_shequ_session", None)
        if session is not None:
            session.close()
