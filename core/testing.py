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
PostgreSQL database; then every test gets a clean database on that server. Either way it
is a copy of one migrated once per plugin set (core/testing_db.py; ``SHEQU_TEST_TEMPLATES=0``
migrates every app instead).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.cli import AppContext
from core.config import DEFAULT_CONFIG, load_config
from core.current import kernel_of
from core.events import Event
from core.events.models import OutboxEvent
from core.plugins import PluginError, PluginHost
from core.registry.testing import C1, C2, G1, G2

__all__ = [
    "C1",
    "C2",
    "G1",
    "G2",
    "AppContext",
    "Event",
    "OutboxEvent",
    "PluginError",
    "PluginHost",
    "RegistryData",
    "access_count",
    "access_log",
    "app_today",
    "assert_api_fuzzes",
    "build_test_app",
    "csrf_token",
    "deliver_events",
    "ensure_user",
    "fuzz_api",
    "last_code",
    "login",
    "open_menu",
    "seed_demo",
    "sign_in",
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
    """Create a migrated app for tests; returns it with a clean-up function. Apps of
    installed plugins start from a copy of a database migrated once per plugin set
    (core/testing_db.py); ``extra`` plugins' apps migrate themselves."""
    from core import migrate as migrations
    from core import testing_db
    from core.app import create_app

    cleanups: list[Callable[[], None]] = []
    url = f"sqlite:///{tmp_path}/test.db"
    cached = os.environ.get("SHEQU_TEST_TEMPLATES", "1") != "0"  # 0: migrate every app
    # A test naming its own database (several apps on one file in turn) migrates it.
    own_database = bool(((config or {}).get("database") or {}).get("url"))
    key = (tuple(plugins or ()) if migrate and cached and not extra and not own_database
           else None)
    base = os.environ.get(TEST_DB_ENV)

    def migrated_at(target: str) -> None:
        scratch = Path(tempfile.mkdtemp(prefix="shequ-template-app-"))
        built = create_app(_test_config(scratch, target, plugins, config))
        kernel = kernel_of(built)
        try:
            migrations.upgrade(kernel.db.engine, migrations.trees_for(kernel.plugins))
        finally:
            kernel.bus.stop()
            kernel.db.dispose()
            shutil.rmtree(scratch, ignore_errors=True)

    if base and key is not None:
        url, drop = testing_db.postgres_copy(base, key, migrated_at)
        cleanups.append(drop)
    elif base:
        url, drop = _postgres_schema_url(base)
        cleanups.append(drop)
    elif key is not None:
        testing_db.sqlite_copy(key, tmp_path / "test.db", lambda path: migrated_at(f"sqlite:///{path}"))
    app = create_app(_test_config(tmp_path, url, plugins, config), plugins=extra)
    kernel = kernel_of(app)
    if migrate and key is None:
        migrations.upgrade(kernel.db.engine, migrations.trees_for(kernel.plugins))

    def cleanup() -> None:
        kernel.bus.stop()
        kernel.db.dispose()
        for fn in reversed(cleanups):
            fn()

    return app, cleanup


def _test_config(tmp_path: Path, url: str, plugins: list[str] | None,
                 config: dict[str, Any] | None) -> Any:
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
    return load_config(DEFAULT_CONFIG, overrides=overrides, environ={})


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
    return kernel_of(app)


@pytest.fixture
def db_session(app: Flask) -> Iterator[Any]:
    session = kernel_of(app).db.Session()
    yield session
    session.rollback()
    session.close()


def ensure_user(app: Flask, role: str, *, username: str | None = None) -> Any:
    """A user holding ``role`` (created once per app), password ``TEST_PASSWORD``."""
    from sqlalchemy import select

    from core.identity.models import User
    from core.identity.services import create_user

    username = username or f"test_{role}"
    kernel = kernel_of(app)
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


def sign_in(client: FlaskClient, username: str, password: str = TEST_PASSWORD) -> FlaskClient:
    """Sign ``client`` in as ``username`` through the real login form (CSRF token
    included); returns the client."""
    resp = client.post("/account/login", data={
        "username": username, "password": password,
        "csrf_token": csrf_token(client, "/account/login")})
    assert resp.status_code == 302, f"sign-in as {username} failed: {resp.status_code}"
    return client


def login(client: FlaskClient, app: Flask, role: str) -> Any:
    """Sign ``client`` in through the real login form as a user holding ``role``."""
    user = ensure_user(app, role)
    sign_in(client, user.username)
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
        kernel = kernel_of(app)
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


def app_today(app: Flask | None = None) -> date:
    """Today as the app counts days (``[app] timezone``), outside a request as well: what a
    test compares a due date or an age with. ``date.today()`` is the server's day, which
    from 16:00 UTC is a day behind Beijing's, so such a test fails every evening."""
    from core.db import local_today

    return local_today(kernel=kernel_of(app) if app is not None else None)


def seed_demo(app: Flask, echo: Callable[[str], Any] = lambda _msg: None) -> None:
    """Load the demo data (what ``make run`` does; idempotent)."""
    from core.demo import seed

    seed(app, echo=echo)


def access_log(app: Flask, person_id: int, *, via: str | None = None,
               actor: str | None = None) -> list[dict[str, Any]]:
    """The entries of ``person_id``'s access log (newest first) as plain dicts: ``actor``
    (the viewer; in the assisted channel the agent), ``on_behalf_of`` (the assisted
    resident's account id, or None), ``via`` (plugin),
    ``purpose``, ``fields``, ``masked`` and ``count`` (identical reads in one day are one
    entry). Filter by plugin (``via``) or viewer (``actor``) to assert a display was
    logged: every page or API that shows a person to someone else must add one."""
    from core.audit.models import AccessEntry

    with app.app_context():
        kernel = kernel_of(app)
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
    bus = kernel_of(app).bus
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


def open_menu(page: Any) -> Any:
    """Open the header menu as a phone user does (its button), unless it is open already
    (a desk screen keeps it open); returns the menu, so ``open_menu(page).get_by_role(
    "link", name="...")`` finds a navigation link or a header tool."""
    menu = page.locator("#site-menu")
    if menu.get_attribute("open") is None:
        page.locator("#site-menu > summary").click()
    return menu


# ------------------------------------------------------------------------------ registry data
#
# Tests of a plugin that reacts to residents (a subscriber to ``registry.person.moved``, a
# page that shows a person) need real registry rows, made the way production makes them,
# so the events a plugin subscribes to are the real ones with the real payloads. These
# helpers go through core's registry services (validation, history, events), never around
# them. Codes of the places they make: ``C1``/``C2`` (communities), ``G1``/``G2`` (grids).


class RegistryData:
    """Registry rows for one app's tests, made through core's registry services.

    ``places`` (made on first use): a street, two communities ``C1`` (和平里社区) and ``C2``
    (安康社区), a grid in each (``G1``, ``G2``) and three dwellings — ``"d1"`` and ``"d2"``
    in C1, ``"d3"`` in C2. Every method commits, and returns ids (never ORM objects that
    outlive their session). Events are published into the outbox as in production;
    :meth:`deliver` runs the subscribers (tests run with ``events.delivery = "manual"``).
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.kernel = kernel_of(app)
        self._places: dict[str, int] | None = None
        self._seq = 0

    # -- places
    def places(self) -> dict[str, int]:
        """``{"d1": id, "d2": id, "d3": id}``: the dwellings' ids (communities by code)."""
        if self._places is None:
            from sqlalchemy import select

            from core.registry.models import Community, Dwelling
            from core.registry.testing import make_places

            with self.app.app_context(), self.kernel.db.session_scope() as session:
                if session.scalar(select(Community.id).where(Community.code == C1)) is None:
                    p = make_places(session)
                    self._places = {"d1": p.d1.id, "d2": p.d2.id, "d3": p.d3.id}
                else:  # made by an earlier helper on the same app
                    ids = list(session.scalars(select(Dwelling.id).order_by(Dwelling.id)))
                    self._places = dict(zip(("d1", "d2", "d3"), ids, strict=False))
        return self._places

    def dwelling(self, name: str | int | None) -> int | None:
        """A dwelling id from ``"d1"``/``"d2"``/``"d3"`` (or an id, or ``None``)."""
        if name is None or isinstance(name, int):
            return name
        return self.places()[name]

    # -- persons
    def person(self, name: str = "张三", *, dwelling: str | int | None = "d1",
               community: str | None = None, born: str = "1980-01-01", sex: str = "M",
               phone: str | None = None, id_number: str | None = None,
               household: int | None = None, relation: str = "99",
               **fields: Any) -> int:
        """Register a person and return their id. By default they live in dwelling
        ``"d1"`` (community ``C1``); ``dwelling=None, community=C2`` registers them in a
        community without a dwelling. A valid ID number is made from ``born``/``sex``
        unless given; ``fields`` are other registry fields (``ethnicity``, ``hukou_type``,
        …, see docs/registry.md). Publishes ``registry.person.registered``."""
        from core.registry import services
        from core.registry.testing import make_id

        self._seq += 1
        if id_number is None:  # sequence numbers 1-499 give distinct valid numbers
            id_number = make_id(born, sex, seq=(len(self._used()) + self._seq) % 499 + 1)
        data = {"name": name, "id_number": id_number, "sex": sex, "birth_date": born,
                "phone": phone, **fields}
        dwelling_id = self.dwelling(dwelling)
        if dwelling_id is None and community is None:
            community = C1
        if community is not None or dwelling_id is not None:
            self.places()
        with self.app.app_context(), self.kernel.db.session_scope() as session:
            person = services.register_person(
                session, data, bus=self.kernel.bus, dwelling_id=dwelling_id,
                community=community if dwelling_id is None else None,
                household_id=household, relation=relation if household else None,
                via="test")
            return int(person.id)

    def _used(self) -> list[int]:
        from sqlalchemy import select

        from core.registry.models import Person

        with self.app.app_context(), self.kernel.db.session_scope() as session:
            return list(session.scalars(select(Person.id)))

    def household(self, head: int, members: dict[int, str] | None = None) -> int:
        """A household headed by person ``head``, with ``members`` (person id → relation
        to the head: GB/T 4761 codes, ``"20"`` a child, ``"10"`` a spouse, ``"99"``
        other). Returns its id; publishes ``registry.household.changed``."""
        from core.registry import services

        with self.app.app_context(), self.kernel.db.session_scope() as session:
            hh = services.create_household(session, head_id=head, bus=self.kernel.bus,
                                           via="test")
            for pid, relation in (members or {}).items():
                services.add_member(session, hh.id, pid, relation, bus=self.kernel.bus,
                                    via="test")
            return int(hh.id)

    def move(self, person_id: int, to: str | int | None = "d3", *,
             on: str | None = None) -> None:
        """Move a person to another dwelling (``"d3"`` is in community ``C2``), or out of
        the area (``to=None``). Publishes ``registry.person.moved`` — the payload a
        subscriber gets: ``person_id``, ``from_community``, ``to_community``,
        ``from_dwelling_id``, ``to_dwelling_id``, ``on``, ``via``."""
        from datetime import date

        from core.registry import services

        with self.app.app_context(), self.kernel.db.session_scope() as session:
            services.move_person(session, person_id, to_dwelling_id=self.dwelling(to),
                                 bus=self.kernel.bus, via="test",
                                 on=date.fromisoformat(on) if on else None)

    def die(self, person_id: int, *, on: str | None = None) -> None:
        """Record a death. Publishes ``registry.person.deceased``."""
        from datetime import date

        from core.registry import services

        with self.app.app_context(), self.kernel.db.session_scope() as session:
            services.record_death(session, person_id, bus=self.kernel.bus, via="test",
                                  died_on=date.fromisoformat(on) if on else None)

    def deliver(self) -> int:
        """Run every subscriber on what was published (until nothing is due); returns how
        many deliveries ran. A subscriber that raises is retried later, as in production:
        see ``shequ events dead`` / the outbox to assert on failures."""
        return deliver_events(self.app)

    def assign(self, role: str, *communities: str) -> Any:
        """Give the fixture staff account of ``role`` these communities as its place scope
        (``assign("community_worker", C1)``; no community: every place). Staff see the
        registry's people only within their assignment — with none they see nobody.
        Returns the user (detached)."""
        from core.identity.models import User
        from core.identity.services import set_scopes

        user = ensure_user(self.app, role)
        admin = ensure_user(self.app, "admin")
        scopes = [("community", c) for c in communities] or [("all", "")]
        with self.app.app_context(), self.kernel.db.session_scope() as session:
            set_scopes(session, session.get(User, user.id), scopes,
                       admin=session.get(User, admin.id))
        return ensure_user(self.app, role)

    def bind(self, role: str, person_id: int) -> Any:
        """Make the fixture account of ``role`` (see :func:`ensure_user`) the verified
        account of ``person_id`` — so ``toolkit.accounts_for_person`` finds it and pages
        show that resident their own data. Returns the user (detached)."""
        from core.identity.models import User
        from core.toolkit import utcnow

        user = ensure_user(self.app, role)
        with self.app.app_context(), self.kernel.db.session_scope() as session:
            row = session.get(User, user.id)
            row.person_id, row.verified_at, row.verification_method = person_id, utcnow(), "self"
        return ensure_user(self.app, role)


def deliver_events(app: Flask) -> int:
    """Deliver every pending event to its subscribers now, in this process (tests run with
    ``events.delivery = "manual"``). Returns how many deliveries were attempted."""
    from core.events.delivery import deliver_pending

    return int(deliver_pending(app).attempted)


def last_code(app: Flask, recipient: str, purpose: str | None = None) -> str | None:
    """The newest one-time code sent to ``recipient`` (a phone or an address), for tests
    that sign up, verify or reset: read from the outbox while the message waits for
    delivery (``events.delivery = "manual"``), or from the development ``console``
    channel's memory once it was sent (the outbox blanks a sent code). None if none."""
    from sqlalchemy import select

    from core.current import kernel_of
    from core.identity.models import OutboundMessage
    from core.identity.otp import normalise_recipient

    for channel in ("sms", "email"):
        wanted = normalise_recipient(channel, recipient)
        with app.app_context(), kernel_of(app).db.session_scope() as session:
            rows = session.scalars(
                select(OutboundMessage)
                .where(OutboundMessage.recipient == wanted, OutboundMessage.template == "otp")
                .order_by(OutboundMessage.id.desc())
            ).all()
            for row in rows:
                params = row.params or {}
                if purpose and params.get("purpose") != purpose:
                    continue
                if params.get("code"):
                    return str(params["code"])
                break
    try:
        from core.identity.channels.console import sent  # the development channel's memory
    except ImportError:
        return None
    wanted_any = {normalise_recipient("sms", recipient), normalise_recipient("email", recipient)}
    for item in reversed(sent()):
        params = item.get("params") or {}
        if item.get("recipient") not in wanted_any or item.get("template") != "otp":
            continue
        if not purpose or params.get("purpose") == purpose:
            return str(params.get("code") or "") or None
    return None


@pytest.fixture
def registry_data(app: Flask) -> RegistryData:
    """:class:`RegistryData` on the ``app`` fixture: ``registry_data.person("李四")``,
    ``.household(head, {child: "20"})``, ``.move(pid, "d3")``, ``.die(pid)``,
    ``.deliver()``."""
    return RegistryData(app)


# ------------------------------------------------------------------------------ fuzzing


def fuzz_api(app: Flask, prefix: str, *, headers: dict[str, str] | None = None,
             role: str | None = "admin", anonymous: bool = True, max_examples: int | None = None,
             seed: int | None = 1) -> list[str]:
    """Fuzz the API operations under ``prefix`` (``"/api/v1/library"``) with schemathesis,
    from the app's own OpenAPI document, and return the failures (empty: all good).

    Each operation is called with generated requests — valid ones and invalid ones — and
    every response is checked: no 500, a status the operation documents, a JSON body that
    matches the documented schema, and a request the schema allows is not refused as
    invalid (a rule the schema cannot express is a 409, docs/api.md). Run twice: with no
    credentials (``anonymous``) and as a user of ``role`` with a full bearer token (or
    with the ``headers`` given). Core's suite fuzzes the built-in plugins this way; a
    plugin calls it on its own operations (see :func:`assert_api_fuzzes`).

    ``max_examples`` per operation and run: 25 unless ``SHEQU_FUZZ_EXAMPLES`` says
    otherwise (CI's second database uses fewer: with the seed fixed they are the first of
    the same examples, so the one database finds what the other would)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    if max_examples is None:
        max_examples = int(os.environ.get("SHEQU_FUZZ_EXAMPLES", "25"))

    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema = loaded.include(path_regex="^" + _regex_escape(prefix.rstrip("/")) + "(/|$)")
    if headers is None and role is not None:
        headers = {"Authorization": f"Bearer {_full_token(app, role)}"}
    runs: list[dict[str, str] | None] = ([None] if anonymous else []) + (
        [headers] if headers else [])
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]  # schemathesis' Result union: get_all_operations yields Ok for a valid document
    if not operations:
        return [f"no API operation under {prefix} in the OpenAPI document"]
    for operation in operations:
        for creds in runs:
            def make_run(creds: dict[str, str] | None, operation: Any = operation) -> Any:
                @given(case=operation.as_strategy())
                @settings(max_examples=max_examples, deadline=None, database=None,
                          derandomize=seed is not None,
                          suppress_health_check=list(HealthCheck))
                def run(case: Any) -> None:
                    if creds is not None:
                        case.headers = {**(case.headers or {}), **creds}
                    case.call_and_validate()

                return run

            try:
                make_run(creds)()
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis failures, view errors
                who = "anonymous" if creds is None else (role or "with headers")
                text = str(exc).strip().splitlines()
                failures.append(f"{operation.label} ({who}): {' / '.join(text[:12])}")
    return failures


def assert_api_fuzzes(app: Flask, prefix: str, **options: Any) -> None:
    """:func:`fuzz_api`, failing the test with every failure listed. In a plugin's tests::

        def test_api_survives_the_fuzzer(app):
            assert_api_fuzzes(app, "/api/v1/library")
    """
    failures = fuzz_api(app, prefix, **options)
    assert not failures, "the API fuzzer found:\n" + "\n".join(failures)


def _regex_escape(text: str) -> str:
    import re

    return re.escape(text)


def _full_token(app: Flask, role: str) -> str:
    from core.identity.models import User
    from core.identity.services import create_token, resolve_permissions

    user = ensure_user(app, role)
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as session:
        row = session.get(User, user.id)
        _, token = create_token(session, row, name="fuzz", permissions=None, expires_days=None,
                                granted=set(resolve_permissions(row.role_names, kernel.roles)))
    return token
