"""The permission matrix for gov_services alone (the same rules as
tests/core/test_permission_matrix.py, on an app with only this plugin, so the plugin's
entries are checked even while other plugins' rows are being written): every gov_services
rule is declared in permissions.py, every view is gated or public for a stated reason, and
each role gets the declared answer."""

from __future__ import annotations

import re

import pytest

from core.testing import build_test_app, csrf_token, login
from core.testing_matrix import ANON, LOGIN, PUBLIC, ROLES
from tests.plugins.gov_services import permissions as perms


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app, cleanup = build_test_app(tmp_path_factory.mktemp("gsm"), plugins=["gov_services"])
    yield app
    cleanup()


def ours(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("gov_services")]


def test_every_rule_is_declared_and_gated(app):
    missing, unmarked = [], []
    for rule in ours(app):
        view = app.view_functions[rule.endpoint]
        cls = getattr(view, "view_class", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method) not in perms.MATRIX:
                missing.append((rule.endpoint, method))
            func = getattr(cls, method.lower(), None) if cls is not None else view
            if rule.endpoint not in perms.PUBLIC_VIEWS and not getattr(
                func, "required_permission", None
            ):
                unmarked.append((rule.endpoint, method))
    assert not missing and not unmarked, (missing, unmarked)
    public = {ep for (ep, _), e in perms.MATRIX.items() if e.who == PUBLIC}
    assert public == set(perms.PUBLIC_VIEWS)


def test_each_role_gets_the_declared_answer(app):
    from core.testing import ensure_user

    clients = {ANON: app.test_client()}
    tokens = {}
    for role in ROLES:
        c = app.test_client()
        login(c, app, role)
        clients[role] = c
        user = ensure_user(app, role)
        from core.identity.models import User
        from core.identity.services import create_token, resolve_permissions

        kernel = app.extensions["shequ"]
        with kernel.db.session_scope() as s:
            u = s.get(User, user.id)
            _, tokens[role] = create_token(
                s,
                u,
                name="m",
                permissions=None,
                expires_days=None,
                granted=set(resolve_permissions(u.role_names, kernel.roles)),
            )
    csrf = {who: csrf_token(c, "/") for who, c in clients.items()}
    failures = []
    for rule in ours(app):
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(perms.SAMPLE_VALUES[name]), url)
        api = url.startswith("/api/")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            entry = perms.MATRIX[(rule.endpoint, method)]
            for who in (ANON, *ROLES):
                kwargs: dict = {}
                if api:
                    if who != ANON:
                        kwargs["headers"] = {"Authorization": f"Bearer {tokens[who]}"}
                    if method in ("POST", "PUT"):
                        kwargs["json"] = {}
                elif method == "POST":
                    kwargs["data"] = {"csrf_token": csrf[who]}
                # the API with the bearer token alone: a session cookie next to it would
                # make the request cookie-authenticated, hence CSRF-checked (finding 8)
                client = app.test_client() if api else clients[who]
                resp = client.open(url, method=method, **kwargs)
                if entry.who == PUBLIC:
                    want = (entry.anon or entry.ok) if who == ANON else entry.ok
                elif who == ANON:
                    want = {401} if api else {302}
                elif entry.who == LOGIN or who in entry.who:
                    want = entry.ok
                else:
                    want = {entry.denied}
                if resp.status_code not in want:
                    failures.append(
                        f"{method} {url} as {who}: {resp.status_code} not in {sorted(want)}"
                    )
    assert not failures, "\n".join(failures)
