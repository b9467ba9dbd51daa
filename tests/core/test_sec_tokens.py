"""Issue 15, findings 3 and 8: a narrowed API token reaches only what it names, and a
bearer header never switches off the CSRF check of a request the session cookie
authenticates."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.identity import require_login, require_personal, require_verified
from core.identity.models import ApiToken, User, UserSession
from core.identity.services import bind_person
from core.testing import csrf_token, ensure_user, login
from core.testing_matrix import token_for_app

pytestmark = pytest.mark.with_plugins("commerce", "self_governance", "surveillance")

HEARTBEAT = "surveillance.device.heartbeat"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def live_tokens(app, user_id: int) -> int:
    with app.extensions["shequ"].db.session_scope() as db:
        return len(db.scalars(select(ApiToken).where(ApiToken.user_id == user_id,
                                                     ApiToken.revoked_at.is_(None))).all())


def test_a_heartbeat_token_reaches_nothing_of_its_owners_account(app):
    """The finding: a token narrowed to surveillance.device.heartbeat listed and deleted
    its owner's tokens and sessions and filed reports."""
    officer = ensure_user(app, "security_officer")
    browser = app.test_client()
    login(browser, app, "security_officer")  # a live session of the owner
    device = token_for_app(app, "security_officer", [HEARTBEAT])
    full = token_for_app(app, "security_officer")
    api = app.test_client(use_cookies=False)
    with app.extensions["shequ"].db.session_scope() as db:
        token_id = next(t.id for t in db.scalars(select(ApiToken)) if t.permissions is None)
        session_id = db.scalar(select(UserSession.id).where(UserSession.user_id == officer.id))

    for method, path in (
        ("get", "/api/v1/identity/tokens"),
        ("delete", f"/api/v1/identity/tokens/{token_id}"),
        ("get", "/api/v1/identity/sessions"),
        ("delete", f"/api/v1/identity/sessions/{session_id}"),
        ("get", "/api/v1/identity/notifications"),
        ("get", "/api/v1/identity/me"),
        ("get", "/api/v1/surveillance/reports"),
    ):
        resp = getattr(api, method)(path, headers=bearer(device))
        assert resp.status_code == 403, (method, path, resp.status_code)
    resp = api.post("/api/v1/surveillance/reports", headers=bearer(device),
                    json={"kind": "other", "description": "x", "location": "y"})
    assert resp.status_code == 403
    resp = api.post("/api/v1/identity/tokens", headers=bearer(device), json={"name": "more"})
    assert resp.status_code == 403
    assert live_tokens(app, officer.id) == 2  # nothing was revoked
    assert browser.get("/account/sessions").status_code == 200  # still signed in

    # the owner's full token does all of it: the gate, not the endpoint, refused
    assert api.get("/api/v1/identity/tokens", headers=bearer(full)).status_code == 200
    assert api.get("/api/v1/surveillance/reports", headers=bearer(full)).status_code == 200
    # and a token given identity.own.tokens reaches exactly that
    lister = token_for_app(app, "security_officer", ["identity.own.tokens"])
    assert api.get("/api/v1/identity/tokens", headers=bearer(lister)).status_code == 200
    assert api.get("/api/v1/identity/sessions", headers=bearer(lister)).status_code == 403


def test_a_ticket_token_cannot_cast_a_ballot(app):
    """The finding: a resident token narrowed to commerce.ticket.file cast a ballot. The
    ballot endpoint's gate names no permission a narrowed token can carry, so the gate
    refuses before the vote is even looked up (a full token gets past it: 404)."""
    resident = ensure_user(app, "resident")
    with app.extensions["shequ"].db.session_scope() as db:
        bind_person(db, db.get(User, resident.id), 4242, method="in_person", by=None)
    narrow = token_for_app(app, "resident", ["commerce.ticket.file"])
    full = token_for_app(app, "resident")
    api = app.test_client(use_cookies=False)
    ballot = {"choice": ["yes"]}
    url = "/api/v1/self-governance/votes/999999/ballot"
    assert api.post(url, json=ballot, headers=bearer(narrow)).status_code == 403
    assert api.post(url, json=ballot, headers=bearer(full)).status_code in (404, 422)


def test_an_empty_permission_list_is_refused_not_everything(app):
    api = app.test_client(use_cookies=False)
    worker = token_for_app(app, "community_worker")
    resp = api.post("/api/v1/identity/tokens", headers=bearer(worker),
                    json={"name": "nothing", "permissions": []})
    assert resp.status_code == 422
    body = resp.get_json()["error"]
    assert "permissions" in body["fields"]
    assert "at least one permission" in str(body["fields"]["permissions"])
    with app.extensions["shequ"].db.session_scope() as db:
        assert db.scalar(select(ApiToken).where(ApiToken.name == "nothing")) is None
    # leaving the list out still means "all of mine"
    resp = api.post("/api/v1/identity/tokens", headers=bearer(worker), json={"name": "all"})
    assert resp.status_code == 201 and resp.get_json()["permissions"] is None


def test_gates_keep_their_old_spelling_and_name_what_a_token_needs():
    def view():
        return "ok"

    assert require_login(view).required_permission == "@login"
    assert require_verified(view).required_permission == "@verified"
    assert require_personal(view).required_permission == "@personal"
    assert require_login("identity.own.profile")(view).required_permission == (
        "identity.own.profile")
    assert require_personal("x.y.z", verified=False)(view).required_permission == "x.y.z"


# ------------------------------------------------------------------------------ CSRF


@pytest.mark.parametrize("path", ["/api/v1/identity/notifications/read",
                                  "/account/sessions/end-others"])
def test_a_bearer_header_does_not_switch_off_csrf_for_the_cookie(app, path):
    """The finding: with a session cookie and no CSRF token, adding ``Authorization:
    Bearer x`` passed these. The cookie authenticates, so the CSRF token is needed
    whatever else comes along — a junk bearer or a real one."""
    from flask_wtf.csrf import CSRFError

    app.register_error_handler(CSRFError, lambda exc: ("refused: CSRF", 400))
    user = ensure_user(app, "resident")
    browser = app.test_client()
    login(browser, app, "resident")
    other = app.test_client()
    login(other, app, "resident")  # a second session end-others would end
    real = token_for_app(app, "resident")
    for header in ("Bearer x", f"Bearer {real}"):
        kwargs = {"json": {}} if path.startswith("/api/") else {}
        resp = browser.post(path, headers={"Authorization": header}, **kwargs)
        assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True), header
    assert other.get("/account/sessions").status_code == 200  # nothing was ended
    # with the token the cookie request passes; the bearer token alone needs none
    token = csrf_token(browser, "/account/sessions")
    if path.startswith("/api/"):
        assert browser.post(path, json={}, headers={"X-CSRFToken": token}).status_code == 200
        alone = app.test_client(use_cookies=False)
        assert alone.post(path, json={}, headers=bearer(real)).status_code == 200
    else:
        assert browser.post(path, data={"csrf_token": token}).status_code == 302
        assert other.get("/account/sessions").status_code == 302  # that one was ended
    assert user.id
