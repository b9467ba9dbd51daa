"""Issue 17: a sign-up proves the phone it registers. The form sends a code to the typed
mobile number; no account exists until the code comes back; whether the number already
has an account is told only to the person who proved they hold it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from core.audit.models import AuditEntry
from core.identity.models import OneTimeCode, OutboundMessage, User
from core.testing import csrf_token, ensure_user, last_code
from core.web.i18n import compile_catalogues

GOOD_PASSWORD = "quiet river lantern 7"
PHONE = "13800138000"


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    compile_catalogues()


@pytest.fixture
def app(request, make_app):
    marker = request.node.get_closest_marker("shequ_config")
    return make_app(plugins=[], config=marker.args[0] if marker else None)


def html(resp) -> str:
    return resp.get_data(as_text=True)


def post(client, data, page="/account/signup"):
    return client.post("/account/signup",
                       data={"csrf_token": csrf_token(client, page), **data})


def english(client):
    client.set_cookie("shequ_lang", "en")
    return client


def details(client, username="wang_xiuying", phone=PHONE, name="王秀英",
            password=GOOD_PASSWORD):
    return post(client, {"username": username, "display_name": name, "phone": phone,
                         "password": password})


def enter(client, code):
    return post(client, {"step": "code", "code": code})


def db(app):
    return app.extensions["shequ"].db.session_scope()


def users(app) -> int:
    with db(app) as s:
        return s.scalar(select(func.count()).select_from(User))


def test_the_form_sends_a_code_and_creates_nothing(app, client):
    resp = details(client)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/signup")
    assert users(app) == 0
    page = html(english(client).get("/account/signup"))
    assert "138****8000" in page and PHONE not in page
    assert 'autocomplete="one-time-code"' in page and 'name="code"' in page
    assert "You can ask for a new code in" in page
    code = last_code(app, PHONE, "signup")
    assert code and len(code) == 6
    with db(app) as s:
        msg = s.scalar(select(OutboundMessage).where(OutboundMessage.recipient == PHONE))
        assert msg.template == "otp" and msg.params["purpose"] == "signup"
        stored = s.scalar(select(OneTimeCode))
        assert code not in stored.digest and stored.user_id is None


def test_the_right_code_creates_a_proved_account_and_signs_in(app, client):
    details(client)
    resp = enter(client, last_code(app, PHONE, "signup"))
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/")
    assert client.get("/account/").status_code == 200
    with db(app) as s:
        user = s.scalar(select(User).where(User.username == "wang_xiuying"))
        assert user.phone == PHONE and user.phone_verified_at is not None
        assert user.kind == "resident" and user.role_names == ["resident"]
        assert not user.is_verified  # the registry binding is another step
        assert GOOD_PASSWORD not in user.password_hash
        assert s.scalar(select(AuditEntry.actor_name).where(
            AuditEntry.action == "auth.signup")) == "wang_xiuying"
    # the pending sign-up is gone: the page sends a signed-in person to the account
    assert client.get("/account/signup").status_code == 302


def test_a_username_that_is_the_mobile_number_needs_no_second_copy(app, client):
    assert details(client, username=PHONE, phone="").status_code == 302
    assert enter(client, last_code(app, PHONE, "signup")).status_code == 302
    with db(app) as s:
        assert s.scalar(select(User.phone).where(User.username == PHONE)) == PHONE


def test_a_username_number_and_another_phone_is_refused(app, client):
    resp = details(english(client), username=PHONE, phone="13900139000")
    assert resp.status_code == 400
    assert '<a href="#phone">Use the mobile number you chose as your username' in html(resp)


@pytest.mark.parametrize("phone, message", [
    ("", "Enter your mobile number"),
    ("12345", "Enter an 11-digit mobile number starting with 1"),
    ("01012345678", "Enter an 11-digit mobile number starting with 1"),  # a landline
    ("12800138000", "Enter an 11-digit mobile number starting with 1"),
])
def test_numbers_that_are_not_mobile_numbers(app, client, phone, message):
    resp = details(english(client), phone=phone)
    assert resp.status_code == 400
    assert '<a href="#phone">' + message in html(resp)
    assert last_code(app, phone or PHONE) is None


def test_spaces_dashes_and_plus86_are_accepted(app, client):
    assert details(client, phone="+86 138-0013-8000").status_code == 302
    assert last_code(app, PHONE, "signup")


def test_a_wrong_code_counts_and_creates_nothing(app, client):
    details(client)
    right = last_code(app, PHONE, "signup")
    wrong = "000000" if right != "000000" else "111111"
    resp = enter(english(client), wrong)
    assert resp.status_code == 422
    assert '<a href="#code">This code is not right. 4 tries left.</a>' in html(resp)
    assert users(app) == 0
    resp = enter(client, "12ab")
    assert resp.status_code == 422 and "Enter the 6-digit code" in html(resp)
    with db(app) as s:
        assert s.scalar(select(OneTimeCode.tries)) == 1  # the malformed one did not count
    assert enter(client, right).status_code == 302


def test_five_wrong_codes_spend_it(app, client):
    details(english(client))
    right = last_code(app, PHONE, "signup")
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(4):
        assert enter(client, wrong).status_code == 422
    resp = enter(client, wrong)
    assert "Too many wrong codes. Ask for a new code." in html(resp)
    resp = enter(client, right)
    assert resp.status_code == 422 and "not valid any more" in html(resp)
    assert users(app) == 0


def test_a_used_code_cannot_sign_up_twice(app, client):
    details(client)
    code = last_code(app, PHONE, "signup")
    assert enter(client, code).status_code == 302
    other = app.test_client()
    app.extensions["shequ.limits"]["_storage"].reset()  # the 60 s wait is over
    assert details(other, username="li_si", phone=PHONE).status_code == 302  # a new code
    resp = enter(english(other), code)  # the old one, reused
    assert resp.status_code == 422
    assert users(app) == 1


@pytest.mark.shequ_config({"identity": {"otp_ttl_seconds": 60}})
def test_an_expired_code(app, client):
    details(english(client))
    code = last_code(app, PHONE, "signup")
    with db(app) as s:
        row = s.scalar(select(OneTimeCode))
        row.expires_at = row.created_at
    resp = enter(client, code)
    assert resp.status_code == 422 and "This code has expired" in html(resp)


def test_send_again_waits_60_seconds_then_sends_a_new_code(app, client):
    details(english(client))
    first = last_code(app, PHONE, "signup")
    resp = post(client, {"step": "resend"})
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert "A code was sent a moment ago. Ask again in" in html(resp)
    # the wait is over (the limiter's window for this number is cleared)
    app.extensions["shequ.limits"]["_storage"].reset()
    resp = post(client, {"step": "resend"})
    assert resp.status_code == 200 and "We sent a new code" in html(resp)
    second = last_code(app, PHONE, "signup")
    with db(app) as s:
        assert s.scalar(select(func.count()).select_from(OneTimeCode)) == 2
    if first != second:
        assert enter(client, first).status_code == 422  # only the newest works
    assert enter(client, second).status_code == 302


def test_the_same_number_twice_within_a_minute(app, client):
    details(client)
    resp = details(english(app.test_client()), username="li_si")
    assert resp.status_code == 429
    assert '<a href="#phone">A code was sent a moment ago' in html(resp)


def test_a_number_with_an_account_answers_the_same_until_the_code(app, client):
    """Enumeration-safe: the form answers "code sent" for a number that has an account
    exactly as for a new one; only whoever holds the phone learns it, from the code."""
    details(client)
    assert enter(client, last_code(app, PHONE, "signup")).status_code == 302
    taken = english(app.test_client())
    fresh = english(app.test_client())
    app.extensions["shequ.limits"]["_storage"].reset()
    a = details(taken, username="li_si", phone=PHONE)
    b = details(fresh, username="zhao_liu", phone="13900139000")
    assert a.status_code == b.status_code == 302
    def main(c, masked):
        page = html(c.get("/account/signup")).split("<main", 1)[1].split("</main>", 1)[0]
        page = re.sub(r"\d+ seconds", "N seconds", page)  # the wait, a second apart at most
        return re.sub(r'value="[^"]{40,}"', "", page).replace(masked, "X")  # CSRF tokens

    assert main(taken, "138****8000") == main(fresh, "139****9000")
    resp = enter(taken, last_code(app, PHONE, "signup"))
    assert resp.status_code == 400
    assert "This mobile number already has an account" in html(resp)
    assert 'href="/account/login"' in html(resp)
    assert users(app) == 1


def test_a_taken_username_is_said_at_once(app, client):
    ensure_user(app, "resident")
    resp = details(english(client), username="TEST_Resident")
    assert resp.status_code == 400
    assert '<a href="#username">This username is taken.</a>' in html(resp)
    assert last_code(app, PHONE) is None


def test_start_again_clears_the_pending_sign_up(app, client):
    details(client)
    resp = post(client, {"step": "restart"})
    assert resp.status_code == 302
    page = html(client.get("/account/signup"))
    assert 'name="password"' in page and 'name="code"' not in page


def test_the_code_step_without_a_pending_sign_up(app, client):
    resp = enter(english(client), "123456")
    assert resp.status_code == 400
    assert "Your sign-up took too long" in html(resp)
    assert users(app) == 0


def test_the_password_never_reaches_the_cookie_or_the_outbox(app, client):
    details(client)
    cookie = client.get_cookie("shequ_session").value
    with app.app_context():  # what the browser can read in its cookie
        text = str(app.session_interface.get_signing_serializer(app).loads(cookie))
    assert GOOD_PASSWORD not in text and "$argon2id$" in text
    with db(app) as s:
        assert not any(GOOD_PASSWORD in str(m.params) for m in s.scalars(
            select(OutboundMessage)))


def test_signups_are_throttled_per_address_counting_accounts(app):
    for i in range(10):
        c = app.test_client()
        phone = f"1390000{i:04d}"
        assert details(c, username=f"resident_{i}", phone=phone).status_code == 302
        assert enter(c, last_code(app, phone, "signup")).status_code == 302
    resp = details(app.test_client(), username="resident_10", phone="13911110000")
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert users(app) == 10
