"""The example plugin's own tests. They use only the fixtures Shequ ships as its ``shequ``
pytest plugin (core/testing.py), so they run wherever shequ is installed:

    pytest docs/example_plugin/tests
    SHEQU_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test pytest ...
"""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from shequ_hello.models import Greeting
from shequ_hello.services import GreetingError, mark_delivered, send_greeting
from sqlalchemy import func, select

from core.testing import (
    AppContext,
    Event,
    OutboxEvent,
    PluginError,
    PluginHost,
    csrf_token,
    seed_demo,
)
from core.toolkit import plugin_settings

API = "/api/v1/hello/greetings"


@pytest.fixture
def app(make_app):
    """Every fixture that builds on ``app`` (client, client_as, token_for, events,
    db_session) now sees an app with only this plugin enabled."""
    return make_app(plugins=["hello"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_page_needs_sign_in_then_sends(client, client_as):
    assert client.get("/hello/").status_code == 302  # to the login page
    resident = client_as("resident")
    page = resident.get("/hello/")
    assert page.status_code == 200
    assert "你好" in page.get_data(as_text=True)  # the configured greeting's default
    resp = resident.post("/hello/", data={
        "csrf_token": csrf_token(resident, "/hello/"), "recipient": "王社工", "message": "谢谢！"})
    assert resp.status_code == 302
    assert "谢谢！" in resident.get("/hello/").get_data(as_text=True)


def test_page_reports_invalid_input(client_as):
    resident = client_as("resident")
    resp = resident.post("/hello/", data={
        "csrf_token": csrf_token(resident, "/hello/"), "recipient": "", "message": "hi"})
    assert resp.status_code == 400
    assert "error-summary" in resp.get_data(as_text=True)


def test_api_lists_and_creates(client, token_for):
    token = token_for("resident")
    created = client.post(API, json={"recipient": "李委员", "message": "早上好"},
                          headers=bearer(token))
    assert created.status_code == 201, created.json
    assert created.json["recipient"] == "李委员"
    listed = client.get(API, headers=bearer(token))
    assert listed.status_code == 200
    assert listed.json["total"] == 1
    assert listed.json["items"][0]["id"] == created.json["id"]
    assert "X-Pagination" in listed.headers


def test_api_errors_have_the_error_shape(client, token_for):
    resp = client.get(API)
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "unauthenticated"
    auditor = token_for("auditor")  # may read, may not send
    assert client.get(API, headers=bearer(auditor)).status_code == 200
    resp = client.post(API, json={"recipient": "x", "message": "y"}, headers=bearer(auditor))
    assert resp.status_code == 403
    resp = client.post(API, json={"recipient": "x", "message": "y"})
    assert resp.status_code == 401  # anonymous: checked before the body is read
    resident = bearer(token_for("resident"))
    resp = client.post(API, json={"recipient": ""}, headers=resident)
    assert resp.status_code == 422
    assert set(resp.json["error"]["fields"]) == {"recipient", "message"}
    resp = client.post(API, json={"recipient": "x", "message": "  "}, headers=resident)
    assert resp.json["error"]["fields"] == {"message": ["Enter a message."]}  # schema pattern
    resp = client.post(API, json={"recipient": "x", "message": "\ud800"}, headers=resident)
    assert resp.status_code == 409  # a rule only the service checks, in the same shape
    assert resp.json["error"]["fields"] == {"message": ["contains a character that is not allowed"]}


def test_sending_publishes_the_event(client, token_for, events):
    client.post(API, json={"recipient": "王社工", "message": "hi"},
                headers=bearer(token_for("resident")))
    assert events.names() == ["hello.greeting.sent"]
    assert events.published[0][1]["recipient"] == "王社工"


def test_event_is_in_the_outbox_only_if_the_greeting_commits(kernel, db_session):
    bus = kernel.bus
    send_greeting(db_session, bus, sender_id=None, recipient="a", message="rolled back")
    db_session.rollback()
    send_greeting(db_session, bus, sender_id=None, recipient="b", message="kept")
    db_session.commit()
    names = db_session.scalars(select(OutboxEvent.name)).all()
    assert names == ["hello.greeting.sent"]
    assert db_session.scalar(select(func.count()).select_from(Greeting)) == 1


def test_handler_is_subscribed_and_idempotent(kernel, db_session):
    bus = kernel.bus
    subscriber = bus.subscribers["hello:mark_delivered"]
    assert subscriber.matches("hello.greeting.sent")
    greeting = send_greeting(db_session, bus, sender_id=None, recipient="a", message="b")
    db_session.commit()
    row = db_session.scalars(select(OutboxEvent)).one()
    event = Event(id=row.id, name=row.name, payload=row.payload, created_at=row.created_at)
    subscriber.handler(event, db_session)
    first = db_session.get(Greeting, greeting.id).delivered_at
    assert first is not None
    subscriber.handler(event, db_session)  # at-least-once delivery: a repeat is harmless
    assert db_session.get(Greeting, greeting.id).delivered_at == first
    mark_delivered(Event(id=0, name=row.name, payload={"greeting_id": 999}, created_at=None),
                   db_session)  # a greeting that is gone: nothing to do


def test_services_enforce_the_rules(kernel, db_session):
    bus = kernel.bus
    with pytest.raises(GreetingError) as err:
        send_greeting(db_session, bus, sender_id=None, recipient=" ", message="hi")
    assert err.value.field == "recipient"
    for bad in ("a\x00b", "\ud800", "x" * 501):  # NUL: PostgreSQL refuses it outright
        with pytest.raises(GreetingError):
            send_greeting(db_session, bus, sender_id=None, recipient="a", message=bad)
    send_greeting(db_session, bus, sender_id=None, recipient="a", message="line 1\nline 2")


def test_nav_and_dashboard_follow_permissions(client, client_as):
    assert 'href="/hello/"' not in client.get("/").get_data(as_text=True)
    home = client_as("resident").get("/").get_data(as_text=True)
    assert 'href="/hello/"' in home
    assert "问候" in home  # the nav label and the widget title


def test_config_is_validated(make_app):
    app = make_app(plugins=["hello"], config={"plugins": {"hello": {"greeting": "Hi"}}})
    with app.app_context():
        assert plugin_settings("hello") == {"greeting": "Hi"}
    with pytest.raises(PluginError, match=r"plugins\.hello\.greeting"):
        PluginHost().load(["hello"], settings={"hello": {"greeting": ""}})
    with pytest.raises(PluginError, match=r"plugins\.hello\.colour"):
        PluginHost().load(["hello"], settings={"hello": {"colour": "red"}})


def test_cli_commands(app, kernel):
    runner = CliRunner()
    group = click.Group()
    kernel.plugins.call_ordered("register_commands", cli=group)
    ctx = AppContext()
    ctx._app = app  # the command reuses this app instead of building one from config
    result = runner.invoke(group, ["hello", "send", "王社工"], obj=ctx)
    assert result.exit_code == 0, result.output
    assert "sent to 王社工" in result.output
    assert runner.invoke(group, ["hello", "count"], obj=ctx).output.strip() == "1"


def test_demo_data_is_idempotent(app, db_session):

    seed_demo(app)
    seed_demo(app)
    assert db_session.scalar(select(func.count()).select_from(Greeting)) == 1
