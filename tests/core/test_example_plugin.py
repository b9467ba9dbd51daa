"""Core's suite installs and runs the example plugin (docs/example_plugin, distribution
``shequ-hello``): a plugin that core has never heard of must be discovered through its entry
point, contribute its pages, API, events and tables when enabled, nothing when it is not, and
keep its data when it is disabled and enabled again."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text

from core import migrate
from core.events import OutboxEvent
from core.plugins import discover
from core.testing import build_test_app, ensure_user, login

HELLO_HEAD = "138a7c79bb34"
API = "/api/v1/hello/greetings"


def bearer(app, role: str) -> dict[str, str]:
    from core.identity.models import User
    from core.identity.services import create_token, resolve_permissions

    user = ensure_user(app, role)
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        u = session.get(User, user.id)
        _, token = create_token(session, u, name="t", permissions=None, expires_days=None,
                                granted=set(resolve_permissions(u.role_names, kernel.roles)))
    return {"Authorization": f"Bearer {token}"}


def tables(app) -> set[str]:
    return set(inspect(app.extensions["shequ"].db.engine).get_table_names())


def greeting_rows(app) -> list[tuple]:
    with app.extensions["shequ"].db.engine.connect() as conn:
        return conn.execute(text("SELECT recipient, message FROM hello_greeting ORDER BY id")).all()


def test_entry_point_is_discovered_but_not_enabled():
    available = discover()
    assert "hello" in available
    assert available["hello"].value == "shequ_hello"
    assert available["hello"].group == "shequ.plugins"


def test_enabled_example_contributes_every_room(make_app):
    app = make_app(plugins=["hello"])
    kernel = app.extensions["shequ"]
    record = kernel.plugins.records["hello"]
    assert record.loaded and record.info.version == "0.1.0"
    assert record.settings == {"greeting": "你好"}  # config_schema default
    assert {"register_blueprints", "register_api", "register_permissions", "default_roles",
            "nav_items", "dashboard_widgets", "register_event_types",
            "register_event_handlers", "register_commands", "seed_demo_data"} <= set(record.hooks)
    assert {"hello.greeting.read", "hello.greeting.send"} <= set(kernel.permissions)
    assert "hello.greeting.send" in kernel.roles["resident"]
    assert "hello.greeting.sent" in kernel.bus.types
    assert "hello:mark_delivered" in kernel.bus.subscribers

    # page
    client = app.test_client()
    login(client, app, "resident")
    page = client.get("/hello/")
    assert page.status_code == 200
    assert 'href="/hello/"' in client.get("/").get_data(as_text=True)  # nav item

    # API with a bearer token, and the event it publishes in the same transaction
    headers = bearer(app, "resident")
    # the token alone: next to the session cookie the call would be the cookie's, and need
    # a CSRF token (issue 15, finding 8)
    client = app.test_client()
    created = client.post(API, json={"recipient": "王社工", "message": "你好"}, headers=headers)
    assert created.status_code == 201, created.get_json()
    listed = client.get(API, headers=headers).get_json()
    assert listed["total"] == 1
    with kernel.db.Session() as session:
        event = session.scalars(select(OutboxEvent)).one()
    assert event.name == "hello.greeting.sent"
    assert event.payload["greeting_id"] == created.get_json()["id"]
    # delivered to the plugin's own subscriber, which marks the greeting
    from core.events.delivery import deliver_pending

    deliver_pending(app)
    item = client.get(API, headers=headers).get_json()["items"][0]
    assert item["delivered_at"] is not None
    assert "/api/v1/hello/greetings" in client.get("/api/v1/openapi.json").get_json()["paths"]


def test_example_migrations_use_their_own_tree(make_app):
    app = make_app(plugins=["hello"])
    kernel = app.extensions["shequ"]
    assert {"hello_greeting", "hello_alembic_version", "core_alembic_version"} <= tables(app)
    with kernel.db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM hello_alembic_version")).all() == [
            (HELLO_HEAD,)]
    trees = {t.owner: t for t in migrate.trees_for(kernel.plugins)}
    assert trees["hello"].version_table == "hello_alembic_version"
    assert migrate.pending(kernel.db.engine, trees.values()) == []
    assert migrate.schema_diff(kernel.db.engine, trees["hello"]) == []  # models == migrations
    health = app.test_client().get("/healthz").get_json()
    assert "hello" in health["checks"]["plugins"]["loaded"]


def test_disabled_example_contributes_nothing(make_app):
    app = make_app(plugins=[])
    kernel = app.extensions["shequ"]
    assert not [r.rule for r in app.url_map.iter_rules()
                if r.rule.startswith(("/hello", "/api/v1/hello"))]
    client = app.test_client()
    assert client.get("/hello/").status_code == 404
    assert client.get(API).status_code == 404
    login(client, app, "resident")
    assert "/hello/" not in client.get("/").get_data(as_text=True)
    assert not [t for t in tables(app) if t.startswith("hello_")]
    assert not [p for p in kernel.permissions if p.startswith("hello.")]
    assert "hello.greeting.sent" not in kernel.bus.types
    assert not [p for p in client.get("/api/v1/openapi.json").get_json()["paths"]
                if p.startswith("/api/v1/hello")]


@pytest.fixture
def shared_db(tmp_path):
    """Apps built one after another on the same database (same SQLite file, or the same
    PostgreSQL schema as the first app's), cleaned up at the end."""
    cleanups = []
    url = None

    def build(plugins: list[str]):
        nonlocal url
        config = {"database": {"url": url}} if url else None
        app, cleanup = build_test_app(tmp_path, plugins=plugins, config=config)
        cleanups.append(cleanup)
        url = url or app.extensions["shequ"].config.database_url
        return app

    yield build
    for cleanup in reversed(cleanups):
        cleanup()


def test_disabling_keeps_data_and_reenabling_resumes(shared_db):
    enabled = shared_db(["hello"])
    client = enabled.test_client()
    headers = bearer(enabled, "resident")
    for recipient in ("王社工", "李委员"):
        resp = client.post(API, json={"recipient": recipient, "message": "早"}, headers=headers)
        assert resp.status_code == 201
    before = greeting_rows(enabled)
    assert len(before) == 2

    disabled = shared_db([])  # migrates core only; never downgrades the hello tree
    assert disabled.test_client().get(API, headers=headers).status_code == 404
    assert {"hello_greeting", "hello_alembic_version"} <= tables(disabled)
    assert greeting_rows(disabled) == before
    assert disabled.test_client().get("/healthz").status_code == 200

    again = shared_db(["hello"])
    listed = again.test_client().get(API, headers=headers).get_json()
    assert sorted(i["recipient"] for i in listed["items"]) == ["李委员", "王社工"]
    assert greeting_rows(again) == before
