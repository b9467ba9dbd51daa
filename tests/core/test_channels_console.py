"""Issue 17: the development console channel (the default), which production refuses; the
``hook`` channel (send_message plugins) and ``none``; per-recipient limits; configurable
templates; secrets never printed."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from core.config import DEFAULT_CONFIG, ConfigError, load_config
from core.hookspecs import PluginInfo, hookimpl
from core.identity import otp
from core.identity.channels import console
from core.identity.models import OutboundMessage, User
from core.identity.notifications import notify, queue_message
from core.testing import deliver_events, ensure_user, last_code

PHONE = "13900001111"


def statuses(app) -> list[tuple[str, str | None]]:
    with app.extensions["shequ"].db.session_scope() as s:
        return [(m.status, m.error) for m in
                s.scalars(select(OutboundMessage).order_by(OutboundMessage.id))]


def test_a_code_is_written_to_the_log_and_kept_for_tests(app, caplog):
    kernel = app.extensions["shequ"]
    with app.app_context(), kernel.db.session_scope() as s:
        otp.issue_code(s, kernel, purpose="verify", channel="sms", recipient=PHONE,
                       locale="en")
    with caplog.at_level(logging.WARNING, logger="shequ.messages"):
        deliver_events(app)
    code = last_code(app, PHONE, "verify")
    assert code and len(code) == 6
    [record] = [r for r in caplog.records if r.name == "shequ.messages"]
    assert record.levelno == logging.WARNING
    assert PHONE in record.getMessage() and code in record.getMessage()
    item = console.sent()[-1]
    assert (item["channel"], item["recipient"], item["template"]) == ("sms", PHONE, "otp")
    assert item["subject"] == "Your Shequ verification code" and code in item["body"]
    with kernel.db.session_scope() as s:
        m = s.scalar(select(OutboundMessage))
        assert (m.status, m.sent_by[:8], m.params["code"]) == ("sent", "console:", "")
        assert code not in m.body


def test_production_refuses_the_console_channel():
    with pytest.raises(ConfigError) as err:
        load_config(DEFAULT_CONFIG, environ={"SHEQU_SECRET_KEY": "k" * 40},
                    overrides={"app": {"env": "production", "demo_data": False}})
    text = str(err.value)
    assert "messaging.sms" in text and "messaging.email" in text and "console" in text
    cfg = load_config(DEFAULT_CONFIG, environ={"SHEQU_SECRET_KEY": "k" * 40}, overrides={
        "app": {"env": "production", "demo_data": False},
        "messaging": {"sms": "hook", "email": "none"}})
    assert cfg.messaging["sms"] == "hook"


def test_secrets_come_from_the_environment_and_are_never_printed():
    cfg = load_config(DEFAULT_CONFIG, environ={
        "SHEQU__MESSAGING__SMTP__PASSWORD": "mail-pass",
        "SHEQU__MESSAGING__ALIYUN__ACCESS_KEY_SECRET": "ak-secret"})
    assert cfg.messaging["smtp"]["password"] == "mail-pass"
    assert cfg.messaging["aliyun"]["access_key_secret"] == "ak-secret"
    printed = cfg.as_dict()
    assert printed["messaging"]["smtp"]["password"] == "***"
    assert printed["messaging"]["aliyun"]["access_key_secret"] == "***"
    assert cfg.messaging["smtp"]["password"] == "mail-pass"  # redacting a copy


@pytest.mark.parametrize(("templates", "problem"), [
    ({"otp": {"en": "Code: %(cod)s"}}, "'cod'"),
    ({"otp": {"fr": "Code %(code)s"}}, "only zh, en"),
    ({"welcome": {"en": "Hi"}}, "no such template"),
])
def test_template_overrides_are_checked_at_start_up(templates, problem):
    with pytest.raises(ConfigError) as err:
        load_config(DEFAULT_CONFIG, environ={}, overrides={"messaging": {"templates": templates}})
    assert "messaging.templates" in str(err.value) and problem in str(err.value)


@pytest.mark.shequ_config({"messaging": {"templates": {"notice": {
    "en": "Notice: %(title)s. %(body)s", "zh_subject": "【通知】%(title)s"}}}})
def test_a_template_can_be_reworded_per_language(app):
    kernel = app.extensions["shequ"]
    with app.app_context(), kernel.db.session_scope() as s:
        en = queue_message(s, kernel.bus, channel="sms", recipient=PHONE, template="notice",
                           params={"title": "Water", "body": "Off on Tuesday"}, locale="en")
        zh = queue_message(s, kernel.bus, channel="sms", recipient=PHONE, template="notice",
                           params={"title": "停水", "body": "周二停水"}, locale="zh")
        assert en.body == "Notice: Water. Off on Tuesday" and en.subject == "Water"
        assert zh.subject == "【通知】停水" and zh.body == "周二停水"


class Gateway:
    info = PluginInfo(id="gateway", version="1.0", title="SMS gateway")

    def __init__(self):
        self.sent = []

    @hookimpl
    def send_message(self, channel, recipient, subject, body):
        if channel != "sms":
            return None
        self.sent.append((recipient, body))
        return True


def _notify(app, channels=("sms",)):
    kernel = app.extensions["shequ"]
    user = ensure_user(app, "resident")
    with kernel.db.session_scope() as s:
        s.get(User, user.id).phone = PHONE
    with app.app_context(), kernel.db.session_scope() as s:
        notify(s, kernel.bus, user_id=user.id, title="Your application was approved",
               channels=channels)


def test_the_hook_channel_hands_messages_to_a_gateway_plugin(make_app):
    gateway = Gateway()
    app = make_app(plugins=["gateway"], extra={"gateway": gateway},
                   config={"messaging": {"sms": "hook"}})
    _notify(app)
    deliver_events(app)
    assert gateway.sent == [(PHONE, "Your application was approved")]
    with app.extensions["shequ"].db.session_scope() as s:
        m = s.scalar(select(OutboundMessage))
        assert (m.status, m.sent_by, m.template) == ("sent", "gateway", "notice")


@pytest.mark.parametrize("channel", ["hook", "none"])
def test_without_a_gateway_messages_are_recorded_not_lost(make_app, channel):
    app = make_app(plugins=[], config={"messaging": {"sms": channel}})
    _notify(app)
    deliver_events(app)
    assert statuses(app) == [("recorded", None)]


@pytest.mark.shequ_config({"messaging": {"per_recipient_per_hour": 2}})
def test_messages_beyond_the_hourly_limit_are_held_visibly(app):
    kernel = app.extensions["shequ"]
    for n in range(3):
        with app.app_context(), kernel.db.session_scope() as s:
            queue_message(s, kernel.bus, channel="sms", recipient=PHONE, template="plain",
                          params={"subject": f"n{n}", "body": f"message {n}"}, locale="en")
        deliver_events(app)
    assert statuses(app) == [("sent", None), ("sent", None), ("failed", "rate limited")]
    # codes have their own limits ([identity] otp_*) and are not held by this one
    with app.app_context(), kernel.db.session_scope() as s:
        otp.issue_code(s, kernel, purpose="verify", channel="sms", recipient=PHONE)
    deliver_events(app)
    assert statuses(app)[-1] == ("sent", None)
