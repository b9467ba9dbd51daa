"""Issue 17: SMS through Aliyun's official SDK, against a receiver on 127.0.0.1 that checks
each request the way Aliyun documents its V3 signature (ACS3-HMAC-SHA256, "请求签名"):

    CanonicalRequest = method \\n uri \\n canonical query \\n canonical headers \\n
                       signed header names \\n hex(sha256(body))
    StringToSign     = "ACS3-HMAC-SHA256" \\n hex(sha256(CanonicalRequest))
    Authorization    = ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=...,
                       Signature=hex(hmac_sha256(AccessKeySecret, StringToSign))

and the SendSms parameters (PhoneNumbers, SignName, TemplateCode, TemplateParam). It
answers as Aliyun does: ``{"Code": "OK", "BizId": ...}``, a business error with HTTP 200,
or ``SignatureDoesNotMatch`` with HTTP 400."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit

import pytest
from sqlalchemy import select

from core.identity import otp
from core.identity.models import OutboundMessage
from core.identity.services.administration import message_rows
from core.testing import deliver_events

AK_ID = "LTAI5tTestKeyId"
AK_SECRET = "test-access-key-secret"
PHONE = "13800138000"


def _encode(value: str) -> str:
    """RFC 3986 percent-encoding, as the signature document asks (space is %20, * is %2A,
    ~ stays)."""
    return quote(value, safe="-_.~")


class AliyunReceiver:
    """A stand-in for dysmsapi.aliyuncs.com that verifies what it is sent."""

    def __init__(self, secret: str = AK_SECRET) -> None:
        self.secret = secret
        self.requests: list[dict] = []
        self.problems: list[str] = []
        self.reply = {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0",
                      "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, answer = receiver.check(self.command, self.path, self.headers, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def check(self, method, path, headers, body) -> tuple[int, dict]:
        parts = urlsplit(path)
        query: dict[str, str] = {}
        for pair in filter(None, parts.query.split("&")):
            key, _, value = pair.partition("=")
            query[unquote(key)] = unquote(value)
        lower = {k.lower(): v for k, v in headers.items()}
        problems = []
        auth = lower.get("authorization", "")
        algorithm, _, rest = auth.partition(" ")
        fields = dict(item.split("=", 1) for item in rest.split(",") if "=" in item)
        signed = fields.get("SignedHeaders", "").split(";")
        if algorithm != "ACS3-HMAC-SHA256":
            problems.append(f"algorithm {algorithm!r}")
        if fields.get("Credential") != AK_ID:
            problems.append(f"credential {fields.get('Credential')!r}")
        for name in ("host", "x-acs-action", "x-acs-version", "x-acs-date",
                     "x-acs-signature-nonce", "x-acs-content-sha256"):
            if name not in signed:
                problems.append(f"{name} not signed")
        if lower.get("x-acs-content-sha256") != hashlib.sha256(body).hexdigest():
            problems.append("x-acs-content-sha256 is not the body's hash")
        sent_at = datetime.strptime(lower.get("x-acs-date", "1970-01-01T00:00:00Z"),
                                    "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs((datetime.now(UTC) - sent_at).total_seconds()) > 15 * 60:
            problems.append("x-acs-date is not within 15 minutes")
        canonical_query = "&".join(
            f"{_encode(k)}={_encode(v)}" for k, v in sorted(query.items()))
        canonical_headers = "".join(f"{h}:{lower.get(h, '').strip()}\n" for h in signed)
        canonical = "\n".join([method, parts.path or "/", canonical_query, canonical_headers,
                               ";".join(signed), hashlib.sha256(body).hexdigest()])
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        expected = hmac.new(self.secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        request_id = "8E5A1C07-0000-4000-8000-000000000000"
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            self.problems.append("signature")
            return 400, {"Code": "SignatureDoesNotMatch", "RequestId": request_id,
                         "Message": "Specified signature does not match our calculation."}
        if (lower.get("x-acs-action"), lower.get("x-acs-version")) != ("SendSms", "2017-05-25"):
            problems.append(f"action {lower.get('x-acs-action')} {lower.get('x-acs-version')}")
        for name in ("PhoneNumbers", "SignName", "TemplateCode", "TemplateParam"):
            if not query.get(name):
                problems.append(f"{name} missing")
        self.requests.append({"query": query, "headers": lower})
        if problems:
            self.problems += problems
            return 400, {"Code": "MissingParameter", "Message": "; ".join(problems),
                         "RequestId": request_id}
        return 200, self.reply

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    with AliyunReceiver() as r:
        yield r


def aliyun_app(make_app, receiver, *, secret=AK_SECRET, events=None):
    config = {
        "messaging": {"sms": "aliyun", "sender_name": "Shequ", "aliyun": {
            "endpoint": receiver.url, "access_key_id": AK_ID, "access_key_secret": secret,
            "sign_name": "幸福社区", "timeout": 5.0,
            "template_codes": {"otp": "SMS_465012345", "notice": "SMS_465054321"},
        }},
    }
    if events:
        config["events"] = {"delivery": "manual", **events}
    return make_app(plugins=[], config=config)


def issue(app, purpose="signup"):
    kernel = app.extensions["shequ"]
    with app.app_context(), kernel.db.session_scope() as s:
        code = otp.issue_code(s, kernel, purpose=purpose, channel="sms", recipient=PHONE)
        return code.message_id


def message(app, message_id):
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as s:
        m = s.get(OutboundMessage, message_id)
        s.expunge(m)
        return m


def test_a_code_goes_out_as_aliyun_documents_it_and_works(make_app, receiver):
    app = aliyun_app(make_app, receiver)
    message_id = issue(app)
    deliver_events(app)
    assert receiver.problems == []
    [req] = receiver.requests
    query = req["query"]
    assert query["PhoneNumbers"] == PHONE
    assert query["SignName"] == "幸福社区"
    assert query["TemplateCode"] == "SMS_465012345"
    params = json.loads(query["TemplateParam"])
    assert set(params) == {"code", "minutes"} and params["minutes"] == "5"
    assert len(params["code"]) == 6 and params["code"].isdigit()

    m = message(app, message_id)
    assert m.status == "sent" and m.attempts == 1 and m.sent_at is not None
    assert m.sent_by == "aliyun:900619746936498440^0"
    # the outbox keeps no usable code once it is sent
    assert m.params["code"] == "" and params["code"] not in m.body and "******" in m.body
    kernel = app.extensions["shequ"]
    with app.app_context(), kernel.db.session_scope() as s:
        assert otp.check_code(s, kernel, purpose="signup", channel="sms", recipient=PHONE,
                              code=params["code"]).consumed_at is not None


def test_a_request_signed_with_another_secret_is_refused_and_shown(make_app, receiver):
    app = aliyun_app(make_app, receiver, secret="not-the-secret",
                     events={"max_attempts": 1})
    message_id = issue(app)
    deliver_events(app)
    assert receiver.problems == ["signature"] and receiver.requests == []
    m = message(app, message_id)
    assert m.status == "failed"
    assert "SignatureDoesNotMatch" in m.error
    assert m.params["code"] == ""  # an abandoned code is blanked too


def test_a_provider_error_is_retried_then_failed_with_its_message(make_app, receiver):
    receiver.reply = {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1",
                      "RequestId": "1"}
    app = aliyun_app(make_app, receiver,
                     events={"max_attempts": 3, "backoff_base_seconds": 600.0})
    message_id = issue(app)
    deliver_events(app)
    kernel = app.extensions["shequ"]
    # the first attempt failed: still queued, and the admin view shows the retry
    with kernel.db.session_scope() as s:
        [row] = message_rows(s, [s.get(OutboundMessage, message_id)])
    assert row["status"] == "queued" and row["attempts"] == 1
    assert "isv.BUSINESS_LIMIT_CONTROL" in row["last_error"]
    assert row["next_attempt_at"] is not None
    sent_code = json.loads(receiver.requests[0]["query"]["TemplateParam"])["code"]
    assert "******" in row["body"] and sent_code not in row["body"]  # never shown

    # step past the back-off twice: the last attempt records the failure, visibly
    from datetime import timedelta

    from core.events.delivery import deliver_pending

    for hours in (1, 2):
        deliver_pending(app, now=datetime.now(UTC) + timedelta(hours=hours))
    m = message(app, message_id)
    assert len(receiver.requests) == 3
    assert (m.status, m.attempts) == ("failed", 3)
    assert m.error == "Aliyun SMS: isv.BUSINESS_LIMIT_CONTROL: 触发分钟级流控Permits:1"


def test_an_expired_code_is_not_sent(make_app, receiver):
    app = aliyun_app(make_app, receiver)
    message_id = issue(app)
    kernel = app.extensions["shequ"]
    from core.identity.models import OneTimeCode

    with kernel.db.session_scope() as s:
        code = s.scalar(select(OneTimeCode).where(OneTimeCode.message_id == message_id))
        code.expires_at = datetime(2020, 1, 1, tzinfo=UTC)
    deliver_events(app)
    assert receiver.requests == []
    m = message(app, message_id)
    assert (m.status, m.error, m.params["code"]) == ("failed", "expired before it could be sent",
                                                      "")


def test_a_template_without_an_aliyun_code_fails_with_the_reason(make_app, receiver):
    from core.identity.notifications import queue_message

    app = aliyun_app(make_app, receiver, events={"max_attempts": 1})
    kernel = app.extensions["shequ"]
    with app.app_context(), kernel.db.session_scope() as s:
        msg_id = queue_message(s, kernel.bus, channel="sms", recipient=PHONE, template="plain",
                               params={"subject": "Water", "body": "Off on Tuesday"}).id
    deliver_events(app)
    assert receiver.requests == []
    assert "template_codes" in message(app, msg_id).error
