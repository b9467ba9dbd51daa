"""Backup, restore and the integrity fingerprint that proves a restore is whole.

SQLite is backed up with its online backup API (``sqlite3.Connection.backup``): pages are
copied under a read transaction, so the copy is consistent while the app keeps serving and
writing. PostgreSQL is backed up with ``pg_dump --format=custom`` and restored with
``pg_restore --clean --if-exists`` — the server's own tools, whose consistency guarantees
(one snapshot) nothing here could improve on. ``fingerprint`` counts the rows of every
table and hashes them in primary-key order, so an operator compares the original and the
restored instance with one command each (``shequ db check``).
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine, make_url


class BackupError(RuntimeError):
    """A backup or restore that cannot be done, with the reason an operator can act on."""


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _pg_schema(engine: Engine) -> list[str]:
    """``--schema NAME`` when the URL pins a search path (one schema per instance, as the
    test suite does): dump that schema, not every schema of the database."""
    options = make_url(engine.url).query.get("options") or ""
    options = options if isinstance(options, str) else " ".join(options)
    for part in options.split():
        if part.startswith("-csearch_path="):
            return ["--schema", part.split("=", 1)[1].split(",")[0]]
    return []


def _pg_args(engine: Engine) -> tuple[list[str], dict[str, str]]:
    """Connection options for the PostgreSQL client tools, password in the environment
    (never on a command line other users can read)."""
    url = make_url(engine.url)
    args = ["--host", url.host or "127.0.0.1", "--port", str(url.port or 5432),
            "--username", url.username or "postgres"]
    env = {"PGPASSWORD": url.password} if url.password else {}
    options = url.query.get("options")
    if options:  # e.g. "-csearch_path=t_1234": the tools honour libpq's PGOPTIONS
        env["PGOPTIONS"] = options if isinstance(options, str) else " ".join(options)
    return [*args, "--dbname", url.database or "postgres"], env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return path


def backup(engine: Engine, target: str | Path) -> Path:
    """Write a consistent copy of the database to ``target``; safe while the app runs."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if engine.dialect.name == "sqlite":
        source = sqlite3.connect(_sqlite_path(engine))
        dest = sqlite3.connect(target)
        try:
            with dest:
                source.backup(dest)
        finally:
            dest.close()
            source.close()
        return target
    if engine.dialect.name == "postgresql":
        args, env = _pg_args(engine)
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", *_pg_schema(engine),
              "--file", str(target), *args], env)
        return target
    raise BackupError(f"no backup method for {engine.dialect.name}")


def restore(engine: Engine, source: str | Path) -> None:
    """Replace the database's contents with the backup at ``source``. Stop the app and the
    workers first: a restore under a running writer would interleave with it."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    engine.dispose()  # no pooled connection may keep reading the old pages
    if engine.dialect.name == "sqlite":
        src = sqlite3.connect(source)
        try:
            if src.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{source} is not an intact SQLite database")
            dest = sqlite3.connect(_sqlite_path(engine))
            try:
                with dest:
                    src.backup(dest)
            finally:
                dest.close()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} is not an SQLite database: {exc}") from None
        finally:
            src.close()
        return
    if engine.dialect.name == "postgresql":
        args, env = _pg_args(engine)
        _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
              *args, str(source)], env)
        return
    raise BackupError(f"no restore method for {engine.dialect.name}")


def _run(argv: list[str], env: dict[str, str]) -> None:
    import os

    out = subprocess.run(argv, capture_output=True, text=True, check=False,
                         env={**os.environ, **env}, timeout=3600)
    if out.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed: {out.stderr.strip()[:2000]}")


def _value(v: Any) -> str:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).hex()
    return repr(v)


def fingerprint(engine: Engine) -> dict[str, dict[str, Any]]:
    """``{table: {"rows": n, "sha256": hex}}`` for every table in the database, rows read in
    primary-key order (all columns where a table has none), so two databases with the same
    contents give the same fingerprint whatever their physical layout."""
    meta = MetaData()
    meta.reflect(bind=engine)
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for name in sorted(meta.tables):
            table = meta.tables[name]
            order = list(table.primary_key.columns) or list(table.columns)
            digest = hashlib.sha256()
            rows = 0
            for row in conn.execute(select(table).order_by(*order)):
                digest.update("\x1f".join(_value(v) for v in row).encode())
                digest.update(b"\x1e")
                rows += 1
            out[name] = {"rows": rows, "sha256": digest.hexdigest()}
    return out
