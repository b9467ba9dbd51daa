"""The plugin's permission-matrix entries, checked on an app with only this plugin
enabled (the core matrix test walks them together with everyone else's): every rule is
declared, every role gets the declared answer, every view carries a permission marker or
is public for a stated reason."""

from __future__ import annotations

import re

import pytest

from core.testing import csrf_token, login
from core.testing_matrix import ANON, LOGIN, PUBLIC, ROLES, WRITE
from tests.plugins.surveillance import permissions as perms


@pytest.fixture(scope="module")
def mapp(tmp_path_factory):
    from core.testing import build_test_app

    app, cleanup = build_test_app(tmp_path_factory.mktemp("svm"), plugins=["surveillance"])
    yield app
    cleanup()


def ours(app):
    return [
        r
        for r in app.url_map.iter_rules()
        if r.endpoint.split(".")[0] in ("surveillance", "surveillance_api")
    ]


def methods(rule):
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def test_every_rule_is_declared(mapp):
    missing = [
        (r.endpoint, m)
        for r in ours(mapp)
        for m in methods(r)
        if (r.endpoint, m) not in perms.MATRIX
    ]
    assert not missing
    declared = {(r.endpoint, m) for r in ours(mapp) for m in methods(r)}
    assert set(perms.MATRIX) == declared  # nothing stale either


def test_every_view_is_marked_or_public(mapp):
    unmarked = []
    for rule in ours(mapp):
        view = mapp.view_functions[rule.endpoint]
        if rule.endpoint in perms.PUBLIC_VIEWS:
            continue
        cls = getattr(view, "view_class", None)
        for m in methods(rule):
            func = getattr(cls, m.lower(), None) if cls is not None else view
            if not getattr(func, "required_permission", None):
                unmarked.append((rule.endpoint, m))
    assert not unmarked
    public = {ep for (ep, _), e in perms.MATRIX.items() if e.who == PUBLIC}
    assert public == set(perms.PUBLIC_VIEWS)


def test_each_role_gets_the_declared_answer(mapp):
    from core.identity.models import User
    from core.identity.services import create_token, resolve_permissions
    from core.testing import ensure_user

    kernel = mapp.extensions["shequ"]
    clients, tokens = {}, {}
    anonymous = mapp.test_client()
    clients[ANON] = (anonymous, csrf_token(anonymous, "/account/login"))
    for role in ROLES:
        c = mapp.test_client()
        login(c, mapp, role)
        clients[role] = (c, csrf_token(c, "/"))
        user = ensure_user(mapp, role)
        with kernel.db.session_scope() as session:
            u = session.get(User, user.id)
            _, tokens[role] = create_token(
                session,
                u,
                name="m",
                permissions=None,
                expires_days=None,
                granted=set(resolve_permissions(u.role_names, kernel.roles)),
            )
    # API calls go through a client without a session cookie: a cookie-authenticated
    # request is CSRF-checked whatever other headers it carries (issue 15, finding 8).
    bare = mapp.test_client()
    failures = []
    for rule in ours(mapp):
        api = rule.rule.startswith("/api/")
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(perms.SAMPLE_VALUES[name]), url)
        for m in methods(rule):
            entry = perms.MATRIX[(rule.endpoint, m)]
            for who in (ANON, *ROLES):
                client, token = clients[who]
                kwargs = {}
                if api:
                    client = bare
                    if who != ANON:
                        kwargs["headers"] = {"Authorization": f"Bearer {tokens[who]}"}
                    if m in ("POST", "PUT", "PATCH"):
                        kwargs["json"] = {}
                elif m in WRITE:
                    kwargs["data"] = {"csrf_token": token}
                resp = client.open(url, method=m, **kwargs)
                if entry.who == PUBLIC:
                    want = (entry.anon or entry.ok) if who == ANON else entry.ok
                elif who == ANON:
                    want = {401} if api else "login"
                elif entry.who == LOGIN or who in entry.who:
                    want = entry.ok
                else:
                    want = {entry.denied}
                if want == "login":
                    good = resp.status_code == 302 and "/account/login" in resp.headers.get(
                        "Location", ""
                    )
                else:
                    good = resp.status_code in want
                if not good:
                    failures.append(f"{m} {url} as {who}: {resp.status_code}, want {want}")
    assert not failures, "\n".join(failures)
