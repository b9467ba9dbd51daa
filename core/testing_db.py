"""Migrated test databases, made once per plugin set and copied for each test.

Every test app used to run every migration tree from the first revision: 0.25 s on SQLite
and 0.7 s on PostgreSQL for the four built-in plugins, about a third of the suite's time.
The schema a plugin set migrates to is the same for every test, so the first app of a set
in a process migrates a *template* for real, and each later app gets a copy of it:

* SQLite: the template file, copied with SQLite's backup API (a consistent copy);
* PostgreSQL: ``CREATE DATABASE ... TEMPLATE``, about 50 ms, on the same server as
  ``SHEQU_TEST_DATABASE_URL`` (the account needs CREATEDB; the ``postgres`` superuser of
  the test machine has it), dropped with ``WITH (FORCE)`` after the test.

A copy is the very database the migrations produced — the same tables, constraints,
sequences and version rows — so tests still run against real migrations. Only apps built
from installed plugins are cached: a test's own plugin objects (``extra``) may carry
migrations of their own, so those apps migrate as before. Templates live as long as the
process; PostgreSQL templates are dropped at exit, and ones left by a killed process are
dropped by the next run that finds them (their process is gone).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

_LOCK = threading.Lock()
_SQLITE: dict[tuple[str, ...], Path] = {}
_POSTGRES: dict[tuple[str, tuple[str, ...]], str] = {}
_TEMPLATE_PREFIX = "shequ_tpl_"
_COPY_PREFIX = "shequ_tc_"


def sqlite_copy(key: tuple[str, ...], target: Path, migrate: Callable[[Path], None]) -> None:
    """Put a migrated database for ``key`` at ``target``: ``migrate(path)`` builds the
    template the first time (a real migration run into ``path``)."""
    with _LOCK:
        template = _SQLITE.get(key)
        if template is None or not template.exists():
            folder = Path(tempfile.mkdtemp(prefix="shequ-template-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            template = folder / "template.db"
            migrate(template)
            _SQLITE[key] = template
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(template)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def postgres_copy(base: str, key: tuple[str, ...],
                  migrate: Callable[[str], None]) -> tuple[str, Callable[[], None]]:
    """A new database cloned from the migrated template for ``key`` on ``base``'s server:
    its URL and a function that drops it. ``migrate(url)`` builds the template once."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(base)
    admin = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)
    with _LOCK:
        template = _POSTGRES.get((base, key))
        if template is None:
            _drop_orphans(admin)
            template = f"{_TEMPLATE_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{template}"'))
            atexit.register(_drop, base, template)
            migrate(url.set(database=template).render_as_string(hide_password=False))
            _POSTGRES[(base, key)] = template
    name = f"{_COPY_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def _drop(base: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    # Best effort at exit (the server may be gone already): the next run drops orphans.
    with contextlib.suppress(Exception):
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _drop_orphans(admin: object) -> None:
    """Templates and test copies whose process is gone: a run that was killed."""
    from sqlalchemy import text

    with admin.connect() as conn:  # type: ignore[attr-defined]  # an Engine
        names = conn.execute(text(
            "SELECT datname FROM pg_database WHERE datname LIKE :a OR datname LIKE :b"),
            {"a": _TEMPLATE_PREFIX + "%", "b": _COPY_PREFIX + "%"},
        ).scalars().all()
        for name in names:
            prefix = _TEMPLATE_PREFIX if name.startswith(_TEMPLATE_PREFIX) else _COPY_PREFIX
            pid = name[len(prefix):].split("_", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
