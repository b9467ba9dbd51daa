"""The body of every tree's ``env.py``: plugins' env.py files call :func:`run` too, so the
rules (own version table, own tables only, batch mode on SQLite) are written once."""

from __future__ import annotations

from alembic import context


def run() -> None:
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
    )
    with context.begin_transaction():
        context.run_migrations()
