"""The permission matrix: every URL rule × every role → the expected answer, from a table.

``MATRIX`` below declares, for each endpoint and method of the app (core, the four
built-in plugins and the example plugin "hello" when installed), who may use it. The test
walks ``app.url_map`` and FAILS when a rule is missing from the table, so every new
endpoint has to be declared here (docs/requirements.md R07, R08). Answers are derived as:

* a role the entry allows → one of the entry's ``ok`` statuses;
* a signed-in role it does not allow → ``denied`` (403, or 404 where an object check hides
  what exists);
* anonymous → the page's redirect to the sign-in form, or 401 on the API; public entries
  answer anonymous with ``anon`` (default: ``ok``).

State-changing requests carry a valid CSRF token (pages) or a bearer token (API) and an
empty or invalid body: the point is the permission gate, which must answer before any
validation does. Also here: the generalised CSRF test (R04) and the check that every view
carries a permission marker or is on the public allow-list (R08).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.plugins import discover
from core.testing import csrf_token, ensure_user, login
from core.testing_matrix import (
    ANON,
    LOGIN,
    PUBLIC,
    ROLES,
    WRITE,
    E,
    load_fragments,
    ok,
    only,
    token_for_app,
)

PLUGINS = ["gov_services", "commerce", "self_governance", "surveillance", "grid", "volunteers",
           "documents", "matters"]
WITH_HELLO = "hello" in discover()

ADMIN = only("admin")
READERS = only("auditor", "admin")  # identity.user.read, audit.*, core.*.read
TOKEN_MAKERS = only("community_worker", "hotline_operator", "security_officer", "admin")
ASSISTERS = only("community_worker", "hotline_operator", "admin")
PERSON_READERS = only("community_worker", "hotline_operator", "security_officer", "admin")
REGISTRY_STAFF = only("community_worker", "admin")  # write, reveal, import, export, review
DASHBOARD = only("community_worker", "committee_member", "admin")
NOTICERS = only("community_worker", "admin")  # notices.send, notices.read
VERIFIED = only()  # verified residents only; the matrix's accounts are not verified
HELLO_READ = only("resident", "community_worker", "auditor", "admin")
HELLO_SEND = only("resident", "community_worker", "admin")

#: (endpoint, method) → expectation. Every rule of the app must be here.
MATRIX: dict[tuple[str, str], E] = {
    # ---------------------------------------------------------------- public shell
    ("web.home", "GET"): E(PUBLIC),
    ("web.api_docs", "GET"): E(PUBLIC),
    ("web.set_language", "POST"): E(PUBLIC, ok(302)),
    ("web.set_elder_mode", "POST"): E(PUBLIC, ok(302)),
    ("api-docs.openapi_json", "GET"): E(PUBLIC),
    ("health.healthz", "GET"): E(PUBLIC),
    # Prometheus scrapes: allowed networks or the metrics token, checked by the view itself
    ("metrics", "GET"): E(PUBLIC, ok(200, 403, 404)),
    ("static", "GET"): E(PUBLIC),
    # ---------------------------------------------------------------- sign-in, account
    ("identity.login", "GET"): E(PUBLIC),
    ("identity.login", "POST"): E(PUBLIC, ok(400)),  # blank form
    ("identity.logout", "POST"): E(PUBLIC, ok(302), fresh=True),
    ("identity.password", "GET"): E(LOGIN),
    ("identity.password", "POST"): E(LOGIN, ok(400)),
    # forgot the password: signed in, to the password page; anonymous, the form (blank: 400)
    ("identity.reset", "GET"): E(PUBLIC, ok(302), anon=ok(200)),
    ("identity.reset", "POST"): E(PUBLIC, ok(302), anon=ok(400)),
    ("identity.reset_code", "GET"): E(PUBLIC, ok(302)),  # nothing asked for: to the form
    ("identity.reset_code", "POST"): E(PUBLIC, ok(302)),
    ("account.signup", "GET"): E(PUBLIC, ok(302), anon=ok(200)),  # signed in: to the account
    ("account.signup", "POST"): E(PUBLIC, ok(302), anon=ok(400)),
    ("account.index", "GET"): E(LOGIN),
    ("account.verify", "GET"): E(LOGIN),
    ("account.verify", "POST"): E(LOGIN, ok(400)),
    ("account.sessions", "GET"): E(LOGIN),
    ("account.end_session_view", "POST"): E(LOGIN, ok(404)),  # not one of yours
    ("account.end_other_sessions_view", "POST"): E(LOGIN, ok(302)),
    ("account.tokens", "GET"): E(TOKEN_MAKERS),
    ("account.tokens", "POST"): E(TOKEN_MAKERS, ok(400)),
    ("account.revoke_token_view", "POST"): E(LOGIN, ok(404)),
    ("account.notifications", "GET"): E(LOGIN),
    ("account.notification_read", "POST"): E(LOGIN, ok(302)),  # others' ids are ignored
    ("account.notifications_read_all", "POST"): E(LOGIN, ok(302)),
    ("account.access_log", "GET"): E(LOGIN),
    ("account.assist", "GET"): E(ASSISTERS),
    ("account.assist", "POST"): E(ASSISTERS, ok(400)),
    ("account.assist_stop", "POST"): E(LOGIN, ok(302)),
    # ---------------------------------------------------------------- staff pages
    ("web.admin_plugins", "GET"): E(READERS),
    ("events_admin.admin_events", "GET"): E(READERS),
    ("events_admin.admin_events_retry", "POST"): E(ADMIN, ok(302)),
    ("identity_admin.accounts", "GET"): E(READERS),
    ("identity_admin.account", "GET"): E(READERS),
    ("identity_admin.account_new", "GET"): E(ADMIN),
    ("identity_admin.account_new", "POST"): E(ADMIN, ok(400)),
    ("identity_admin.account_roles", "POST"): E(ADMIN, ok(302)),
    ("identity_admin.account_scopes", "POST"): E(ADMIN, ok(302)),
    ("identity_admin.account_disable", "POST"): E(ADMIN, ok(400)),  # no reason given
    ("identity_admin.account_enable", "POST"): E(ADMIN, ok(302)),
    ("identity_admin.account_end_sessions", "POST"): E(ADMIN, ok(302)),
    ("identity_admin.account_reset_password", "POST"): E(ADMIN, ok(200)),
    ("identity_admin.roles", "GET"): E(READERS),
    ("identity_admin.role", "GET"): E(ADMIN),
    ("identity_admin.role", "POST"): E(ADMIN, ok(400)),  # nothing shown, nothing changed
    ("identity_admin.audit", "GET"): E(READERS),
    ("identity_admin.access", "GET"): E(READERS),
    ("identity_admin.messages", "GET"): E(READERS),
    # ---------------------------------------------------------------- identity API
    ("identity_api.Me", "GET"): E(LOGIN),
    ("identity_api.Users", "GET"): E(READERS),
    ("identity_api.Users", "POST"): E(ADMIN, ok(422)),
    ("identity_api.UserItem", "GET"): E(READERS),
    ("identity_api.UserItem", "PATCH"): E(ADMIN, ok(200)),  # {} changes nothing
    ("identity_api.ResetPassword", "POST"): E(ADMIN, ok(200)),
    ("identity_api.PasswordReset", "POST"): E(PUBLIC, ok(422)),  # {}: the login is required
    ("identity_api.PasswordResetConfirm", "POST"): E(PUBLIC, ok(422)),
    ("identity_api.Roles", "GET"): E(READERS),
    ("identity_api.RolePermissionItem", "PUT"): E(ADMIN, ok(422)),
    ("identity_logs_api.Audit", "GET"): E(READERS),
    ("identity_logs_api.Access", "GET"): E(READERS),
    ("identity_logs_api.Messages", "GET"): E(READERS),
    # the resident's own API (core.identity.resident_api), when it is mounted
    ("identity_account.Notifications", "GET"): E(LOGIN),
    ("identity_account.NotificationsRead", "POST"): E(LOGIN, ok(200, 422)),
    ("identity_account.AccessLog", "GET"): E(LOGIN),
    ("identity_account.Sessions", "GET"): E(LOGIN),
    ("identity_account.SessionItem", "DELETE"): E(LOGIN, ok(404)),
    ("identity_account.Tokens", "GET"): E(LOGIN),
    ("identity_account.Tokens", "POST"): E(TOKEN_MAKERS, ok(422)),
    ("identity_account.TokenItem", "DELETE"): E(LOGIN, ok(404)),
    # ---------------------------------------------------------------- registry pages
    ("registry.search", "GET"): E(PERSON_READERS),
    ("registry.search", "POST"): E(PERSON_READERS, ok(303)),  # a name query → GET address
    ("registry.person", "GET"): E(PERSON_READERS, ok(404)),
    ("registry.person_reveal", "POST"): E(REGISTRY_STAFF, ok(404)),
    ("registry.household", "GET"): E(PERSON_READERS, ok(404)),
    ("registry.building", "GET"): E(PERSON_READERS, ok(404)),
    ("registry.organisations", "GET"): E(REGISTRY_STAFF),
    ("registry.organisation", "GET"): E(REGISTRY_STAFF, ok(404)),
    ("registry.import_start", "GET"): E(REGISTRY_STAFF),
    ("registry.import_start", "POST"): E(REGISTRY_STAFF, ok(400)),  # no file
    ("registry.import_template", "GET"): E(REGISTRY_STAFF),
    ("registry.import_check", "GET"): E(REGISTRY_STAFF, ok(404)),  # not your upload
    ("registry.import_confirm", "POST"): E(REGISTRY_STAFF, ok(404)),
    ("registry.import_rejected", "GET"): E(REGISTRY_STAFF, ok(404)),
    ("registry.import_history", "GET"): E(REGISTRY_STAFF),
    ("registry.import_revert", "GET"): E(REGISTRY_STAFF, ok(404)),  # no such import
    ("registry.import_revert", "POST"): E(REGISTRY_STAFF, ok(404)),
    ("registry.export", "GET"): E(REGISTRY_STAFF),
    ("registry.export", "POST"): E(REGISTRY_STAFF, ok(200)),  # a masked CSV of nobody
    ("registry.dashboard", "GET"): E(DASHBOARD),
    ("registry.corrections", "GET"): E(REGISTRY_STAFF),
    ("registry.correction", "GET"): E(REGISTRY_STAFF, ok(404)),
    ("registry.correction", "POST"): E(REGISTRY_STAFF, ok(404)),
    ("registry.my_record", "GET"): E(VERIFIED),
    ("registry.my_correction", "GET"): E(VERIFIED),
    ("registry.my_correction", "POST"): E(VERIFIED),
    ("registry.my_correction_sent", "GET"): E(VERIFIED),
    # ---------------------------------------------------------------- registry API
    ("registry_persons.Persons", "GET"): E(PERSON_READERS),
    ("registry_persons.Persons", "POST"): E(REGISTRY_STAFF, ok(422)),
    ("registry_persons.PersonsSearch", "POST"): E(PERSON_READERS),
    # a resident reads their own person, staff within their places; otherwise 404
    ("registry_persons.PersonItem", "GET"): E(LOGIN, ok(404), denied=404),
    ("registry_persons.PersonItem", "PATCH"): E(REGISTRY_STAFF, ok(422)),  # no version
    ("registry_persons.PersonReveal", "POST"): E(REGISTRY_STAFF, ok(422)),  # no purpose
    ("registry_persons.PersonMove", "POST"): E(REGISTRY_STAFF, ok(422)),
    ("registry_persons.PersonDeath", "POST"): E(REGISTRY_STAFF, ok(404)),
    ("registry_places.HouseholdItem", "GET"): E(PERSON_READERS, ok(404)),
    ("registry_places.BuildingItem", "GET"): E(PERSON_READERS, ok(404)),
    ("registry_organisations.Organisations", "GET"): E(REGISTRY_STAFF),
    ("registry_organisations.Organisations", "POST"): E(REGISTRY_STAFF, ok(422)),
    ("registry_organisations.OrganisationItem", "GET"): E(REGISTRY_STAFF, ok(404)),
    ("registry_imports.Imports", "POST"): E(REGISTRY_STAFF, ok(422)),
    ("registry_imports.Imports", "GET"): E(REGISTRY_STAFF),
    ("registry_imports.ImportRevert", "POST"): E(REGISTRY_STAFF, ok(404)),
    # a resident's own correction requests (verified accounts only) and their review
    ("registry_corrections.OwnCorrections", "GET"): E(VERIFIED),
    ("registry_corrections.OwnCorrections", "POST"): E(VERIFIED),
    ("registry_corrections.OwnCorrectionItem", "GET"): E(VERIFIED),
    ("registry_corrections.Corrections", "GET"): E(REGISTRY_STAFF),
    ("registry_corrections.CorrectionItem", "GET"): E(REGISTRY_STAFF, ok(404)),
    ("registry_corrections.CorrectionDecision", "POST"): E(REGISTRY_STAFF, ok(422)),  # {}
    ("registry_reports.Dashboard", "GET"): E(DASHBOARD),
    ("registry_reports.Export", "POST"): E(REGISTRY_STAFF, ok(200)),  # a masked CSV of nobody
    # ---------------------------------------------------------------- notices to many
    ("notices.index", "GET"): E(NOTICERS),
    ("notices.new", "GET"): E(NOTICERS),
    ("notices.new", "POST"): E(NOTICERS, ok(400)),  # blank form: nothing sent
    ("notices.show", "GET"): E(NOTICERS, ok(404)),  # no such notice
    ("notices.preferences", "GET"): E(LOGIN),  # a resident's own opt-out
    ("notices.preferences", "POST"): E(LOGIN, ok(302)),
    ("notices_api.NoticePreview", "POST"): E(NOTICERS, ok(422)),
    ("notices_api.Notices", "POST"): E(NOTICERS, ok(422)),
    ("notices_api.NoticeItem", "GET"): E(NOTICERS, ok(404)),
    # ---------------------------------------------------------------- exchange
    ("exchange_admin.clients", "GET"): E(READERS),
    ("exchange_admin.client_new", "GET"): E(ADMIN),
    ("exchange_admin.client_new", "POST"): E(ADMIN, ok(400)),  # blank form
    ("exchange_admin.client", "GET"): E(READERS, ok(404)),
    ("exchange_admin.client_edit", "GET"): E(ADMIN, ok(404)),
    ("exchange_admin.client_edit", "POST"): E(ADMIN, ok(404)),
    ("exchange_admin.client_suspend", "POST"): E(ADMIN, ok(404)),
    ("exchange_admin.client_resume", "POST"): E(ADMIN, ok(404)),
    ("exchange_admin.client_rotate", "POST"): E(ADMIN, ok(404)),
    ("exchange_admin.redeliver", "POST"): E(ADMIN, ok(404)),
    # the administration of clients through the API (user accounts, like the pages)
    ("exchange_clients.Clients", "GET"): E(READERS),
    ("exchange_clients.Clients", "POST"): E(ADMIN, ok(422)),  # {}: the name is required
    ("exchange_clients.ClientItem", "GET"): E(READERS, ok(404)),
    ("exchange_clients.ClientItem", "PUT"): E(ADMIN, ok(422)),
    ("exchange_clients.ClientSuspend", "POST"): E(ADMIN, ok(422)),  # {}: no reason
    ("exchange_clients.ClientResume", "POST"): E(ADMIN, ok(404)),
    ("exchange_clients.ClientRotate", "POST"): E(ADMIN, ok(422)),
    ("exchange_clients.ClientReplay", "POST"): E(ADMIN, ok(422)),
    ("exchange_clients.ClientBackfill", "POST"): E(ADMIN, ok(422)),
    ("exchange_clients.ClientDeliveries", "GET"): E(READERS, ok(404)),
    ("exchange_clients.Deliveries", "GET"): E(READERS),
    ("exchange_clients.Redeliver", "POST"): E(ADMIN, ok(404)),
    ("exchange_api.Schemas", "GET"): E(PUBLIC),
    ("exchange_api.SchemaItem", "GET"): E(PUBLIC),
    # external clients authenticate with an exchange token; user tokens and sessions: 401
    ("exchange_api.Events", "GET"): E(PUBLIC, ok(401)),
    ("exchange_api.Facts", "POST"): E(PUBLIC, ok(401)),
    # ---------------------------------------------------------------- plugins
    ("hello.index", "GET"): E(HELLO_READ),
    ("hello.index", "POST"): E(HELLO_READ, ok(200, 400)),  # readers who may not send: 200
    ("hello_api.Greetings", "GET"): E(HELLO_READ),
    ("hello_api.Greetings", "POST"): E(HELLO_SEND, ok(422)),
}

#: Each built-in plugin declares its own entries in tests/plugins/<id>/permissions.py.
FRAGMENTS = load_fragments(Path(__file__).resolve().parents[1] / "plugins")
MATRIX.update(FRAGMENTS.matrix)

#: Views that need no permission at all, each for a reason.
PUBLIC_VIEWS = {
    "web.home": "the start page",
    "web.api_docs": "the API reference",
    "web.set_language": "the language switch",
    "web.set_elder_mode": "the elder-mode switch",
    "api-docs.openapi_json": "the OpenAPI document",
    "health.healthz": "the load balancer's health check",
    "metrics": "Prometheus scrapes (the view checks the network or the metrics token)",
    "static": "CSS, scripts, icons",
    "identity.login": "signing in",
    "identity.logout": "signing out (harmless when signed out)",
    "identity.reset": "residents who forgot the password ask for a reset code",
    "identity.reset_code": "the reset code and the new password (no account is signed in)",
    "identity_api.PasswordReset": "the API's reset request (public, rate-limited)",
    "identity_api.PasswordResetConfirm": "the API's reset confirmation (public, rate-limited)",
    "account.signup": "residents create their account",
    "exchange_api.Schemas": "the published data standard (field names, no data)",
    "exchange_api.SchemaItem": "the published data standard (field names, no data)",
    "exchange_api.Events": "external systems authenticate with their exchange client token",
    "exchange_api.Facts": "external systems authenticate with their exchange client token",
    **FRAGMENTS.public_views,
}


@pytest.fixture
def matrix_app(make_app):
    return make_app(plugins=PLUGINS + (["hello"] if WITH_HELLO else []))


def rule_methods(rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def is_api(rule) -> bool:
    return rule.rule.startswith("/api/") and rule.endpoint not in ("web.api_docs",)


def url_for_rule(rule, values) -> str:
    missing = set(rule.arguments) - set(values)
    assert not missing, f"no sample value for {missing} in {rule.rule}"
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(values[name]), path)
    return path


def sample_values(app) -> dict[str, object]:
    """Values for URL parameters: ids that exist where the rule needs an object, and ids
    that are nobody's where an object check must hide it."""
    target = ensure_user(app, "community_worker", username="matrix_target")
    return {
        "user_id": target.id,
        "role": "merchant",
        "permission": "core.plugins.read",
        "code": "en",
        "filename": "shequ.css",
        "session_id": 999999,
        "token_id": 999999,
        "note_id": 999999,
        "person_id": 999999,
        "household_id": 999999,
        "building_id": 999999,
        "org_id": 999999,
        "correction_id": 999999,
        "import_id": 999999,
        "notice_id": 999999,
        "token": "nobodys-upload-0123456789",
        "client_id": 999999,
        "delivery_id": 999999,
        "schema_name": "envelope",
        **FRAGMENTS.sample_values,
    }


def expected(entry: E, who: str, api: bool) -> frozenset[int] | str:
    if entry.who == PUBLIC:
        return (entry.anon or entry.ok) if who == ANON else entry.ok
    if who == ANON:
        return frozenset({401}) if api else "login"
    if entry.who == LOGIN or who in entry.who:
        return entry.ok
    return frozenset({entry.denied})


def test_every_rule_is_in_the_matrix(matrix_app):
    missing = [
        (rule.endpoint, method, rule.rule)
        for rule in matrix_app.url_map.iter_rules()
        for method in rule_methods(rule)
        if (rule.endpoint, method) not in MATRIX
    ]
    assert not missing, (
        "endpoints missing from MATRIX in tests/core/test_permission_matrix.py "
        f"(declare who may call them): {missing}"
    )


def test_permission_matrix(matrix_app):
    app = matrix_app
    values = sample_values(app)
    anonymous = app.test_client()
    clients = {ANON: (anonymous, csrf_token(anonymous, "/account/login"))}
    tokens = {}
    for role in ROLES:
        client = app.test_client()
        login(client, app, role)
        clients[role] = (client, csrf_token(client, "/"))
        tokens[role] = token_for_app(app, role)

    bare = app.test_client(use_cookies=False)
    failures = []
    checked = 0
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    for rule in rules:
        api = is_api(rule)
        url = url_for_rule(rule, values)
        for method in rule_methods(rule):
            entry = MATRIX.get((rule.endpoint, method))
            if entry is None:
                continue  # reported by test_every_rule_is_in_the_matrix
            for who in (ANON, *ROLES):
                client, token = clients[who]
                if entry.fresh and who != ANON:
                    client = app.test_client()
                    login(client, app, who)
                    token = csrf_token(client, "/")
                kwargs: dict = {}
                if api:
                    if who != ANON:
                        # the token alone: next to the session cookie it would not be what
                        # authenticates the call (and the cookie would need a CSRF token)
                        client = bare
                        kwargs["headers"] = {"Authorization": f"Bearer {tokens[who]}"}
                    if method in ("POST", "PUT", "PATCH"):
                        kwargs["json"] = {}
                elif method in WRITE:
                    kwargs["data"] = {"csrf_token": token}
                resp = client.open(url, method=method, **kwargs)
                checked += 1
                want = expected(entry, who, api)
                if want == "login":
                    good = resp.status_code == 302 and "/account/login" in resp.headers.get(
                        "Location", ""
                    )
                else:
                    good = resp.status_code in want
                if not good:
                    failures.append(
                        f"{method} {url} as {who}: got {resp.status_code}, "
                        f"expected {sorted(want) if want != 'login' else '302 to sign-in'}"
                    )
    assert checked > 300
    assert not failures, "\n".join(failures)


def test_state_changing_pages_need_a_csrf_token(matrix_app):
    """docs/requirements.md R04: every POST/PUT/PATCH/DELETE, sent with the session cookie of a
    signed-in administrator but without the token, is refused with 400 — pages and the
    API alike (the API takes cookie sessions only with the token). A bearer-token call
    carries no ambient credential, so it needs none."""
    from flask_wtf.csrf import CSRFError

    app = matrix_app
    # Tell the CSRF refusal apart from a blank form's 400 (the page shows the same error).
    app.register_error_handler(CSRFError, lambda exc: ("refused: CSRF", 400))
    values = sample_values(app)
    admin = app.test_client()
    login(admin, app, "admin")
    bearer = {"Authorization": f"Bearer {token_for_app(app, 'admin')}"}
    refused, bearer_checked = [], 0
    for rule in app.url_map.iter_rules():
        url = url_for_rule(rule, values)
        for method in rule_methods(rule):
            if method not in WRITE:
                continue
            kwargs = {"json": {}} if is_api(rule) and method != "DELETE" else {}
            resp = admin.open(url, method=method, **kwargs)
            if resp.status_code != 400 or "CSRF" not in resp.get_data(as_text=True):
                refused.append(f"{method} {rule.rule}: {resp.status_code}")
            if is_api(rule):
                bearer_checked += 1
                resp = app.test_client().open(url, method=method, headers=bearer, **kwargs)
                if "CSRF" in resp.get_data(as_text=True):
                    refused.append(f"{method} {rule.rule} with a bearer token asked for CSRF")
            if is_api(rule):
                # issue 15, finding 8: a bearer header next to the cookie changes nothing —
                # the cookie authenticates the call, so it needs the CSRF token
                for header in ({"Authorization": "Bearer x"}, bearer):
                    resp = admin.open(url, method=method, headers=header, **kwargs)
                    if resp.status_code != 400 or "CSRF" not in resp.get_data(as_text=True):
                        refused.append(f"{method} {rule.rule} with the cookie and "
                                       f"{header['Authorization'][:9]}…: {resp.status_code}")
    assert not refused, "\n".join(refused)
    assert bearer_checked >= 4
    assert admin.get("/api/v1/identity/me").status_code == 200  # still signed in


def test_every_view_declares_a_permission_or_is_public(matrix_app):
    """docs/requirements.md R08: deny by default. Every view function (each method of a class-based
    API view) carries the marker set by ``require`` / ``require_login`` /
    ``require_verified``, unless it is on the public allow-list for a stated reason."""
    app = matrix_app
    unmarked = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint in PUBLIC_VIEWS:
            continue
        cls = getattr(view, "view_class", None)
        for method in rule_methods(rule):
            func = getattr(cls, method.lower(), None) if cls is not None else view
            if not getattr(func, "required_permission", None):
                unmarked.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert not unmarked, "views without a permission marker:\n" + "\n".join(unmarked)
    # The allow-list and the matrix agree on what is public.
    public_in_matrix = {ep for (ep, _), e in MATRIX.items() if e.who == PUBLIC}
    assert public_in_matrix == set(PUBLIC_VIEWS)


def test_declared_permissions_exist(matrix_app):
    """A marker naming a permission nobody can hold would lock everyone out silently."""
    app = matrix_app
    known = set(app.extensions["shequ"].permissions) | {"@login", "@verified", "@personal"}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        cls = getattr(view, "view_class", None)
        funcs = [getattr(cls, m.lower(), None) for m in rule_methods(rule)] if cls else [view]
        for func in funcs:
            marker = getattr(func, "required_permission", None)
            assert marker is None or marker in known, (rule.rule, marker)


def view_marker(app, rule, method: str) -> str | None:
    view = app.view_functions[rule.endpoint]
    cls = getattr(view, "view_class", None)
    func = getattr(cls, method.lower(), None) if cls is not None else view
    return getattr(func, "required_permission", None)


def test_permission_matrix_with_narrowed_tokens(matrix_app):
    """Issue 15, finding 3: a token's permission set bounds every endpoint. For every API
    endpoint and every role the matrix lets in: a token narrowed to the endpoint's own
    permission (its marker) answers exactly like a full token, and a token narrowed to any
    other permission the role holds is refused with 403. Bare account gates (``@login``,
    ``@verified``, ``@personal``) name no permission, so no narrowed token passes them."""
    from core.identity.services import resolve_permissions

    app = matrix_app
    kernel = app.extensions["shequ"]
    values = sample_values(app)
    bare = app.test_client(use_cookies=False)
    tokens: dict[tuple[str, str], str] = {}

    def token(role: str, permission: str) -> str:
        if (role, permission) not in tokens:
            tokens[role, permission] = token_for_app(app, role, [permission])
        return tokens[role, permission]

    failures, narrowed_ok, refused = [], 0, 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if not is_api(rule):
            continue
        url = url_for_rule(rule, values)
        for method in rule_methods(rule):
            entry = MATRIX.get((rule.endpoint, method))
            if entry is None or entry.who == PUBLIC:
                continue
            marker = view_marker(app, rule, method)
            kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            for role in ROLES:
                if not (entry.who == LOGIN or role in entry.who):
                    continue
                held = resolve_permissions([role], kernel.roles)
                decoy = next(p for p in ("identity.own.notifications", "identity.own.profile")
                             if p != marker)
                resp = bare.open(url, method=method, **kwargs,
                                 headers={"Authorization": f"Bearer {token(role, decoy)}"})
                refused += 1
                if resp.status_code != 403:
                    failures.append(f"{method} {url} as {role} narrowed to {decoy}: "
                                    f"{resp.status_code}, expected 403")
                if marker in held:
                    resp = bare.open(url, method=method, **kwargs,
                                     headers={"Authorization": f"Bearer {token(role, marker)}"})
                    narrowed_ok += 1
                    if resp.status_code not in entry.ok:
                        failures.append(f"{method} {url} as {role} narrowed to {marker}: "
                                        f"{resp.status_code}, expected {sorted(entry.ok)}")
    assert refused > 200 and narrowed_ok > 100, (refused, narrowed_ok)
    assert not failures, "\n".join(failures)
