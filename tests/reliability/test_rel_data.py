"""Data survives operations: a backup taken while the app writes restores to an instance
whose every table matches, on SQLite (online backup API) and PostgreSQL (pg_dump /
pg_restore); a database from the previous release upgrades without losing a row."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from reliability_kit import HERE, ROOT, record

SHEQU = str(Path(sys.executable).with_name("shequ"))
PLUGINS = ["gov_services", "commerce", "self_governance", "surveillance"]


def _env(tmp: Path, db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEQU")}
    env.update(SHEQU__APP__INSTANCE_PATH=str(tmp / "instance"), SHEQU__APP__ENV="test",
               SHEQU__APP__DEMO_DATA="false", SHEQU__DATABASE__URL=db_url,
               SHEQU__EVENTS__DELIVERY="manual")
    return env


def shequ(env: dict[str, str], *args: str, timeout: float = 600,
          input: str | None = None) -> subprocess.CompletedProcess:
    out = subprocess.run([SHEQU, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=timeout, input=input)
    assert out.returncode == 0, f"shequ {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    return out


def _check(env: dict[str, str], *options: str) -> dict[str, dict]:
    return json.loads(shequ(env, "db", "check", "--json", *options).stdout)


def _writer(env: dict[str, str], stop: threading.Event, done: list[str]) -> None:
    """Keep creating accounts (one committed transaction each) until told to stop."""
    n = 0
    while not stop.is_set():
        n += 1
        name = f"during_backup_{n}"
        out = subprocess.run([SHEQU, "user", "create", name, "--role", "resident",
                              "--resident", "--password-stdin"], cwd=ROOT, env=env,
                             input="backup-writer-pw-1\n", capture_output=True, text=True,
                             timeout=120)
        if out.returncode == 0:
            done.append(name)


def _round_trip(env: dict[str, str], restored_env: dict[str, str], tmp: Path) -> dict:
    """Back up while a writer runs, stop it, take the original's fingerprint, restore the
    backup elsewhere and compare: the backup holds a consistent prefix of the writes, and a
    second backup taken at rest restores to exactly the original."""
    shequ(env, "db", "upgrade")
    shequ(env, "registry", "demo", "--persons", "300")
    stop, done = threading.Event(), []
    writer = threading.Thread(target=_writer, args=(env, stop, done), daemon=True)
    writer.start()
    time.sleep(3)
    during = tmp / "during.backup"
    shequ(env, "db", "backup", str(during))
    stop.set()
    writer.join(120)
    original = _check(env)
    at_rest = tmp / "at-rest.backup"
    shequ(env, "db", "backup", str(at_rest))

    shequ(restored_env, "db", "restore", "--yes", str(during))
    mid = _check(restored_env)
    users_mid = mid["identity_user"]["rows"]
    # a consistent prefix: every table present, the registry whole, the accounts a prefix
    prefix_ok = set(mid) == set(original) and all(
        mid[t] == original[t] for t in original if t.startswith("registry_"))
    shequ(restored_env, "db", "restore", "--yes", str(at_rest))
    restored = _check(restored_env)
    return {"tables": len(original), "rows": sum(t["rows"] for t in original.values()),
            "writes_during_backup": len(done), "accounts_in_online_backup": users_mid,
            "online_backup_consistent": prefix_ok,
            "restored_equal": restored == original,
            "differing_tables": sorted(t for t in original if restored.get(t) != original[t])}


def test_backup_and_restore_sqlite_and_postgresql(deployment, tmp_path):
    sqlite_env = _env(tmp_path / "a", f"sqlite:///{tmp_path}/a.db")
    sqlite_restored = _env(tmp_path / "b", f"sqlite:///{tmp_path}/b.db")
    sqlite = _round_trip(sqlite_env, sqlite_restored, tmp_path)

    dep_a, dep_b = deployment(), deployment()
    pg = _round_trip(_env(tmp_path / "pa", dep_a.db_url), _env(tmp_path / "pb", dep_b.db_url),
                     tmp_path)
    passed = all(r["restored_equal"] and r["online_backup_consistent"] for r in (sqlite, pg))
    record(
        "backup and restore",
        injected="`shequ db backup` while accounts were being created (one process per "
                 "write); restore into a second, empty instance; SQLite and PostgreSQL",
        checked="the online backup restores to a consistent state (whole registry, a prefix "
                "of the writes); a backup at rest restores to row counts and a SHA-256 per "
                "table equal to the original (`shequ db check`)",
        figures={"sqlite": sqlite, "postgresql": pg},
        passed=passed,
    )
    assert sqlite["restored_equal"], sqlite["differing_tables"]
    assert pg["restored_equal"], pg["differing_tables"]
    assert sqlite["online_backup_consistent"] and pg["online_backup_consistent"]


def test_previous_release_upgrades_without_loss(tmp_path):
    """tests/reliability/fixtures/shequ-<version>.sqlite.gz: a database made by that tagged
    release (its migrations, its demo data). Today's code upgrades it; every table the old
    release had keeps every row, byte for byte (the migration version tables aside)."""
    results = {}
    for fixture in sorted((HERE / "fixtures").glob("shequ-*.sqlite.gz")):
        version = fixture.name.removeprefix("shequ-").removesuffix(".sqlite.gz")
        db = tmp_path / f"{version}.db"
        with gzip.open(fixture) as src, open(db, "wb") as dst:
            shutil.copyfileobj(src, dst)
        env = _env(tmp_path / version, f"sqlite:///{db}")
        env["SHEQU__PLUGINS__ENABLED"] = json.dumps(PLUGINS)
        before = _check(env, "--with-columns")
        columns = tmp_path / f"{version}.columns.json"
        columns.write_text(json.dumps(before))
        shequ(env, "db", "upgrade")
        # what the old release stored, column by column: an upgrade may add tables and
        # columns, never change or lose what was there
        after = _check(env, "--columns-of", str(columns))
        tables_after = len(_check(env))
        current = shequ(env, "db", "current").stdout
        kept = {t: before[t] == after.get(t) for t in before if not t.endswith("alembic_version")}
        results[version] = {
            "tables_before": len(before), "tables_after": tables_after,
            "rows_before": sum(v["rows"] for v in before.values()),
            "tables_changed": sorted(t for t, same in kept.items() if not same),
            "all_at_head": "PENDING" not in current,
        }
    passed = bool(results) and all(not r["tables_changed"] and r["all_at_head"]
                                   for r in results.values())
    record(
        "upgrade from the previous release",
        injected="databases created by earlier tagged releases "
                 f"({', '.join(sorted(results))}) with demo data, upgraded with "
                 "`shequ db upgrade`",
        checked="every migration tree at head; every table the release had keeps its rows "
                "and the content of every column it had (row count and SHA-256 per table over "
                "the old columns, `shequ db check --columns-of`)",
        figures=results,
        passed=passed,
    )
    assert results, "no release fixture in tests/reliability/fixtures"
    for version, r in results.items():
        assert not r["tables_changed"], (version, r)
        assert r["all_at_head"], (version, r)
