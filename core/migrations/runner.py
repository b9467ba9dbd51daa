"""The body of every tree's ``env.py``: plugins' env.py files call :func:`run` too, so the
rules (own version table, own tables only, batch mode on SQLite) are written once."""

from __future__ import annotations

from typing import Any


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Core's column types render as ``core.toolkit.X`` in new revisions, so a plugin's
    migrations import only the public toolkit (the boundary test reads them too)."""
    if type_ == "type" and type(obj).__module__ == "core.db":
        autogen_context.imports.add("import core.toolkit")
        return f"core.toolkit.{obj!r}"
    return False


def run() -> None:
    from alembic import context  # only inside a migration run: alembic costs start-up time

    cfg = context.config
    tree = cfg.attributes["tree"]
    connection = cfg.attributes.get("connection")
    if connection is None:
        raise RuntimeError("Shequ migrations run through `shequ db ...`, not the alembic CLI")
    context.configure(
        connection=connection,
        target_metadata=tree.metadata(),
        include_object=tree.include_object(),
        version_table=tree.version_table,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item if tree.owner != "core" else None,
    )
    with context.begin_transaction():
        context.run_migrations()
