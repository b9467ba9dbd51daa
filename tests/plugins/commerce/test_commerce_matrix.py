"""The commerce rows of the permission matrix, checked on an app with only this plugin:
every commerce rule is declared in permissions.py next to this file, every role gets the
declared answer, and every view carries a permission marker or is public for a reason.
(tests/core/test_permission_matrix.py walks the same table for the whole app.)"""

from __future__ import annotations

import re

import pytest

from core.testing import csrf_token, login
from core.testing_matrix import ANON, LOGIN, PUBLIC, ROLES, WRITE
from tests.plugins.commerce import permissions as perms


@pytest.fixture(scope="module")
def matrix_app(tmp_path_factory):
    from core.testing import build_test_app

    app, cleanup = build_test_app(tmp_path_factory.mktemp("matrix"), plugins=["commerce"])
    yield app
    cleanup()


def commerce_rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("commerce")]


def methods(rule):
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def test_every_commerce_rule_is_declared(matrix_app):
    missing = [
        (r.endpoint, m)
        for r in commerce_rules(matrix_app)
        for m in methods(r)
        if (r.endpoint, m) not in perms.MATRIX
    ]
    assert not missing
    declared = {ep for ep, _ in perms.MATRIX}
    assert declared <= {r.endpoint for r in commerce_rules(matrix_app)}


def test_commerce_views_are_gated_or_public(matrix_app):
    unmarked = []
    for rule in commerce_rules(matrix_app):
        view = matrix_app.view_functions[rule.endpoint]
        if rule.endpoint in perms.PUBLIC_VIEWS:
            continue
        cls = getattr(view, "view_class", None)
        for m in methods(rule):
            func = getattr(cls, m.lower(), None) if cls is not None else view
            if not getattr(func, "required_permission", None):
                unmarked.append(f"{m} {rule.rule}")
    assert not unmarked
    public = {ep for (ep, _), e in perms.MATRIX.items() if e.who == PUBLIC}
    assert public == set(perms.PUBLIC_VIEWS)


def test_commerce_permission_matrix(matrix_app):
    from commerce_kit import token

    from core.testing import ensure_user

    app = matrix_app
    anonymous = app.test_client()
    clients = {ANON: (anonymous, csrf_token(anonymous, "/account/login"))}
    tokens = {}
    for role in ROLES:
        client = app.test_client()
        login(client, app, role)
        clients[role] = (client, csrf_token(client, "/"))
        tokens[role] = token(app, ensure_user(app, role).username)
    # API calls carry the bearer token only: a request with a session cookie is
    # CSRF-checked whatever other headers it carries.
    bare = app.test_client()
    failures = []
    for rule in commerce_rules(app):
        api = rule.rule.startswith("/api/")
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(perms.SAMPLE_VALUES[name]), url)
        for method in methods(rule):
            entry = perms.MATRIX[(rule.endpoint, method)]
            for who in (ANON, *ROLES):
                client, csrf = clients[who]
                kwargs: dict = {}
                if api:
                    if who != ANON:
                        kwargs["headers"] = tokens[who]
                        client = bare
                    if method in ("POST", "PUT", "PATCH"):
                        kwargs["json"] = {}
                elif method in WRITE:
                    kwargs["data"] = {"csrf_token": csrf}
                resp = client.open(url, method=method, **kwargs)
                if entry.who == PUBLIC:
                    good = resp.status_code in (
                        (entry.anon or entry.ok) if who == ANON else entry.ok
                    )
                elif who == ANON:
                    good = (
                        (resp.status_code == 401)
                        if api
                        else (
                            resp.status_code == 302
                            and "/account/login" in resp.headers.get("Location", "")
                        )
                    )
                elif entry.who == LOGIN or who in entry.who:
                    good = resp.status_code in entry.ok
                else:
                    good = resp.status_code == entry.denied
                if not good:
                    failures.append(f"{method} {url} as {who}: {resp.status_code}")
    assert not failures, "\n".join(failures)
