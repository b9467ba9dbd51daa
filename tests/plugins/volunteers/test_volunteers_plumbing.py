"""The plugin's plumbing: migrations give exactly the models, the permission matrix of
permissions.py holds for every volunteers rule and role (the core matrix runs it too once
the plugin is enabled by default), and the demo data seeds, idempotently, what the
shipped resident needs."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from sqlalchemy import func, select
from volunteers_kit import C1

from core import migrate
from core.hookspecs import DemoContext
from core.testing import csrf_token, login
from core.testing_matrix import ANON, LOGIN, PUBLIC, ROLES, WRITE, token_for_app
from core.toolkit import kernel_of
from plugins.volunteers.demo import seed
from plugins.volunteers.models import Activity, HoursEntry, Signup

HERE = Path(__file__).resolve().parent


def _fragment():
    spec = importlib.util.spec_from_file_location("_vol_matrix", HERE / "permissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_migrations_make_exactly_the_models(app):
    kernel = kernel_of(app)
    tree = next(t for t in migrate.trees_for(kernel.plugins) if t.owner == "volunteers")
    assert migrate.schema_diff(kernel.db.engine, tree) == []


def test_permission_matrix_of_the_volunteers_rules(app):
    frag = _fragment()
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("volunteers")]
    declared = {(r.endpoint, m) for r in rules for m in r.methods - {"HEAD", "OPTIONS"}}
    assert declared == set(frag.MATRIX), declared ^ set(frag.MATRIX)
    clients, tokens = {}, {}
    anonymous = app.test_client()
    clients[ANON] = (anonymous, csrf_token(anonymous, "/account/login"))
    for role in ROLES:
        c = app.test_client()
        login(c, app, role)
        clients[role] = (c, csrf_token(c, "/"))
        tokens[role] = token_for_app(app, role)
    bare = app.test_client(use_cookies=False)
    failures = []
    for rule in rules:
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(frag.SAMPLE_VALUES[name]), url)
        api = url.startswith("/api/")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            entry = frag.MATRIX[(rule.endpoint, method)]
            for who in (ANON, *ROLES):
                client, token = clients[who]
                kwargs: dict = {}
                if api:
                    if who != ANON:
                        client = bare
                        kwargs["headers"] = {"Authorization": f"Bearer {tokens[who]}"}
                    if method in ("POST", "PUT", "PATCH"):
                        kwargs["json"] = {}
                elif method in WRITE:
                    kwargs["data"] = {"csrf_token": token}
                resp = client.open(url, method=method, **kwargs)
                if who == ANON and entry.who != PUBLIC:
                    good = (resp.status_code == 401 if api else resp.status_code == 302
                            and "/account/login" in resp.headers.get("Location", ""))
                elif entry.who in (PUBLIC, LOGIN) or who in entry.who:
                    good = resp.status_code in entry.ok
                else:
                    good = resp.status_code == entry.denied
                if not good:
                    failures.append(f"{method} {url} as {who}: {resp.status_code}")
    assert not failures, "\n".join(failures)


def test_demo_seeds_activities_and_a_past_one_with_hours(app, world):
    from core.identity.models import User

    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as session:
        users = {"community_worker": session.get(User, world.worker.id),
                 "resident": session.get(User, world.resident.id)}
        community = type("C", (), {"code": C1})()
        demo = DemoContext(users=users, community=community, bus=kernel.bus)
        seed(session, demo)
        seed(session, demo)  # idempotent
    with app.app_context(), kernel.db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Activity)) == 3
        assert session.scalar(select(func.count()).select_from(HoursEntry)) >= 1
        # the shipped resident attended the past one and can sign up for the next
        assert session.scalar(select(HoursEntry.id).where(
            HoursEntry.person_id == world.p1)) is not None
        assert session.scalar(select(func.count()).select_from(Signup).where(
            Signup.status == "absent")) == 1
