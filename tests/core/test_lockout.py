"""Issue 17, item 4: a lockout that cannot be turned on residents.

Failed sign-ins are counted per (account, address) with growing waits, and per address
(one address trying many accounts waits); an account attacked from many addresses is never
refused — its owner signs in with the password and a code sent to the proved phone, while
the attackers, who hold no phone, cannot. Every refusal says how long to wait, and none
says whether the account exists. Addresses are distinct ``REMOTE_ADDR`` values: the app
reads ``request.remote_addr`` (``server.proxy_hops = 0`` trusts no forwarded header)."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import func, select

from core.audit.models import AuditEntry
from core.db import utcnow
from core.identity.models import OutboundMessage
from core.identity.services import create_user
from core.testing import TEST_PASSWORD, csrf_token, last_code
from core.web.i18n import compile_catalogues

PHONE = "13800138000"
HOME = "203.0.113.7"


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    compile_catalogues()


@pytest.fixture
def app(request, make_app):
    marker = request.node.get_closest_marker("shequ_config")
    return make_app(plugins=[], config=marker.args[0] if marker else None)


@pytest.fixture
def clock(monkeypatch):
    """Move the limiter's clock (``time.time``) forward: waits end without sleeping."""
    real = time.time
    offset = [0.0]
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])

    def advance(seconds: float) -> None:
        offset[0] += seconds

    return advance


def db(app):
    return app.extensions["shequ"].db.session_scope()


def resident(app, username="wangli", *, proved=True) -> int:
    with db(app) as s:
        user = create_user(s, app.extensions["shequ.hasher"], username=username,
                           password=TEST_PASSWORD, phone=PHONE if proved else "13900139000",
                           roles=["resident"], phone_verified_at=utcnow() if proved else None)
        s.flush()
        return user.id


def at(app, ip: str, lang: str | None = None):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    if lang:
        client.set_cookie("shequ_lang", lang)
    return client


def sign_in(client, username, password):
    return client.post("/account/login", data={
        "csrf_token": csrf_token(client, "/account/login"), "username": username,
        "password": password})


def enter_code(client, code):
    return client.post("/account/login", data={
        "csrf_token": csrf_token(client, "/"), "step": "code", "code": code})


def signed_in(client) -> bool:
    return client.get("/account/").status_code == 200


def html(resp) -> str:
    return resp.get_data(as_text=True)


def main(resp) -> str:
    text = html(resp).split("<main", 1)[1].split("</main>", 1)[0]
    return re.sub(r'name="csrf_token"[^>]*>', "", text)


def summary(resp) -> str:
    return html(resp).split('class="error-summary"', 1)[1].split("</div>", 1)[0]


def login_codes(app) -> int:
    with db(app) as s:
        return s.scalar(select(func.count()).select_from(OutboundMessage).where(
            OutboundMessage.template == "otp")) or 0


# ------------------------------------------------------------------------------ Done-when


def test_a_resident_signs_in_with_a_code_while_attacked_from_50_addresses(app, clock):
    resident(app)
    for i in range(50):
        attacker = at(app, f"198.51.100.{i + 1}")
        for guess in range(2):
            assert sign_in(attacker, "wangli", f"guess-{i}-{guess}").status_code == 401
    assert login_codes(app) == 0  # wrong passwords never send a code

    owner = at(app, HOME, "en")
    asked = sign_in(owner, "wangli", TEST_PASSWORD)
    assert asked.status_code == 401  # not refused: asked for a code
    assert "Enter the sign-in code" in html(asked)
    assert PHONE not in html(asked) and "138****8000" not in html(asked)
    code = last_code(app, PHONE, "login")
    assert code is not None and login_codes(app) == 1
    assert not signed_in(owner)
    done = enter_code(owner, code)
    assert done.status_code == 302 and signed_in(owner)

    # an attacker at a fresh address: the same page for a wrong password, and no code
    attacker = at(app, "198.51.100.200", "en")
    page = sign_in(attacker, "wangli", "another-guess")
    assert page.status_code == 401 and main(page) == main(asked)
    assert login_codes(app) == 1
    # even the owner's own code is refused in a browser that gave a wrong password
    clock(61)  # past the resend wait
    owner_again = at(app, HOME)
    sign_in(owner_again, "wangli", TEST_PASSWORD)
    fresh = last_code(app, PHONE, "login")
    assert fresh is not None and login_codes(app) == 2
    refused = enter_code(attacker, fresh)
    assert refused.status_code == 401 and not signed_in(attacker)
    assert "This code is not right" in summary(refused)
    assert enter_code(owner_again, fresh).status_code == 302  # its tries were not spent

    with db(app) as s:
        ok = s.scalars(select(AuditEntry).where(
            AuditEntry.action == "auth.login.succeeded")).all()
        assert [e.detail for e in ok] == [{"with_code": True}, {"with_code": True}]


def test_an_unknown_name_under_attack_reads_the_same(app):
    resident(app)
    for i in range(12):
        sign_in(at(app, f"198.51.100.{i + 1}"), "wangli", "guess")
        sign_in(at(app, f"198.51.100.{i + 1}"), "nobody_here", "guess")
    known = sign_in(at(app, "198.51.100.99", "en"), "wangli", "guess")
    unknown = sign_in(at(app, "198.51.100.98", "en"), "nobody_here", "guess")
    assert known.status_code == unknown.status_code == 401
    assert main(known) == main(unknown)


def test_an_account_without_a_proved_channel_is_told_where_to_go(app):
    resident(app, "no_phone", proved=False)
    for i in range(10):
        sign_in(at(app, f"198.51.100.{i + 1}"), "no_phone", "guess")
    owner = at(app, HOME, "en")
    page = sign_in(owner, "no_phone", TEST_PASSWORD)
    assert page.status_code == 401
    assert "community office" in html(page) and "reset your password" in html(page)
    assert login_codes(app) == 0
    assert enter_code(owner, "123456").status_code == 401
    with db(app) as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "auth.login.code_asked"))
        assert entry.detail == {"channel": "none"}


def test_a_wrong_sign_in_code_counts_and_a_code_works_once(app):
    resident(app)
    for i in range(10):
        sign_in(at(app, f"198.51.100.{i + 1}"), "wangli", "guess")
    owner = at(app, HOME)
    sign_in(owner, "wangli", TEST_PASSWORD)
    code = last_code(app, PHONE, "login")
    wrong = enter_code(owner, "000000" if code != "000000" else "111111")
    assert wrong.status_code == 401 and "验证码不正确或已失效" in summary(wrong)
    assert enter_code(owner, code).status_code == 302
    with db(app) as s:
        failed = s.scalars(select(AuditEntry).where(
            AuditEntry.action == "auth.login.failed")).all()
        assert failed[-1].detail == {"login": "wa****", "with_code": True}
    # within the resend wait no new code goes out; the used one does not work again
    other = at(app, "203.0.113.8")
    assert sign_in(other, "wangli", TEST_PASSWORD).status_code == 401
    assert last_code(app, PHONE, "login") == code
    assert enter_code(other, code).status_code == 401


def test_the_code_step_expires_back_to_the_password(app):
    client = at(app, HOME, "en")
    resp = enter_code(client, "123456")  # no pending sign-in
    assert resp.status_code == 400
    assert "Enter your password again" in html(resp)


# ------------------------------------------------------------------------------ waits


@pytest.mark.shequ_config({"identity": {"login_failures_per_account": "1000 per hour",
                                        "login_delay_minutes": [1, 5, 15]}})
def test_one_address_waits_longer_after_each_five_failures(app, clock):
    resident(app)
    client = at(app, "198.51.100.1")

    def fail_five():
        assert [sign_in(client, "wangli", "wrong").status_code for _ in range(5)] == [401] * 5

    fail_five()
    refused = sign_in(client, "wangli", TEST_PASSWORD)  # the right password waits too
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60
    assert "请 1 分钟后再试" in summary(refused)
    assert not signed_in(client)
    clock(61)
    fail_five()
    refused = sign_in(client, "wangli", TEST_PASSWORD)
    assert 60 < int(refused.headers["Retry-After"]) <= 300
    assert "请 5 分钟后再试" in summary(refused)
    clock(301)
    fail_five()
    refused = sign_in(client, "wangli", "wrong")
    assert 300 < int(refused.headers["Retry-After"]) <= 900
    assert "请 15 分钟后再试" in summary(refused)
    clock(901)
    fail_five()  # the last wait repeats
    assert 300 < int(sign_in(client, "wangli", "x").headers["Retry-After"]) <= 900
    # meanwhile the owner, at home, signs in with the password alone
    assert sign_in(at(app, HOME), "wangli", TEST_PASSWORD).status_code == 302


@pytest.mark.shequ_config({"identity": {"login_failures_per_account": "1000 per hour"}})
def test_the_wait_is_said_in_english_too_and_names_no_account(app):
    resident(app)
    known, unknown = at(app, "198.51.100.1", "en"), at(app, "198.51.100.2", "en")
    for _ in range(5):
        sign_in(known, "wangli", "wrong")
        sign_in(unknown, "nobody_here", "wrong")
    a, b = sign_in(known, "wangli", "wrong"), sign_in(unknown, "nobody_here", "wrong")
    assert a.status_code == b.status_code == 429
    assert "Too many tries. Try again in 1 minute." in summary(a)
    assert summary(a) == summary(b)


@pytest.mark.shequ_config({"identity": {"login_failures_per_account": "1000 per hour"}})
def test_signing_in_clears_the_address_count(app):
    resident(app)
    client = at(app, HOME)
    for _ in range(4):
        assert sign_in(client, "wangli", "wrong").status_code == 401
    assert sign_in(client, "wangli", TEST_PASSWORD).status_code == 302
    client.post("/account/logout", data={"csrf_token": csrf_token(client, "/")})
    for _ in range(4):
        assert sign_in(client, "wangli", "wrong").status_code == 401
    assert sign_in(client, "wangli", TEST_PASSWORD).status_code == 302


@pytest.mark.shequ_config({"identity": {"login_failures_per_ip": "8 per 15 minutes"}})
def test_an_address_trying_many_accounts_is_throttled(app, clock):
    resident(app)
    client = at(app, "198.51.100.1", "en")
    for i in range(8):
        assert sign_in(client, f"someone_{i}", "guess").status_code == 401
    refused = sign_in(client, "wangli", TEST_PASSWORD)  # any account, even a right password
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 900
    assert re.search(r"Try again in \d+ minutes?\.", summary(refused))
    assert sign_in(at(app, HOME), "wangli", TEST_PASSWORD).status_code == 302  # elsewhere
    clock(901)
    assert sign_in(client, "wangli", TEST_PASSWORD).status_code == 302
