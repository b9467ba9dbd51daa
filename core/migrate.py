"""Alembic, run programmatically: core's tree first, then one tree per enabled plugin.

Each tree has its own version table (``core_alembic_version``, ``<plugin>_alembic_version``)
and sees only its own tables (core's prefixes, or the plugin id as prefix), so a plugin can
be added, upgraded or disabled without touching anyone else's history. Disabling a plugin
never runs its downgrades: its tables and data stay until it is enabled again.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table
from sqlalchemy.engine import Connection, Engine

from core.db import CORE_TABLE_PREFIXES, Base

CORE_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
CORE_MODEL_MODULES = ("core.models",)


@dataclass(frozen=True)
class MigrationTree:
    """One Alembic history: core's or a plugin's."""

    owner: str  # "core" or a plugin id
    location: Path
    model_modules: tuple[str, ...]

    @property
    def version_table(self) -> str:
        return f"{self.owner}_alembic_version"

    def owns(self, table_name: str) -> bool:
        if self.owner == "core":
            return table_name.startswith(CORE_TABLE_PREFIXES)
        return table_name.startswith(f"{self.owner}_") and table_name != self.version_table

    def import_models(self) -> None:
        for name in self.model_modules:
            importlib.import_module(name)

    def metadata(self) -> MetaData:
        """Base's metadata restricted to this tree's tables (foreign keys to core tables
        still resolve, because the tables live in the one shared MetaData)."""
        self.import_models()
        return Base.metadata

    def include_object(self) -> Callable[..., bool]:
        def include(obj: Any, name: str | None, type_: str, reflected: bool, _cmp: Any) -> bool:
            if type_ == "table":
                return bool(name) and self.owns(name) and not name.endswith("_alembic_version")
            table = getattr(obj, "table", None)
            if isinstance(table, Table):
                return self.owns(table.name)
            return True

        return include


def core_tree() -> MigrationTree:
    return MigrationTree("core", CORE_MIGRATIONS, CORE_MODEL_MODULES)


def plugin_tree(plugin_id: str, module: Any) -> MigrationTree | None:
    """A plugin's tree is ``<package>/migrations`` with its models in ``<package>.models``."""
    file = getattr(module, "__file__", None)
    if not file:
        return None
    package_dir = Path(file).resolve().parent
    location = package_dir / "migrations"
    if not (location / "env.py").exists():
        return None
    models = f"{module.__name__}.models"
    has_models = (package_dir / "models.py").exists()
    return MigrationTree(plugin_id, location, (models,) if has_models else ())


def alembic_config(tree: MigrationTree, connection: Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(tree.location))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(tree.location / "versions"))
    cfg.attributes["tree"] = tree
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def trees_for(host: Any) -> list[MigrationTree]:
    trees = [core_tree()]
    for record in host.loaded:
        tree = plugin_tree(record.id, record.module)
        if tree is not None:
            trees.append(tree)
    return trees


def upgrade(
    engine: Engine,
    trees: Iterable[MigrationTree],
    revision: str = "heads",
    echo: Callable[[str], None] | None = None,
) -> None:
    for tree in trees:
        if echo:
            echo(f"migrating {tree.owner} ...")
        with _migration_connection(engine) as conn:
            command.upgrade(alembic_config(tree, conn), revision)


class MigrationIntegrityError(RuntimeError):
    """A migration left rows pointing at rows that no longer exist; it was rolled back."""


@contextmanager
def _migration_connection(engine: Engine) -> Iterator[Connection]:
    """One transaction per tree. On SQLite, batch mode rebuilds a table (new table, copy,
    drop, rename) to add a constraint; with foreign keys enforced, dropping the old table
    fires every ``ON DELETE CASCADE`` / ``SET NULL`` that points at it and silently empties
    the rows of other tables (roles, scopes, authors). SQLite's documented procedure for
    schema changes is: foreign keys off outside the transaction, change, then
    ``PRAGMA foreign_key_check`` before commit; the pragma is set back on afterwards."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()  # end SQLAlchemy's autobegun transaction; the pragma sits outside it
        try:
            with conn.begin():
                yield conn
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise MigrationIntegrityError(
                        f"the migration left {len(broken)} rows whose foreign key points "
                        f"nowhere (first: table {broken[0][0]}, rowid {broken[0][1]}, "
                        f"missing {broken[0][2]}); nothing was changed")
        finally:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()


def current(engine: Engine, trees: Iterable[MigrationTree]) -> dict[str, tuple[set[str], set[str]]]:
    """``{owner: (current revisions, head revisions)}``."""
    out = {}
    with engine.connect() as conn:
        for tree in trees:
            ctx = MigrationContext.configure(conn, opts={"version_table": tree.version_table})
            heads = set(ScriptDirectory.from_config(alembic_config(tree)).get_heads())
            out[tree.owner] = (set(ctx.get_current_heads()), heads)
    return out


def pending(engine: Engine, trees: Iterable[MigrationTree]) -> list[str]:
    """Owners whose database revision is not at head: /healthz reports them."""
    return [owner for owner, (cur, heads) in current(engine, trees).items() if cur != heads]


def schema_diff(engine: Engine, tree: MigrationTree) -> list[Any]:
    """What autogenerate would change for this tree: empty when models and migrations agree."""
    metadata = tree.metadata()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_object": tree.include_object(),
                "compare_type": True,
                "version_table": tree.version_table,
                "render_as_batch": conn.dialect.name == "sqlite",
            },
        )
        return compare_metadata(ctx, metadata)


def revision(engine: Engine, tree: MigrationTree, message: str, autogenerate: bool = True) -> None:
    """Write a new revision file. A plugin tree without its own ``script.py.mako`` gets
    core's template copied in first, so every tree renders revisions the same way."""
    template = tree.location / "script.py.mako"
    if not template.exists():
        import shutil

        shutil.copyfile(CORE_MIGRATIONS / "script.py.mako", template)
    (tree.location / "versions").mkdir(exist_ok=True)
    with engine.begin() as conn:
        command.revision(alembic_config(tree, conn), message=message, autogenerate=autogenerate)
