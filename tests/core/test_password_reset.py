"""Issue 17, item 2: a resident who forgot the password resets it with a one-time code
sent to the phone (or e-mail address) the account proved. Every session ends and every
API token is revoked; the reset is audited and the resident told. No answer — page or API,
message or timing of the work done — says whether the name typed has an account."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.audit.models import AuditEntry
from core.db import utcnow
from core.identity.models import ApiToken, Notification, OneTimeCode, OutboundMessage, User
from core.identity.services import create_token, create_user
from core.testing import TEST_PASSWORD, csrf_token, last_code
from core.web.i18n import compile_catalogues

PHONE = "13800138000"
EMAIL = "wang@example.com"
NEW_PASSWORD = "quiet river lantern 9"
CODE_NOT_RIGHT = "This code is not right, or it is no longer valid."


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    compile_catalogues()


@pytest.fixture
def app(request, make_app):
    marker = request.node.get_closest_marker("shequ_config")
    return make_app(plugins=[], config=marker.args[0] if marker else None)


def db(app):
    return app.extensions["shequ"].db.session_scope()


def resident(app, username="wangli", *, phone=PHONE, phone_proved=True, email=None) -> int:
    with db(app) as s:
        user = create_user(s, app.extensions["shequ.hasher"], username=username,
                           password=TEST_PASSWORD, phone=phone, roles=["resident"],
                           phone_verified_at=utcnow() if phone_proved else None)
        if email:
            user.email, user.email_verified_at = email, utcnow()
        s.flush()
        return user.id


def from_address(app, ip):
    """A client at another address (the app reads ``REMOTE_ADDR``; proxy_hops is 0)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def english(client):
    client.set_cookie("shequ_lang", "en")
    return client


def html(resp) -> str:
    return resp.get_data(as_text=True)


def main(resp) -> str:
    """The page's main content without its CSRF tokens (which differ per session)."""
    text = html(resp).split('<main', 1)[1].split("</main>", 1)[0]
    return re.sub(r'name="csrf_token"[^>]*>', "", text)


def ask(client, login):
    return client.post("/account/reset", data={
        "csrf_token": csrf_token(client, "/account/reset"), "login": login})


def confirm(client, code, password=NEW_PASSWORD):
    return client.post("/account/reset/code", data={
        "csrf_token": csrf_token(client, "/"), "step": "code", "code": code,
        "password": password})


def sign_in(client, username, password):
    return client.post("/account/login", data={
        "csrf_token": csrf_token(client, "/account/login"), "username": username,
        "password": password})


def signed_in(client) -> bool:
    return client.get("/account/").status_code == 200


def audit(app, action):
    with db(app) as s:
        return [(e.outcome, e.actor_id, e.detail) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))]


def messages(app) -> int:
    with db(app) as s:
        return s.scalar(select(func.count()).select_from(OutboundMessage))


# ------------------------------------------------------------------------------ the flow


def test_the_login_page_leads_to_the_reset(app):
    page = html(english(app.test_client()).get("/account/login"))
    assert 'href="/account/reset"' in page and "Forgot your password?" in page
    assert "忘记密码" in html(app.test_client().get("/account/login"))


def test_a_reset_by_code_ends_every_session_and_token(app):
    uid = resident(app)
    before = app.test_client()
    assert sign_in(before, "wangli", TEST_PASSWORD).status_code == 302
    assert signed_in(before)
    with db(app) as s:
        _, token = create_token(s, s.get(User, uid), name="script", permissions=None,
                                expires_days=None, granted={"identity.own.profile"})
    assert app.test_client().get("/api/v1/identity/me", headers={
        "Authorization": f"Bearer {token}"}).status_code == 200

    client = english(app.test_client())
    resp = ask(client, "wangli")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/reset/code")
    page = client.get("/account/reset/code")
    assert page.status_code == 200 and PHONE not in html(page)
    code = last_code(app, PHONE, "reset")
    assert code and re.fullmatch(r"\d{6}", code)
    done = confirm(client, code)
    assert done.status_code == 200, main(done)
    assert "Your password has been changed" in html(done)
    assert "API tokens have been revoked" in html(done)
    assert 'href="/account/login"' in html(done)

    # the browser signed in before the reset is signed out; the token no longer works
    assert not signed_in(before)
    assert app.test_client().get("/api/v1/identity/me", headers={
        "Authorization": f"Bearer {token}"}).status_code == 401
    # the old password no longer works, the new one does
    assert sign_in(app.test_client(), "wangli", TEST_PASSWORD).status_code == 401
    fresh = app.test_client()
    assert sign_in(fresh, "wangli", NEW_PASSWORD).status_code == 302 and signed_in(fresh)

    (entry,) = audit(app, "auth.password.reset")
    assert entry[1] == uid
    # API tokens, under a name the audit log's scrubbing of "token" keys keeps
    assert entry[2]["sessions_ended"] == 1 and entry[2]["api_access_revoked"] == 1
    assert entry[2]["channel"] == "sms"
    with db(app) as s:
        note = s.scalar(select(Notification).where(Notification.user_id == uid))
        assert note is not None and note.title == "您的密码已重置"  # the owner's language
        told = s.scalars(select(OutboundMessage).where(
            OutboundMessage.template == "notice", OutboundMessage.recipient == PHONE)).all()
        assert len(told) == 1
        assert s.scalar(select(func.count()).select_from(ApiToken).where(
            ApiToken.revoked_at.is_(None))) == 0


def test_the_mobile_number_or_a_proved_email_names_the_account(app):
    resident(app, phone=PHONE, email=EMAIL)
    client = app.test_client()
    assert ask(client, "138 0013 8000").status_code == 302
    assert confirm(client, last_code(app, PHONE, "reset")).status_code == 200

    other = app.test_client()
    assert ask(other, "Wang@Example.com").status_code == 302
    code = last_code(app, EMAIL, "reset")
    with db(app) as s:
        assert s.scalar(select(OneTimeCode.channel).order_by(OneTimeCode.id.desc())) == "email"
    assert confirm(other, code, "another long passphrase 3").status_code == 200
    assert sign_in(app.test_client(), "wangli", "another long passphrase 3").status_code == 302


def test_unknown_accounts_get_the_same_answer(app):
    resident(app)
    resident(app, "no_channel", phone="13900139000", phone_proved=False)
    pages = {}
    for login in ("wangli", "nobody_here", "no_channel", "13700137000", "x@example.com"):
        client = english(app.test_client())
        resp = ask(client, login)
        assert resp.status_code == 302, login
        assert resp.headers["Location"].endswith("/account/reset/code")
        pages[login] = main(client.get("/account/reset/code"))
    assert len(set(pages.values())) == 1
    # only the account with a proved phone got a code; the unproved phone got nothing
    assert last_code(app, PHONE, "reset") is not None
    assert last_code(app, "13900139000", "reset") is None
    reasons = [d.get("reason") for _, _, d in audit(app, "auth.password.reset_requested")]
    assert reasons == [None, "no_account", "no_channel", "no_account", "no_account"]
    text = " ".join(str(d) for _, _, d in audit(app, "auth.password.reset_requested"))
    assert "nobody_here" not in text and "13700137000" not in text  # only masked


def test_a_confirmation_for_a_name_without_account_reads_like_a_wrong_code(app):
    resident(app)
    known, unknown = english(app.test_client()), english(app.test_client())
    ask(known, "wangli")
    ask(unknown, "nobody_here")
    a, b = confirm(known, "000000" if last_code(app, PHONE) != "000000" else "111111"), \
        confirm(unknown, "000000")
    assert a.status_code == b.status_code == 422
    assert CODE_NOT_RIGHT in html(a) and CODE_NOT_RIGHT in html(b)
    summary = [html(r).split('class="error-summary"', 1)[1].split("</div>", 1)[0]
               for r in (a, b)]
    assert summary[0] == summary[1]


# ------------------------------------------------------------------------------ bad codes


def test_wrong_expired_and_reused_codes(app):
    resident(app)
    client = app.test_client()  # Chinese, the default
    ask(client, "wangli")
    code = last_code(app, PHONE, "reset")
    wrong = confirm(client, "000000" if code != "000000" else "111111")
    assert wrong.status_code == 422 and "验证码不正确或已失效" in html(wrong)
    assert 'value="quiet' not in html(wrong)  # the password is not sent back
    bad_shape = confirm(client, "12ab")
    assert bad_shape.status_code == 422 and "6 位验证码" in html(bad_shape)

    with db(app) as s:  # five minutes later
        row = s.scalar(select(OneTimeCode).where(OneTimeCode.purpose == "reset"))
        row.expires_at = utcnow() - timedelta(seconds=1)
    expired = confirm(client, code)
    assert expired.status_code == 422 and "验证码不正确或已失效" in html(expired)
    assert sign_in(app.test_client(), "wangli", TEST_PASSWORD).status_code == 302



@pytest.mark.shequ_config({"identity": {"otp_resend_seconds": 1}})
def test_a_used_code_does_not_work_again(app):
    resident(app)
    client = app.test_client()
    ask(client, "wangli")
    code = last_code(app, PHONE, "reset")
    assert confirm(client, code).status_code == 200
    time.sleep(1.1)  # the resend wait for the name
    again = app.test_client()
    assert ask(again, "wangli").status_code == 302
    reused = confirm(again, code, "yet another passphrase 5")
    assert reused.status_code == 422 and "验证码不正确或已失效" in html(reused)
    assert sign_in(app.test_client(), "wangli", NEW_PASSWORD).status_code == 302


def test_a_refused_new_password_keeps_the_code(app):
    resident(app)
    client = english(app.test_client())
    ask(client, "wangli")
    code = last_code(app, PHONE, "reset")
    common = confirm(client, code, "password")
    assert common.status_code == 422 and "too common" in html(common)
    named = confirm(client, code, "wangli wangli 12")
    assert named.status_code == 422 and "username" in html(named)
    # the account's own phone is checked once the code proved the holder
    phone_in = confirm(client, code, f"my {PHONE} pw")
    assert phone_in.status_code == 422 and "phone number" in html(phone_in)
    assert confirm(client, code).status_code == 200  # the same code, a good password


def test_five_wrong_codes_spend_the_code(app):
    resident(app)
    client = app.test_client()
    ask(client, "wangli")
    code = last_code(app, PHONE, "reset")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert confirm(client, wrong).status_code == 422
    assert confirm(client, code).status_code == 422  # used up: ask for a new one
    assert sign_in(app.test_client(), "wangli", TEST_PASSWORD).status_code == 302


def test_the_code_page_without_a_request_goes_back(app):
    client = app.test_client()
    assert client.get("/account/reset/code").headers["Location"].endswith("/account/reset")
    resp = confirm(client, "123456")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/reset")


# ------------------------------------------------------------------------------ throttling


def test_asking_again_at_once_waits_the_same_for_every_name(app):
    resident(app)
    for login in ("wangli", "nobody_here"):
        client = english(app.test_client())
        assert ask(client, login).status_code == 302
        again = client.post("/account/reset/code", data={
            "csrf_token": csrf_token(client, "/"), "step": "resend"})
        assert again.status_code == 429, login
        assert int(again.headers["Retry-After"]) > 0
        assert "Ask again in" in html(again)


@pytest.mark.shequ_config({"identity": {"password_resets_per_ip": "3 per hour"}})
def test_reset_requests_are_throttled_per_address(app):
    client = english(app.test_client())
    for i in range(3):
        assert ask(client, f"someone_{i}").status_code == 302
    resp = ask(client, "someone_9")
    assert resp.status_code == 429
    assert 0 < int(resp.headers["Retry-After"]) <= 3600
    assert re.search(r"Try again in \d+ minutes", html(resp))
    other = from_address(app, "203.0.113.9")
    assert ask(other, "someone_9").status_code == 302


def test_nothing_is_sent_past_the_daily_allowance_and_the_answer_is_the_same(app):
    resident(app)
    app.extensions["shequ"].config.identity["otp_per_recipient_per_day"] = 1
    app.extensions["shequ"].config.identity["otp_resend_seconds"] = 1
    assert ask(app.test_client(), "wangli").status_code == 302
    sent = messages(app)
    time.sleep(1.1)
    assert ask(app.test_client(), PHONE).status_code == 302  # the same account, refused
    assert messages(app) == sent
    assert audit(app, "auth.password.reset_requested")[-1][2]["reason"] == "throttled"


# ------------------------------------------------------------------------------ the API


def api_ask(client, login, **headers):
    return client.post("/api/v1/identity/password-reset", json={"login": login},
                       headers={"Accept-Language": "en", **headers})


def api_confirm(client, login, code, password=NEW_PASSWORD):
    return client.post("/api/v1/identity/password-reset/confirm",
                       json={"login": login, "code": code, "password": password},
                       headers={"Accept-Language": "en"})


def test_the_api_resets_a_password(app):
    uid = resident(app)
    before = app.test_client()
    sign_in(before, "wangli", TEST_PASSWORD)
    client = app.test_client()
    known, unknown = api_ask(client, "wangli"), api_ask(client, "nobody_here")
    assert known.status_code == unknown.status_code == 202
    assert known.get_json() == unknown.get_json()
    assert known.get_json()["expires_in"] == 300
    code = last_code(app, PHONE, "reset")
    wrong = api_confirm(client, "wangli", "000000" if code != "000000" else "111111")
    nobody = api_confirm(client, "nobody_here", "000000")
    # schema-valid, refused by the data: 409 (docs/api.md "422 or 409?"), one message
    assert wrong.status_code == nobody.status_code == 409
    for resp in (wrong, nobody):
        error = resp.get_json()["error"]
        assert error["code"] == "conflict"
        assert error["fields"]["code"][0].startswith(CODE_NOT_RIGHT)
    assert wrong.get_json()["error"]["message"] == nobody.get_json()["error"]["message"]

    weak = api_confirm(client, "wangli", code, "password")
    assert weak.status_code == 409 and "password" in weak.get_json()["error"]["fields"]
    short = api_confirm(client, "wangli", code, "short")  # the schema's own length: 422
    assert short.status_code == 422 and "password" in short.get_json()["error"]["fields"]
    done = api_confirm(client, "wangli", code)
    assert done.status_code == 200
    assert done.get_json()["sessions_ended"] == 1
    assert not signed_in(before)
    assert sign_in(app.test_client(), "wangli", NEW_PASSWORD).status_code == 302
    assert audit(app, "auth.password.reset")[0][1] == uid
    assert api_confirm(client, "wangli", code).status_code == 409  # used


def test_the_api_refuses_bad_bodies_in_the_one_shape(app):
    client = app.test_client()
    for body in ({}, {"login": ""}, {"login": "x", "extra": 1}, {"login": "x" * 201}):
        resp = client.post("/api/v1/identity/password-reset", json=body)
        assert resp.status_code == 422, body
        assert resp.get_json()["error"]["code"] == "invalid"
    for code in ("1" * 13, "12345", "12 456", "abcdef"):
        resp = client.post("/api/v1/identity/password-reset/confirm",
                           json={"login": "x", "code": code, "password": NEW_PASSWORD})
        assert resp.status_code == 422 and "code" in resp.get_json()["error"]["fields"]
    resp = client.post("/api/v1/identity/password-reset/confirm", data="not json",
                       content_type="application/json")
    assert resp.status_code in (400, 422)


def test_the_api_throttles_with_retry_after(app):
    client = app.test_client()
    assert api_ask(client, "nobody_here").status_code == 202
    again = api_ask(client, "NOBODY_HERE")  # the same name, another spelling
    assert again.status_code == 429
    assert int(again.headers["Retry-After"]) > 0
    error = again.get_json()["error"]
    assert error["code"] == "too_many_requests" and "Ask again in" in error["message"]


@pytest.mark.shequ_config({"identity": {"login_failures_per_ip": "3 per 15 minutes"}})
def test_wrong_codes_count_against_the_address(app):
    resident(app)
    client = app.test_client()
    api_ask(client, "wangli")
    code = last_code(app, PHONE, "reset")
    wrong = "000000" if code != "000000" else "111111"
    assert [api_confirm(client, "wangli", wrong).status_code for _ in range(3)] == [409] * 3
    refused = api_confirm(client, "wangli", code)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    # the owner, elsewhere, is not held up: three wrong tries of five leave the code good
    other = from_address(app, "203.0.113.9")
    assert api_confirm(other, "wangli", code).status_code == 200
