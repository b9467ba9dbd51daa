"""pytest fixtures for Shequ and its plugin authors (registered as the ``shequ`` pytest11
plugin, so any project that installs shequ gets them).

* ``make_app(plugins=[...], config={...}, extra={id: obj})`` builds a migrated app on the
  test database; ``app`` is the default one (``@pytest.mark.with_plugins(...)`` and
  ``@pytest.mark.shequ_config({...})`` adjust it).
* ``client``, ``login(client, role)``, ``client_as(role)`` and ``token_for(role)`` give
  signed-in clients and bearer tokens for every role.
* ``db_session`` is a session on the app's database; ``events`` records what was published.
* ``browser_page`` (and ``live_server``) drive the app in Debian's Chromium via Playwright.
* ``access_log(app, person_id, via=..., actor=...)`` / ``access_count(...)`` read a
  person's access log, to prove a page or API that shows them logs the display.
* For plugin tests that go below the fixtures: ``PluginHost`` / ``PluginError`` (load a
  plugin set and see the start-up error), ``OutboxEvent`` / ``Event`` (what was published,
  and how a subscriber receives it), ``AppContext`` (run a CLI command's context) and
  ``seed_demo(app)`` (the demo data ``make run`` loads).

The database is SQLite in a temporary directory unless ``SHEQU_TEST_DATABASE_URL`` names a
PostgreSQL database; then every test gets a clean schema in it.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.cli import AppContext
from core.config import DEFAULT_CONFIG, load_config
from core.events import Event
from core.events.models import OutboxEvent
from core.plugins import PluginError, PluginHost

__all__ = [
    "AppContext",
    "Event",
    "OutboxEvent",
    "PluginError",
    "PluginHost",
    "access_count",
    "access_log",
    "build_test_app",
    "csrf_token",
    "ensure_user",
    "login",
    "seed_demo",
]

TEST_DB_ENV = "SHEQU_TEST_DATABASE_URL"
CHROMIUM = os.environ.get("SHEQU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TEST_PASSWORD = "test-password-123"  # fixture accounts only


def pytest_configure(config: pytest.Config) -> None:
    """Declare this plugin's markers, so projects running ``--strict-markers`` can use them."""
    config.addinivalue_line("markers", "with_plugins(*ids): enable exactly these plugins")
    config.addinivalue_line("markers", "shequ_config(dict): config overrides for the app")
    config.addinivalue_line("markers", "e2e: real-browser tests (Chromium via Playwright)")


def _postgres_schema_url(base: str) -> tuple[str, Callable[[], None]]:
    """A fresh schema per app on the shared PostgreSQL test database, dropped afterwards:
    tests stay isolated without creating databases (which needs more privileges)."""
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    return url, drop


def build_test_app(
    tmp_path: Path,
    *,
    plugins: list[str] | None = None,
    config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    migrate: bool = True,
) -> tuple[Flask, Callable[[], None]]:
    """Create a migrated app for tests; returns it with a clean-up function."""
    from core import migrate as migrations
    from core.app import create_app

    cleanups: list[Callable[[], None]] = []
    url = f"sqlite:///{tmp_path}/test.db"
    if os.environ.get(TEST_DB_ENV):
        url, drop = _postgres_schema_url(os.environ[TEST_DB_ENV])
        cleanups.append(drop)
    overrides: dict[str, Any] = {
        "app": {
            "env": "test",
            "instance_path": str(tmp_path / "instance"),
            "secret_key": "test-secret-key",
            "demo_data": False,
        },
        "database": {"url": url},
        "events": {"delivery": "manual"},
        "plugins": {"enabled": list(plugins) if plugins is not None else []},
    }
    for section, values in (config or {}).items():
        if isinstance(values, dict):
            overrides.setdefault(section, {}).update(values)
        else:
            overrides[section] = values
    cfg = load_config(DEFAULT_CONFIG, overrides=overrides, environ={})
    app = create_app(cfg, plugins=extra)
    kernel = app.extensions["shequ"]
    if migrate:
        migrations.upgrade(kernel.db.engine, migrations.trees_for(kernel.plugins))

    def cleanup() -> None:
        kernel.bus.stop()
        kernel.db.dispose()
        for fn in reversed(cleanups):
            fn()

    return app, cleanup


@pytest.fixture
def make_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Flask]]:
    cleanups: list[Callable[[], None]] = []

    def factory(**kwargs: Any) -> Flask:
        app, cleanup = build_test_app(tmp_path_factory.mktemp("app"), **kwargs)
        cleanups.append(cleanup)
        return app

    yield factory
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture
def app(request: pytest.FixtureRequest, make_app: Callable[..., Flask]) -> Flask:
    """All four built-in plugins unless ``@pytest.mark.with_plugins(...)`` says otherwise."""
    marker = request.node.get_closest_marker("with_plugins")
    plugins = (
        list(marker.args)
        if marker
        else ["gov_services", "commerce", "self_governance", "surveillance"]
    )
    cfg_marker = request.node.get_closest_marker("shequ_config")
    return make_app(plugins=plugins, config=cfg_marker.args[0] if cfg_marker else None)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def kernel(app: Flask) -> Any:
    return app.extensions["shequ"]


@pytest.fixture
def db_session(app: Flask) -> Iterator[Any]:
    session = app.extensions["shequ"].db.Session()
    yield session
    session.rollback()
    session.close()


def ensure_user(app: Flask, role: str, *, username: str | None = None) -> Any:
    """A user holding ``role`` (created once per app), password ``TEST_PASSWORD``."""
    from sqlalchemy import select

    from core.identity.models import User
    from core.identity.services import create_user

    username = username or f"test_{role}"
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = create_user(
                session,
                app.extensions["shequ.hasher"],
                username=username,
                password=TEST_PASSWORD,
                roles=[role],
                kind="resident" if role == "resident" else "staff",
            )
        session.flush()
        session.expunge(user)
    return user


def login(client: FlaskClient, app: Flask, role: str) -> Any:
    """Sign ``client`` in through the real login form (CSRF token included)."""
    import re

    user = ensure_user(app, role)
    page = client.get("/account/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    if token is None:
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    resp = client.post(
        "/account/login",
        data={
            "username": user.username,
            "password": TEST_PASSWORD,
            "csrf_token": token.group(1) if token else "",
        },
    )
    assert resp.status_code == 302, f"login as {role} failed: {resp.status_code}"
    return user


@pytest.fixture
def client_as(app: Flask) -> Callable[[str], FlaskClient]:
    """``client_as("admin")``: a new client signed in with that role."""

    def make(role: str) -> FlaskClient:
        c = app.test_client()
        login(c, app, role)
        return c

    return make


@pytest.fixture
def token_for(app: Flask) -> Callable[..., str]:
    """``token_for("admin", permissions=None)``: a bearer token for a user with the role."""
    from core.identity.models import User
    from core.identity.services import create_token, resolve_permissions

    def make(
        role: str, permissions: list[str] | None = None, expires_days: int | None = None
    ) -> str:
        user = ensure_user(app, role)
        kernel = app.extensions["shequ"]
        with kernel.db.session_scope() as session:
            u = session.get(User, user.id)
            _, plaintext = create_token(
                session,
                u,
                name="test",
                permissions=permissions,
                expires_days=expires_days,
                granted=set(resolve_permissions(u.role_names, kernel.roles)),
            )
        return plaintext

    return make


def csrf_token(client: FlaskClient, path: str = "/") -> str:
    """The CSRF token a page rendered for this client's session."""
    import re

    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def seed_demo(app: Flask, echo: Callable[[str], Any] = lambda _msg: None) -> None:
    """Load the demo data (what ``make run`` does; idempotent)."""
    from core.demo import seed

    seed(app, echo=echo)


def access_log(app: Flask, person_id: int, *, via: str | None = None,
               actor: str | None = None) -> list[dict[str, Any]]:
    """The entries of ``person_id``'s access log (newest first) as plain dicts: ``actor``
    (username), ``agent`` (the assisting worker's account id, if any), ``via`` (plugin),
    ``purpose``, ``fields``, ``masked`` and ``count`` (identical reads in one day are one
    entry). Filter by plugin (``via``) or viewer (``actor``) to assert a display was
    logged: every page or API that shows a person to someone else must add one."""
    from core.audit.models import AccessEntry

    with app.app_context():
        kernel = app.extensions["shequ"]
        with kernel.db.session_scope() as session:
            query = AccessEntry.__table__.select().where(
                AccessEntry.subject_person_id == person_id)
            if via is not None:
                query = query.where(AccessEntry.via == via)
            if actor is not None:
                query = query.where(AccessEntry.actor_name == actor)
            rows = session.execute(query.order_by(AccessEntry.id.desc())).mappings().all()
    return [{
        "actor": r["actor_name"], "on_behalf_of": r.get("on_behalf_of_id"), "via": r["via"],
        "purpose": r["purpose"], "fields": list(r["fields"] or []),
        "masked": bool(r.get("masked", False)), "count": int(r.get("count") or 1),
    } for r in rows]


def access_count(app: Flask, person_id: int, **filters: Any) -> int:
    """How many displays of ``person_id``'s data the log records (counts summed)."""
    return sum(e["count"] for e in access_log(app, person_id, **filters))


class EventRecorder:
    """Every event published through the app's bus while the fixture is active."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.published]


@pytest.fixture
def events(app: Flask, monkeypatch: pytest.MonkeyPatch) -> EventRecorder:
    recorder = EventRecorder()
    bus = app.extensions["shequ"].bus
    original = bus.publish

    def publish(session: Any, name: str, payload: dict[str, Any]) -> Any:
        row = original(session, name, payload)
        recorder.published.append((name, row.payload))
        return row

    monkeypatch.setattr(bus, "publish", publish)
    return recorder


# ------------------------------------------------------------------------------ browser


class LiveServer:
    """The app served by werkzeug on 127.0.0.1 in a thread, stopped at teardown."""

    def __init__(self, app: Flask) -> None:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Debian Chromium for the session (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium fonts-wqy-microhei")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    """A phone-sized page (360 px) on the live server; ``page.base_url`` is set."""
    context = chromium.new_context(viewport={"width": 360, "height": 780}, base_url=live_server.url)
    page = context.new_page()
    page.base_url = live_server.url
    yield page
    context.close()
