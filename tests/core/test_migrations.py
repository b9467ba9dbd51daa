"""Migrations yield exactly the models' schema, per tree, on SQLite and PostgreSQL."""

from sqlalchemy import inspect

from core import migrate


def test_empty_database_migrates_to_exactly_the_models(app):
    kernel = app.extensions["shequ"]
    trees = migrate.trees_for(kernel.plugins)
    assert next(t.owner for t in trees) == "core"
    for tree in trees:
        assert migrate.schema_diff(kernel.db.engine, tree) == [], tree.owner
    assert migrate.pending(kernel.db.engine, trees) == []


def test_each_tree_has_its_own_version_table(app):
    kernel = app.extensions["shequ"]
    tables = set(inspect(kernel.db.engine).get_table_names())
    for tree in migrate.trees_for(kernel.plugins):
        assert tree.version_table in tables
    assert "alembic_version" not in tables


def test_unmigrated_database_is_reported_by_healthz(make_app):
    app = make_app(plugins=["commerce"], migrate=False)
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "unhealthy"
    assert "core" in body["checks"]["migrations"]["pending"]


def test_upgrade_is_idempotent(app):
    kernel = app.extensions["shequ"]
    trees = migrate.trees_for(kernel.plugins)
    before = migrate.current(kernel.db.engine, trees)
    migrate.upgrade(kernel.db.engine, trees)
    assert migrate.current(kernel.db.engine, trees) == before
