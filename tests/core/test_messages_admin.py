"""Issue 17: the admin messages page and API show what became of each message — waiting
(with its failed attempts, last error and next try), sent (by which channel, when), failed
(with the provider's error) — and never a one-time code or a full recipient."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select

from core.identity import otp
from core.identity.models import OutboundMessage
from core.identity.notifications import queue_message
from core.testing import deliver_events, login
from core.web.i18n import compile_catalogues

PHONE = "13812345678"
ADDRESS = "zhang.wei@example.cn"


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    compile_catalogues()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


@pytest.fixture
def app(make_app):
    """SMS through an Aliyun endpoint that is down (three attempts, long back-off), e-mail
    to the console."""
    return make_app(plugins=[], config={
        "events": {"delivery": "manual", "max_attempts": 3, "backoff_base_seconds": 600.0},
        "messaging": {"sms": "aliyun", "aliyun": {
            "endpoint": f"http://127.0.0.1:{closed_port()}", "access_key_id": "LTAI-id",
            "access_key_secret": "secret", "template_codes": {"otp": "SMS_1"},
            "timeout": 2.0}},
    })


def seed(app) -> str:
    """A code by SMS (its send fails and waits for a retry), one by e-mail (sent), and a
    plain SMS without a template code (fails for good once attempts run out)."""
    kernel = app.extensions["shequ"]
    with app.app_context(), kernel.db.session_scope() as s:
        otp.issue_code(s, kernel, purpose="signup", channel="sms", recipient=PHONE,
                       locale="en")
        otp.issue_code(s, kernel, purpose="email", channel="email", recipient=ADDRESS,
                       locale="en")
    with app.app_context(), kernel.db.session_scope() as s:
        code = s.scalar(select(OutboundMessage.params).where(
            OutboundMessage.channel == "sms"))["code"]
    deliver_events(app)
    return code


def test_the_page_shows_status_attempts_and_errors_but_no_code(app, client_as):
    code = seed(app)
    auditor = client_as("auditor")
    auditor.set_cookie("shequ_lang", "en")
    page = auditor.get("/admin/messages").get_data(as_text=True)
    assert code not in page and "******" in page
    assert PHONE not in page and "138****5678" in page and "z***@example.cn" in page
    assert "Waiting to be sent" in page and "Sent" in page
    assert "Last error" in page and "Aliyun SMS" in page and "Next attempt" in page
    assert "Sent by" in page and "console:" in page and "Sent at" in page
    queued = auditor.get("/admin/messages?status=queued").get_data(as_text=True)
    assert "138****5678" in queued and "z***@example.cn" not in queued


def test_the_api_gives_the_same_fields(app, client, token_for):
    code = seed(app)
    token = token_for("auditor")
    resp = client.get("/api/v1/identity/messages?status=queued",
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    [item] = resp.get_json()["items"]
    assert item["recipient"] == "138****5678" and item["template"] == "otp"
    assert item["status"] == "queued" and item["attempts"] == 1 and item["locale"] == "en"
    assert item["last_error"].startswith("Aliyun SMS") and item["next_attempt_at"]
    assert code not in item["body"] and "******" in item["body"]
    sent = client.get("/api/v1/identity/messages?status=sent",
                      headers={"Authorization": f"Bearer {token}"}).get_json()["items"]
    assert [m["sent_by"][:8] for m in sent] == ["console:"] and sent[0]["sent_at"]


def test_a_message_that_ran_out_of_attempts_shows_failed_with_the_reason(make_app):
    app = make_app(plugins=[], config={
        "events": {"delivery": "manual", "max_attempts": 1},
        "messaging": {"sms": "aliyun", "aliyun": {"access_key_id": "id",
                                                   "access_key_secret": "secret"}}})
    kernel = app.extensions["shequ"]
    with app.app_context(), kernel.db.session_scope() as s:
        queue_message(s, kernel.bus, channel="sms", recipient=PHONE, template="plain",
                      params={"subject": "Water", "body": "Off on Tuesday"}, locale="en")
    deliver_events(app)
    auditor = app.test_client()
    login(auditor, app, "auditor")
    auditor.set_cookie("shequ_lang", "en")
    page = auditor.get("/admin/messages?status=failed").get_data(as_text=True)
    assert "Sending failed" in page and "no Aliyun template code" in page
    assert "Off on Tuesday" in page
