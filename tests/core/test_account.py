"""The resident's own account: sign-up, my account, verification against the registry,
sessions, personal tokens, notifications, "who accessed my data", the assisted channel,
login throttling, and the resident API under /api/v1/identity."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.audit.models import AccessEntry, AuditEntry
from core.audit.services import log_access
from core.db import utcnow
from core.identity import resident_api
from core.identity.models import ApiToken, Notification, User, UserSession
from core.identity.notifications import notify
from core.identity.services import bind_person
from core.testing import TEST_PASSWORD, csrf_token, ensure_user, last_code, login
from core.web.i18n import compile_catalogues

SESSION_COOKIE = "shequ_session"
GOOD_PASSWORD = "quiet river lantern 7"
#: A valid resident ID number (GB 11643 check character) that belongs to nobody real.
ID_NUMBER = "11010519491231002X"
PHONE = "13800138000"


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    compile_catalogues()


def mount_resident_api(app) -> None:
    """The resident API, mounted the way core mounts it (until core does it itself)."""
    if "identity_account" not in app.blueprints:
        app.extensions["shequ"].api.register_blueprint(
            resident_api.blueprint(), url_prefix="/api/v1/identity"
        )


@pytest.fixture
def app(request, make_app):
    """No plugins (these are core pages), the resident API mounted; the ``shequ_config``
    marker still applies."""
    marker = request.node.get_closest_marker("shequ_config")
    app = make_app(plugins=[], config=marker.args[0] if marker else None)
    mount_resident_api(app)
    return app


def html(resp) -> str:
    return resp.get_data(as_text=True)


def post(client, path, data=None, page="/account/", **kwargs):
    """A form post with the CSRF token taken from ``page``."""
    return client.post(path, data={"csrf_token": csrf_token(client, page), **(data or {})},
                       **kwargs)


def english(client):
    client.set_cookie("shequ_lang", "en")
    return client


def phone_for(username: str) -> str:
    """A mobile number of the sign-up's own (its username when that is a number)."""
    if re.fullmatch(r"1[3-9]\d{9}", username):
        return username
    return "139" + f"{int(hashlib.sha256(username.encode()).hexdigest(), 16) % 10**8:08d}"


def signup(client, username="wang_xiuying", name="王秀英", password=GOOD_PASSWORD,
           phone=None):
    """Both steps of a sign-up: the form, then the code sent to the phone (issue 17).
    Returns the form's answer when it was refused, else the code's."""
    phone = phone or phone_for(username)
    resp = post(client, "/account/signup",
                {"username": username, "display_name": name, "password": password,
                 "phone": phone}, page="/account/signup")
    if resp.status_code != 302:
        return resp
    return post(client, "/account/signup",
                {"step": "code", "code": last_code(client.application, phone, "signup")},
                page="/account/signup")


def db(app):
    return app.extensions["shequ"].db.session_scope()


def audit(app, action):
    with db(app) as s:
        return [(e.actor_name, e.outcome, e.on_behalf_of_id, e.detail, e.target_id)
                for e in s.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id))]


def user_id(app, username):
    with db(app) as s:
        return s.scalar(select(User.id).where(User.username == username))


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def session_cookie(client):
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None, "not signed in"
    return cookie.value


def copy_of(app, client):
    """Another client carrying a copy of ``client``'s session cookie (a stolen cookie)."""
    other = app.test_client()
    other.set_cookie(SESSION_COOKIE, session_cookie(client))
    return other


def signed_in(client) -> bool:
    return client.get("/account/").status_code == 200


# ------------------------------------------------------------------------------ sign-up


def test_signup_page_is_a_labelled_form_in_chinese(client):
    page = html(client.get("/account/signup"))
    assert "<h1>创建账户</h1>" in page
    for field in ("username", "display_name", "phone", "password"):
        assert f'<label for="{field}">' in page
        assert f'aria-describedby="{field}-hint"' in page
    assert 'name="csrf_token"' in page
    assert 'autocomplete="new-password"' in page
    assert 'href="/account/login"' in page


def test_signup_creates_a_resident_signs_in_and_publishes(app, client, events):
    resp = signup(client)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/")
    page = html(client.get("/account/"))
    assert "王秀英" in page and "wang_xiuying" in page
    assert "未实名认证" in page and 'href="/account/verify"' in page
    with db(app) as s:
        user = s.scalar(select(User).where(User.username == "wang_xiuying"))
        assert user.kind == "resident" and user.role_names == ["resident"]
        assert user.password_hash.startswith("$argon2id$")
        assert GOOD_PASSWORD not in user.password_hash
        assert not user.is_verified
        assert user.phone == phone_for("wang_xiuying") and user.phone_verified_at is not None
        assert s.scalar(select(UserSession).where(UserSession.user_id == user.id)) is not None
    assert ("identity.user.created", {"user_id": user.id, "kind": "resident"}) in events.published
    assert [a[0] for a in audit(app, "auth.signup")] == ["wang_xiuying"]


def test_signup_with_a_mobile_number_shows_it_masked(app, client):
    assert signup(client, username="13812341234").status_code == 302
    page = html(client.get("/account/"))
    assert "138****1234" in page and "13812341234" not in page
    with db(app) as s:
        assert s.scalar(select(User.phone).where(User.username == "13812341234")) == "13812341234"


def test_signup_bad_input_returns_the_form_with_every_message(client):
    resp = post(english(client), "/account/signup",
                {"username": "ab", "display_name": "", "password": "short"},
                page="/account/signup")
    assert resp.status_code == 400
    page = html(resp)
    summary = page.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    assert '<a href="#username">' in summary
    assert '<a href="#display_name">Enter your name</a>' in summary
    assert '<a href="#password">Use at least 8 characters.</a>' in summary
    assert 'id="username-error"' in page and 'aria-invalid="true"' in page
    assert 'aria-describedby="username-hint username-error"' in page
    assert 'value="ab"' in page  # the input is kept ...
    assert 'value="short"' not in page  # ... but never the password
    assert page.startswith("<!doctype html>") and "<title>Error: " in page


def test_signup_messages_are_in_chinese_by_default(client):
    resp = post(client, "/account/signup", {}, page="/account/signup")
    assert resp.status_code == 400
    summary = html(resp).split('class="error-summary"', 1)[1][:800]
    assert "请输入您的名字" in summary and "用户名" in summary


@pytest.mark.parametrize("password", ["password", "12345678", "qwertyuiop"])
def test_signup_refuses_common_passwords(app, client, password):
    resp = signup(english(client), password=password)
    assert resp.status_code == 400
    assert "This password is too common" in html(resp)
    assert user_id(app, "wang_xiuying") is None


def test_signup_refuses_a_password_made_of_the_name(client):
    resp = signup(english(client), username="zhang_wei", password="zhang_wei-2024")
    assert resp.status_code == 400
    assert "Do not use your username" in html(resp)


def test_signup_refuses_a_taken_username_in_any_case(app, client):
    ensure_user(app, "resident")
    resp = signup(client, username="TEST_Resident")
    assert resp.status_code == 400
    assert '<a href="#username">这个用户名已被使用。</a>' in html(resp)
    with db(app) as s:
        assert s.scalar(select(User).where(User.display_name == "王秀英")) is None


def test_signup_refuses_a_mobile_number_already_in_use(app, client):
    """Said only once the code proved the number's holder is signing up (issue 17)."""
    assert signup(client, username="13900001111").status_code == 302
    other = app.test_client()
    app.extensions["shequ.limits"]["_storage"].reset()  # the number's 60 s wait is over
    resp = signup(other, username="li_si", name="李四", phone="13900001111")
    assert resp.status_code == 400
    assert '<a href="#phone">' in html(resp)
    assert user_id(app, "li_si") is None


def test_signup_without_csrf_token_is_refused(app, client):
    resp = client.post("/account/signup", data={"username": "x_user", "display_name": "X",
                                                "password": GOOD_PASSWORD})
    assert resp.status_code == 400
    assert user_id(app, "x_user") is None


def test_signed_in_people_go_to_their_account(client_as):
    c = client_as("resident")
    resp = c.get("/account/signup")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/")


@pytest.mark.shequ_config({"identity": {"signup_open": False}})
def test_signup_closed(app, client):
    resp = client.get("/account/signup")
    assert resp.status_code == 403
    assert "社区工作人员" in html(resp) and 'name="password"' not in html(resp)
    resp = client.post("/account/signup", data={"username": "nobody", "display_name": "N",
                                                "password": GOOD_PASSWORD})
    assert resp.status_code in (400, 403)
    assert user_id(app, "nobody") is None


def test_signups_are_throttled_per_address(app):
    for i in range(10):
        assert signup(app.test_client(), username=f"resident_{i}").status_code == 302
    resp = signup(app.test_client(), username="resident_10")
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert user_id(app, "resident_10") is None


# ------------------------------------------------------------------------------ my account


def test_account_page_requires_sign_in(client):
    resp = client.get("/account/")
    assert resp.status_code == 302 and "/account/login" in resp.headers["Location"]


def test_account_page_lists_the_account_pages(client_as):
    page = html(english(client_as("community_worker")).get("/account/"))
    for href in ("/account/notifications", "/account/access-log", "/account/sessions",
                 "/account/password", "/account/tokens", "/account/assist"):
        assert f'href="{href}"' in page
    assert "Not verified" in page and "community office" in page


def test_residents_see_no_staff_links(client_as):
    page = html(client_as("resident").get("/account/"))
    assert 'href="/account/tokens"' not in page and 'href="/account/assist"' not in page


def test_header_links_to_the_account(client_as):
    page = html(client_as("resident").get("/"))
    header = page.split("</header>", 1)[0]
    assert 'href="/account/"' in header and "test_resident" in header
    assert 'href="/account/notifications"' in header


# ------------------------------------------------------------------------------ sessions


def test_sessions_list_shows_this_device_and_ends_another(app, client):
    me = ensure_user(app, "resident")
    login(client, app, "resident")
    phone = app.test_client()
    phone.environ_base["HTTP_USER_AGENT"] = (
        "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36")
    login(phone, app, "resident")
    stolen = copy_of(app, phone)
    assert signed_in(stolen)

    page = html(english(client).get("/account/sessions"))
    assert page.count('<li class="item') == 2
    assert page.count("This device") == 1
    assert "Chrome on Android" in page

    with db(app) as s:
        rows = s.scalars(select(UserSession).where(UserSession.user_id == me.id,
                                                   UserSession.revoked_at.is_(None))).all()
        other = next(r.id for r in rows if "Android" in r.user_agent)
    resp = post(client, f"/account/sessions/{other}/end", page="/account/sessions")
    assert resp.status_code == 302
    assert not signed_in(phone)
    assert not signed_in(stolen)  # the copied cookie died with the session
    assert stolen.get("/api/v1/identity/me").status_code == 401
    assert signed_in(client)
    assert [a[4] for a in audit(app, "identity.session.ended")] == [str(other)]


def test_end_all_other_sessions(app, client):
    login(client, app, "resident")
    others = [app.test_client() for _ in range(2)]
    for c in others:
        login(c, app, "resident")
    resp = post(client, "/account/sessions/end-others", page="/account/sessions")
    assert resp.status_code == 302
    assert all(not signed_in(c) for c in others)
    assert signed_in(client)
    assert audit(app, "identity.session.ended_others")[0][3] == {"count": 2}


def test_ending_someone_elses_session_is_404(app, client_as):
    victim = client_as("resident")
    with db(app) as s:
        victim_row = s.scalar(select(UserSession.id).where(
            UserSession.user_id == user_id(app, "test_resident")))
    attacker = client_as("community_worker")
    resp = post(attacker, f"/account/sessions/{victim_row}/end", page="/account/sessions")
    assert resp.status_code == 404
    resp = attacker.delete(f"/api/v1/identity/sessions/{victim_row}",
                           headers={"X-CSRFToken": csrf_token(attacker, "/account/")})
    assert resp.status_code == 404 and resp.mimetype == "application/json"
    assert post(attacker, "/account/sessions/999999/end").status_code == 404
    assert signed_in(victim)


def test_ending_a_session_needs_csrf(app, client):
    login(client, app, "resident")
    with db(app) as s:
        row = s.scalar(select(UserSession.id))
    assert client.post(f"/account/sessions/{row}/end").status_code == 400
    assert signed_in(client)


def test_ending_this_session_signs_out(app, client):
    login(client, app, "resident")
    with db(app) as s:
        row = s.scalar(select(UserSession.id))
    resp = post(client, f"/account/sessions/{row}/end")
    assert resp.status_code == 302
    assert not signed_in(client)


def test_logout_revokes_a_copied_cookie(app, client):
    login(client, app, "resident")
    stolen = copy_of(app, client)
    assert signed_in(stolen)
    post(client, "/account/logout", page="/")
    assert not signed_in(client)
    assert not signed_in(stolen)
    assert stolen.get("/api/v1/identity/me").status_code == 401


def test_password_change_ends_the_other_sessions(app, client):
    login(client, app, "resident")
    laptop = app.test_client()
    login(laptop, app, "resident")
    stolen = copy_of(app, laptop)
    resp = post(client, "/account/password",
                {"current_password": TEST_PASSWORD, "password": GOOD_PASSWORD},
                page="/account/password")
    assert resp.status_code == 302
    assert signed_in(client)  # this device stays signed in
    assert not signed_in(laptop) and not signed_in(stolen)


def test_sessions_api_lists_own_and_marks_current(app, client):
    login(client, app, "resident")
    login(app.test_client(), app, "resident")
    ensure_user(app, "community_worker")
    login(app.test_client(), app, "community_worker")
    body = client.get("/api/v1/identity/sessions").get_json()
    assert len(body) == 2 and sum(s["current"] for s in body) == 1
    other = next(s["id"] for s in body if not s["current"])
    token = csrf_token(client, "/account/")
    assert client.delete(f"/api/v1/identity/sessions/{other}").status_code == 400  # no CSRF
    resp = client.delete(f"/api/v1/identity/sessions/{other}", headers={"X-CSRFToken": token})
    assert resp.status_code == 204
    assert len(client.get("/api/v1/identity/sessions").get_json()) == 1


# ------------------------------------------------------------------------------ tokens


def create_token_via_page(client, name="script", permissions=(), days="30"):
    return post(client, "/account/tokens",
                {"name": name, "permissions": list(permissions), "expires_days": days},
                page="/account/tokens")


def plaintext_in(page):
    match = re.search(r'value="(shq_[^"]+)"', page)
    return match.group(1) if match else None


def test_tokens_page_needs_the_permission(client_as):
    assert client_as("resident").get("/account/tokens").status_code == 403
    assert client_as("community_worker").get("/account/tokens").status_code == 200


def test_token_is_shown_once_and_stored_hashed(app, client_as):
    c = client_as("community_worker")
    resp = create_token_via_page(c, permissions=["registry.person.read"])
    assert resp.status_code == 200
    plaintext = plaintext_in(html(resp))
    assert plaintext and plaintext.startswith("shq_")
    assert "只显示这一次" in html(resp)

    listing = html(c.get("/account/tokens"))
    assert plaintext not in listing and plaintext[:10] in listing
    with db(app) as s:
        token = s.scalar(select(ApiToken).where(ApiToken.name == "script"))
        assert token.digest == hashlib.sha256(plaintext.encode()).hexdigest()
        assert plaintext not in (token.prefix, token.digest, token.name)
        assert token.permissions == ["registry.person.read"]
        assert token.expires_at - utcnow() > timedelta(days=29)
        entries = s.scalars(select(AuditEntry)).all()
        assert not any(plaintext in str(e.detail) for e in entries)
    assert audit(app, "identity.token.created")[0][0] == "test_community_worker"

    api = c.application.test_client()
    # narrowed: the registry, and nothing else — not even "who am I" (identity.own.profile)
    assert api.get("/api/v1/identity/me", headers=bearer(plaintext)).status_code == 403
    assert api.get("/api/v1/registry/persons", headers=bearer(plaintext)).status_code in (
        200, 404)
    resp = create_token_via_page(c, name="who", permissions=["registry.person.read",
                                                             "identity.own.profile"])
    me = api.get("/api/v1/identity/me", headers=bearer(plaintext_in(html(resp))))
    assert me.status_code == 200
    assert me.get_json()["permissions"] == ["identity.own.profile", "registry.person.read"]


def test_token_cannot_exceed_the_owner(app, client_as):
    c = client_as("community_worker")
    resp = create_token_via_page(english(c), permissions=["core.plugins.read"])
    assert resp.status_code == 400
    assert "The owner lacks: core.plugins.read" in html(resp)
    assert plaintext_in(html(resp)) is None
    with db(app) as s:
        assert s.scalar(select(ApiToken)) is None


def test_token_form_errors(client_as):
    c = english(client_as("community_worker"))
    resp = create_token_via_page(c, name="", days="0")
    assert resp.status_code == 400
    page = html(resp)
    assert '<a href="#name">' in page and '<a href="#expires_days">' in page
    resp = create_token_via_page(c, days="ten")
    assert "Enter a whole number" in html(resp)


def test_revoked_token_is_refused(app, client_as):
    c = client_as("community_worker")
    plaintext = plaintext_in(html(create_token_via_page(c)))
    api = app.test_client()
    assert api.get("/api/v1/identity/me", headers=bearer(plaintext)).status_code == 200
    with db(app) as s:
        tid = s.scalar(select(ApiToken.id))
    resp = post(c, f"/account/tokens/{tid}/revoke", page="/account/tokens")
    assert resp.status_code == 302
    assert api.get("/api/v1/identity/me", headers=bearer(plaintext)).status_code == 401
    page = html(c.get("/account/tokens"))
    assert "已撤销" in page
    assert audit(app, "identity.token.revoked")[0][0] == "test_community_worker"


def test_expired_token_is_refused(app, token_for, client):
    plaintext = token_for("community_worker", expires_days=1)
    assert client.get("/api/v1/identity/me", headers=bearer(plaintext)).status_code == 200
    with db(app) as s:
        s.scalar(select(ApiToken)).expires_at = utcnow() - timedelta(seconds=1)
    resp = client.get("/api/v1/identity/me", headers=bearer(plaintext))
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthenticated"


def test_revoking_someone_elses_token_is_404(app, client_as, token_for):
    token_for("admin")
    with db(app) as s:
        tid = s.scalar(select(ApiToken.id))
    c = client_as("community_worker")
    assert post(c, f"/account/tokens/{tid}/revoke").status_code == 404
    resp = c.delete(f"/api/v1/identity/tokens/{tid}",
                    headers={"X-CSRFToken": csrf_token(c, "/account/")})
    assert resp.status_code == 404
    with db(app) as s:
        assert s.scalar(select(ApiToken.revoked_at)) is None


def test_tokens_api_create_list_revoke(app, client, token_for):
    narrow = token_for("community_worker",
                       permissions=["identity.own.tokens", "identity.token.create"])
    token_for("admin")  # someone else's token, never listed
    resp = client.post("/api/v1/identity/tokens", json={"name": "ci", "expires_days": 7},
                       headers=bearer(narrow))
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    # a narrowed token mints at most what it carries, never the owner's full set
    assert body["permissions"] == ["identity.own.tokens", "identity.token.create"]
    assert body["token"].startswith("shq_") and body["prefix"] == body["token"][:10]
    listed = client.get("/api/v1/identity/tokens", headers=bearer(narrow)).get_json()
    assert {t["name"] for t in listed} == {"test", "ci"}
    assert all("token" not in t for t in listed)
    resp = client.delete(f"/api/v1/identity/tokens/{body['id']}", headers=bearer(narrow))
    assert resp.status_code == 204
    assert client.get("/api/v1/identity/me", headers=bearer(body["token"])).status_code == 401


def test_tokens_api_refuses_more_than_the_owner_and_unknown_fields(client, token_for):
    t = token_for("community_worker")
    resp = client.post("/api/v1/identity/tokens",
                       json={"name": "x", "permissions": ["core.config.read"]}, headers=bearer(t))
    assert resp.status_code == 403 and "core.config.read" in resp.get_json()["error"]["message"]
    resp = client.post("/api/v1/identity/tokens", json={"name": "x", "user_id": 1},
                       headers=bearer(t))
    assert resp.status_code == 422 and "user_id" in resp.get_json()["error"]["fields"]
    resident = token_for("resident")
    resp = client.post("/api/v1/identity/tokens", json={"name": "x"}, headers=bearer(resident))
    assert resp.status_code == 403


def test_a_pattern_matches_the_whole_value_as_the_document_reads_it(client, token_for):
    """``$`` in Python's ``re.match`` also matches before a final line feed; the OpenAPI
    document's (ECMAScript) does not, and its patterns are searches. A one-line name with a
    line feed after it is refused, the same name without it is taken."""
    from marshmallow import ValidationError

    from core.toolkit import LINE, Pattern

    t = token_for("community_worker")
    resp = client.post("/api/v1/identity/tokens", json={"name": "ci\n"}, headers=bearer(t))
    assert resp.status_code == 422 and "name" in resp.get_json()["error"]["fields"]
    assert client.post("/api/v1/identity/tokens", json={"name": "ci"},
                       headers=bearer(t)).status_code == 201
    for value in ("110105001001\n", "1101050010011", "\n110105001001"):
        with pytest.raises(ValidationError):
            Pattern(r"^[0-9]{12}$")(value)
    assert Pattern(r"^[0-9]{12}$")("110105001001") == "110105001001"
    with pytest.raises(ValidationError):
        Pattern(LINE)("civil\n")
    assert Pattern(r"\S")(" x") == " x"  # a search, as JSON Schema reads a pattern
    assert Pattern(r"^[a$]+$")("a$") == "a$"  # a $ in a class is a character


# ------------------------------------------------------------------------------ notifications


def notes(app):
    """Three notifications for test_resident (the last one newest) and one for the worker."""
    me = ensure_user(app, "resident")
    other = ensure_user(app, "community_worker")
    bus = app.extensions["shequ"].bus
    ids = {}
    with db(app) as s:
        for i, title in enumerate(("第一条", "第二条", "第三条")):
            n = notify(s, bus, user_id=me.id, title=title, body="正文", link="/account/")
            n.created_at = utcnow() - timedelta(minutes=10 - i)
            s.flush()
            ids[title] = n.id
        ids["other"] = notify(s, bus, user_id=other.id, title="别人的通知").id
        ids["evil"] = notify(s, bus, user_id=me.id, title="链接", link="javascript:alert(1)").id
    return ids


def test_notifications_are_own_newest_first_with_badge(app, client_as):
    ids = notes(app)
    c = client_as("resident")
    page = html(c.get("/account/notifications"))
    assert "别人的通知" not in page
    assert page.index("第三条") < page.index("第二条") < page.index("第一条")
    assert page.count('class="item item-unread"') == 4
    assert 'href="javascript' not in page
    header = html(c.get("/")).split("</header>", 1)[0]
    assert re.search(r'class="badge">4<span class="visually-hidden"> 未读</span>', header)

    # another user's id in mark-read is ignored
    resp = post(c, f"/account/notifications/{ids['other']}/read",
                page="/account/notifications")
    assert resp.status_code == 302
    with db(app) as s:
        assert s.get(Notification, ids["other"]).read_at is None
    post(c, f"/account/notifications/{ids['第二条']}/read", page="/account/notifications")
    page = html(c.get("/account/notifications"))
    assert page.count('class="item item-unread"') == 3
    post(c, "/account/notifications/read-all", page="/account/notifications")
    page = html(c.get("/account/notifications"))
    assert "item-unread" not in page and 'class="badge"' not in page
    with db(app) as s:
        assert s.get(Notification, ids["other"]).read_at is None


def test_notifications_are_paginated(app, client_as):
    me = ensure_user(app, "resident")
    with db(app) as s:
        for i in range(25):
            notify(s, app.extensions["shequ"].bus, user_id=me.id, title=f"n{i}")
    c = client_as("resident")
    page = html(c.get("/account/notifications"))
    assert page.count('class="item ') == 20 and 'href="/account/notifications?page=2"' in page
    page = html(c.get("/account/notifications?page=2"))
    assert page.count('class="item ') == 5


def test_notifications_api(app, client, token_for):
    ids = notes(app)
    t = token_for("resident")
    resp = client.get("/api/v1/identity/notifications?page_size=2", headers=bearer(t))
    body = resp.get_json()
    assert resp.status_code == 200 and body["total"] == 4 and len(body["items"]) == 2
    assert "X-Pagination" in resp.headers
    assert body["items"][0]["title"] == "链接"
    resp = client.post("/api/v1/identity/notifications/read", json={"ids": [ids["other"]]},
                       headers=bearer(t))
    assert resp.get_json() == {"marked": 0}
    resp = client.post("/api/v1/identity/notifications/read", json={"ids": [ids["第一条"]]},
                       headers=bearer(t))
    assert resp.get_json() == {"marked": 1}
    assert client.post("/api/v1/identity/notifications/read", json={},
                       headers=bearer(t)).get_json() == {"marked": 3}
    resp = client.post("/api/v1/identity/notifications/read", json={"ids": "all"},
                       headers=bearer(t))
    assert resp.status_code == 422
    with db(app) as s:
        assert s.get(Notification, ids["other"]).read_at is None


# ------------------------------------------------------------------------------ access log


def test_access_log_explains_when_not_verified(client_as):
    page = html(client_as("resident").get("/account/access-log"))
    assert 'href="/account/verify"' in page
    assert "还没有" in page or "未" in page


def test_access_log_shows_who_read_what_and_why(app, client_as, client, token_for):
    me = ensure_user(app, "resident")
    worker = ensure_user(app, "community_worker")
    with db(app) as s:
        bind_person(s, s.get(User, me.id), 4242, method="in_person", by=s.get(User, worker.id))
        log_access(s, actor=s.get(User, worker.id), person_id=4242, fields=["id_number"],
                   purpose="核对高龄津贴申请", via="core")
        log_access(s, actor=s.get(User, worker.id), person_id=777, fields=["phone"],
                   purpose="别人的记录", via="core")
    c = client_as("resident")
    page = html(c.get("/account/access-log"))
    main = page.split('<main', 1)[1]
    assert "test_community_worker" in main and "核对高龄津贴申请" in main
    assert "身份证号" in main and "别人的记录" not in main
    assert main.count('class="item"') == 1
    body = client.get("/api/v1/identity/access-log", headers=bearer(token_for("resident")))
    data = body.get_json()
    assert data["total"] == 1 and data["items"][0]["fields"] == ["id_number"]
    assert data["items"][0]["purpose"] == "核对高龄津贴申请"
    with db(app) as s:
        assert s.scalar(select(AccessEntry.id).where(AccessEntry.subject_person_id == 4242))


def test_access_log_api_is_empty_when_not_verified(client, token_for):
    body = client.get("/api/v1/identity/access-log",
                      headers=bearer(token_for("resident"))).get_json()
    assert body["total"] == 0 and body["items"] == []


# ------------------------------------------------------------------------------ assisted channel


def start_assist(client, resident="test_resident", reason="柜台代办高龄津贴申请", minutes="20"):
    return post(client, "/account/assist",
                {"resident": resident, "reason": reason, "minutes": minutes},
                page="/account/assist")


def test_assist_start_shows_banner_and_stop_ends_it(app, client_as):
    resident = ensure_user(app, "resident")
    worker = client_as("hotline_operator")  # the hotline may assist any caller
    resp = start_assist(worker)
    assert resp.status_code == 302
    page = html(worker.get("/"))
    banner = page.split('class="assist-banner"', 1)[1].split("</aside>", 1)[0]
    assert "test_resident" in banner and "柜台代办高龄津贴申请" in banner
    assert re.search(r"\d\d:\d\d", banner)
    assert 'action="/account/assist/stop"' in banner
    header = page.split("</header>", 1)[0]
    assert "test_resident" in header  # the header names the resident being served

    # what belongs to the resident alone is refused
    assert worker.get("/account/sessions").status_code == 302
    assert worker.get("/account/verify").status_code == 302

    started = audit(app, "identity.assist.started")
    assert started[0][0] == "test_hotline_operator" and started[0][2] == resident.id

    resp = post(worker, "/account/assist/stop", page="/")
    assert resp.status_code == 302
    page = html(worker.get("/"))
    assert "assist-banner" not in page
    ended = audit(app, "identity.assist.ended")
    assert ended[0][0] == "test_hotline_operator" and ended[0][2] == resident.id


def test_assist_form_errors(app, client_as):
    ensure_user(app, "resident")
    worker = english(client_as("community_worker"))
    resp = start_assist(worker, resident="nobody_here")
    assert resp.status_code == 400
    assert "No resident account has this username" in html(resp)
    resp = start_assist(worker, minutes="600")
    assert resp.status_code == 400 and "Choose between 1 and 60 minutes." in html(resp)
    resp = start_assist(worker, reason="")
    assert '<a href="#reason">' in html(resp)
    ensure_user(app, "admin")
    resp = start_assist(worker, resident="test_admin")  # staff are not assisted
    assert "No resident account has this username" in html(resp)
    assert "assist-banner" not in html(worker.get("/"))


def test_assist_needs_the_permission(client_as):
    assert client_as("resident").get("/account/assist").status_code == 403


# ------------------------------------------------------------------------------ verification


def verify(client, name="王秀英", id_number=ID_NUMBER):
    """Step one of self-service verification: the code goes to the record's phone."""
    return post(client, "/account/verify", {"name": name, "id_number": id_number},
                page="/account/verify")


def test_verification_page_is_a_labelled_form(app, client):
    signup(client, username="13800138000")
    page = html(client.get("/account/verify"))
    for field in ("name", "id_number"):
        assert f'<label for="{field}">' in page and f'aria-describedby="{field}-hint"' in page
    assert 'name="phone"' not in page  # the code goes to the number on record (issue 17)
    assert "13800138000" not in page  # shown nowhere in full (R09)
    assert 'autocomplete="off"' in page


def test_verification_against_the_registry(app, client, events):
    """The real registry: a person registered by staff verifies their own account."""
    from core.registry import services as registry_services

    assert hasattr(registry_services, "match_person"), "core.registry.services.match_person"
    person = registry_person(app)
    signup(client)
    resp = verify(client, name=person["name"], id_number=person["id_number"])
    assert resp.status_code == 302, html(resp)
    resp = post(client, "/account/verify",
                {"step": "code", "code": last_code(app, person["phone"], "verify")},
                page="/account/verify")
    assert resp.status_code == 302, html(resp)
    with db(app) as s:
        user = s.scalar(select(User).where(User.username == "wang_xiuying"))
        assert user.person_id == person["id"] and user.is_verified
    assert "identity.user.verified" in events.names()


def registry_person(app) -> dict:
    """Register 王秀英 through the registry's own services."""
    from core.registry.services import register_person as register

    worker = ensure_user(app, "community_worker")
    with db(app) as s:
        person = register(s, {"name": "王秀英", "id_number": ID_NUMBER, "phone": PHONE},
                          bus=app.extensions["shequ"].bus, actor=s.get(User, worker.id))
        s.flush()
        return {"id": person.id, "name": "王秀英", "id_number": ID_NUMBER, "phone": PHONE}


# ------------------------------------------------------------------------------ login throttling


def login_post(client, username, password):
    return post(client, "/account/login", {"username": username, "password": password},
                page="/account/login")


def test_login_is_throttled_per_account_after_five_failures(app, client):
    ensure_user(app, "resident")
    ensure_user(app, "community_worker")
    for _ in range(5):
        assert login_post(client, "test_resident", "wrong-password").status_code == 401
    resp = login_post(client, "test_resident", TEST_PASSWORD)
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert not signed_in(client)
    # another account, from the same address, is unaffected
    assert login_post(app.test_client(), "test_community_worker", TEST_PASSWORD).status_code == 302
    failed = audit(app, "auth.login.failed")
    assert len(failed) == 5 and all("wrong-password" not in str(f[3]) for f in failed)


def test_login_failure_says_the_same_for_unknown_users(app, client):
    ensure_user(app, "resident")

    def message(resp):
        page = html(resp)
        return page.split('class="error-summary"', 1)[1].split("</div>", 1)[0]

    wrong = login_post(client, "test_resident", "wrong-password")
    unknown = login_post(app.test_client(), "no_such_user", "wrong-password")
    assert wrong.status_code == unknown.status_code == 401
    assert message(wrong) == message(unknown)


# ------------------------------------------------------------------------------ the API document


def test_resident_api_is_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    for path, methods in {
        "/api/v1/identity/notifications": {"get"},
        "/api/v1/identity/notifications/read": {"post"},
        "/api/v1/identity/access-log": {"get"},
        "/api/v1/identity/sessions": {"get"},
        "/api/v1/identity/sessions/{session_id}": {"delete"},
        "/api/v1/identity/tokens": {"get", "post"},
        "/api/v1/identity/tokens/{token_id}": {"delete"},
    }.items():
        assert methods <= set(paths[path]), path
        for method in methods:
            op = paths[path][method]
            assert op["security"] == [{"bearerAuth": []}]
            assert "401" in op["responses"]
    assert "404" in paths["/api/v1/identity/tokens/{token_id}"]["delete"]["responses"]


def test_resident_api_needs_a_sign_in(client):
    for method, path in (("get", "/notifications"), ("get", "/access-log"), ("get", "/sessions"),
                         ("get", "/tokens"), ("delete", "/tokens/1"), ("delete", "/sessions/1")):
        resp = getattr(client, method)(f"/api/v1/identity{path}")
        assert resp.status_code == 401, path
