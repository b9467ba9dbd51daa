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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, literal, select
from sqlalchemy.engine import Engine, make_url

from core.current import kernel_of


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


def fingerprint(
    engine: Engine, columns: Mapping[str, Sequence[str]] | None = None
) -> dict[str, dict[str, Any]]:
    """``{table: {"rows": n, "sha256": hex}}`` for every table in the database, rows read in
    primary-key order (all columns where a table has none), so two databases with the same
    contents give the same fingerprint whatever their physical layout.

    ``columns`` (``{table: [column, ...]}``, as an earlier ``shequ db check --json
    --with-columns`` printed) hashes only those columns of those tables: an upgrade adds
    columns, and the question after one is whether what the old release stored is still
    there, unchanged. A listed column that is gone hashes as missing, so a drop shows."""
    meta = MetaData()
    meta.reflect(bind=engine)
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for name in sorted(meta.tables):
            if columns is not None and name not in columns:
                continue
            table = meta.tables[name]
            order = list(table.primary_key.columns) or list(table.columns)
            wanted = list(table.columns) if columns is None else [
                table.columns[c] for c in columns[name] if c in table.columns]
            missing = [] if columns is None else [c for c in columns[name]
                                                  if c not in table.columns]
            digest = hashlib.sha256()
            for gone in missing:
                digest.update(f"missing column {gone}\x1e".encode())
            rows = 0
            query = select(*wanted) if wanted else select(literal(1)).select_from(table)
            for row in conn.execute(query.order_by(*order)):
                digest.update("\x1f".join(_value(v) for v in row).encode())
                digest.update(b"\x1e")
                rows += 1
            out[name] = {"rows": rows, "sha256": digest.hexdigest()}
            if columns is not None:
                out[name]["columns"] = [c.name for c in wanted]
    return out


def table_columns(engine: Engine) -> dict[str, list[str]]:
    """``{table: [column, ...]}`` as the database has them now (``--with-columns``)."""
    meta = MetaData()
    meta.reflect(bind=engine)
    return {name: [c.name for c in table.columns] for name, table in meta.tables.items()}


# ------------------------------------------------------------------ the scheduled backup

_PATTERN = "shequ-*"


def check_backup(engine: Engine, path: str | Path) -> dict[str, Any]:
    """Prove the file at ``path`` is a whole backup of ``engine``'s kind: an SQLite copy
    passes ``PRAGMA integrity_check`` and gets the fingerprint ``shequ db check`` prints
    (stored next to it, so a restore is compared with one ``diff``); a PostgreSQL archive
    is read back by ``pg_restore --list`` and must list table data. Raises BackupError."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise BackupError(f"{path} is missing or empty")
    if engine.dialect.name == "sqlite":
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = con.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not an SQLite database: {exc}") from None
        finally:
            con.close()
        if result != "ok":
            raise BackupError(f"{path} failed the integrity check: {result}")
        from sqlalchemy import create_engine

        copy = create_engine(f"sqlite:///{path}")
        try:
            prints = fingerprint(copy)
        finally:
            copy.dispose()
        if not prints:
            raise BackupError(f"{path} holds no tables")
        return {"tables": len(prints), "rows": sum(t["rows"] for t in prints.values()),
                "fingerprint": prints}
    out = subprocess.run([_tool("pg_restore"), "--list", str(path)], capture_output=True,
                         text=True, check=False, timeout=600)
    if out.returncode != 0:
        raise BackupError(f"pg_restore cannot read {path}: {out.stderr.strip()[:500]}")
    tables = sum(1 for line in out.stdout.splitlines() if " TABLE DATA " in line)
    if not tables:
        raise BackupError(f"{path} lists no table data")
    return {"tables": tables}


def prune(directory: str | Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest backups (and their check files); returns the
    deleted ones. Names carry a UTC timestamp, so name order is age order."""
    directory = Path(directory)
    found = sorted(p for p in directory.glob(_PATTERN)
                   if p.suffix in (".db", ".dump") and p.is_file())
    old = found[:-keep] if keep > 0 else found
    for p in old:
        p.unlink(missing_ok=True)
        p.with_name(p.name + ".check.json").unlink(missing_ok=True)
    return old


def scheduled_backup(app: Any) -> str:
    """The ``core.backup`` job: back up to ``[backup] directory``, check the copy, keep the
    ``[backup] keep`` newest, and record the result in ``backup-status.json`` there (read
    by ``/metrics`` and ``/healthz``). A failed backup raises, so the job counts as failed;
    the previous good backups are kept (pruning happens only after a good one)."""
    import json
    import os
    from datetime import UTC, datetime

    from core.metrics import BACKUP_STATUS

    kernel = kernel_of(app)
    config = kernel.config
    directory = config.backup_directory
    directory.mkdir(parents=True, exist_ok=True)
    status_file = directory / BACKUP_STATUS
    try:
        status = json.loads(status_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        status = {}
    engine = kernel.db.engine
    now = datetime.now(UTC)
    suffix = ".db" if engine.dialect.name == "sqlite" else ".dump"
    target = directory / f"shequ-{now:%Y%m%dT%H%M%S%fZ}{suffix}"
    partial = target.with_name(target.name + ".partial")
    status.update(last_run_at=now.timestamp())
    try:
        backup(engine, partial)
        checked = check_backup(engine, partial)
        os.replace(partial, target)
        if "fingerprint" in checked:
            target.with_name(target.name + ".check.json").write_text(
                json.dumps(checked.pop("fingerprint"), indent=1, sort_keys=True) + "\n")
            # byte for byte what `shequ db check --json` prints: a restore is one `diff`
        pruned = prune(directory, int(config.backup["keep"]))
    except Exception as exc:
        partial.unlink(missing_ok=True)
        status.update(ok=False, error=str(exc)[:1000],
                      failures=int(status.get("failures", 0)) + 1)
        _write_status(status_file, status)
        raise BackupError(f"scheduled backup failed: {exc}") from exc
    kept = sum(1 for p in directory.glob(_PATTERN) if p.suffix in (".db", ".dump"))
    status.update(ok=True, error="", failures=0, last_success_at=now.timestamp(),
                  last_file=target.name, kept=kept, **checked)
    _write_status(status_file, status)
    return f"{target.name} written and checked; {len(pruned)} old backup(s) removed"


def _write_status(path: Path, status: dict[str, Any]) -> None:
    import json
    import os

    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(status, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
