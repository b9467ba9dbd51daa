"""A notification is told in the reader's language, not the one it was sent in.

A ``Message`` is stored structured (msgid, catalogue, parameters) and rendered when read:
on /account/notifications in the page's language, over the resident API in the caller's
(``Accept-Language``), with datetimes in the configured time zone. The text in the
recipient's language at send time is kept: the SMS and e-mail carry it, and it is shown
when the message can no longer be rendered (an unknown catalogue, a msgid gone)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from core.events.delivery import deliver_pending
from core.identity.models import Notification, OutboundMessage, User
from core.testing import ensure_user, login
from core.toolkit import Bilingual, Message, notify
from core.web.i18n import LANG_COOKIE

pytestmark = pytest.mark.with_plugins("surveillance", "self_governance")


def _resident(app, locale: str, *, phone: str = "") -> User:
    user = ensure_user(app, "resident")
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as s:
        row = s.get(User, user.id)
        row.locale = locale
        if phone:
            row.phone = phone
    return user


def _send(app, user_id: int, **kwargs) -> int:
    kernel = app.extensions["shequ"]
    with app.app_context(), kernel.db.session_scope() as s:
        note = notify(s, kernel.bus, user_id=user_id, **kwargs)
        s.flush()
        return note.id


def _page(client, lang: str) -> str:
    client.set_cookie(LANG_COOKIE, lang)
    resp = client.get("/account/notifications")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def _report_received(app, user_id: int, report: int = 7) -> int:
    """What surveillance tells a reporter (plugins/surveillance/services/notices.py)."""
    return _send(app, user_id, source="surveillance",
                 title=Message("Report %(id)s received", id=report),
                 body=Message("The security team checks it and sends someone if needed."))


def test_sent_in_chinese_reads_in_english_on_an_english_page(app):
    user = _resident(app, "zh")
    note_id = _report_received(app, user.id)
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as s:
        stored = s.get(Notification, note_id)
        assert "7" in stored.title and "Report" not in stored.title  # the recipient's zh
        chinese_title, chinese_body = stored.title, stored.body
    client = app.test_client()
    login(client, app, "resident")
    english = _page(client, "en")
    assert "Report 7 received" in english
    assert "The security team checks it and sends someone if needed." in english
    assert chinese_title not in english and chinese_body not in english
    chinese = _page(client, "zh")
    assert chinese_title in chinese and chinese_body in chinese
    assert "Report 7 received" not in chinese


def test_the_api_renders_in_the_callers_language(app, token_for):
    user = _resident(app, "zh")
    _report_received(app, user.id, report=12)
    token = token_for("resident")
    client = app.test_client()

    def first(lang: str) -> dict:
        resp = client.get("/api/v1/identity/notifications",
                          headers={"Authorization": f"Bearer {token}",
                                   "Accept-Language": lang})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()["items"][0]

    en = first("en")
    assert en["title"] == "Report 12 received"
    assert en["body"] == "The security team checks it and sends someone if needed."
    zh = first("zh")
    assert "12" in zh["title"] and "Report" not in zh["title"]
    assert "security" not in zh["body"]


@pytest.mark.shequ_config({"app": {"timezone": "America/New_York"}})
def test_a_datetime_parameter_is_shown_in_the_configured_time_zone(app):
    user = _resident(app, "en")
    closes = datetime(2027, 3, 1, 16, 30, tzinfo=UTC)  # 11:30 in New York (EST)
    _send(app, user.id, source="self_governance",
          title=Message("A vote is open to you: “%(title)s”", title="Bike shed"),
          body=Message("You may vote until %(when)s. Your ballot is yours alone: nobody may "
                       "cast it for you.", when=closes))
    client = app.test_client()
    login(client, app, "resident")
    page = _page(client, "en")
    assert "You may vote until 2027-03-01 11:30." in page
    assert "16:30" not in page


def test_a_bilingual_label_and_nested_messages_follow_the_reader(app):
    user = _resident(app, "zh")
    _send(app, user.id, source="core",
          title=Message("Your correction was approved"),
          body=Message("Your %(field)s in the community register has been corrected.",
                       field=Bilingual("phone number", "手机号码")))
    client = app.test_client()
    login(client, app, "resident")
    english = _page(client, "en")
    assert "Your correction was approved" in english
    assert "Your phone number in the community register has been corrected." in english
    assert "手机号码" not in english
    assert "手机号码" in _page(client, "zh")


def test_what_cannot_be_rendered_shows_the_stored_text(app):
    user = _resident(app, "zh")
    gone_plugin = _report_received(app, user.id, report=31)
    gone_msgid = _send(app, user.id, source="core",
                       title=Message("Your correction was refused"),
                       body="A reason the reviewer typed.")
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as s:
        stored = {n.id: (n.title, n.body) for n in s.scalars(select(Notification))}
        # the plugin that sent it is no longer loaded; a msgid the catalogue lost
        s.execute(update(Notification).where(Notification.id == gone_plugin).values(
            title_message={"msgid": "Report %(id)s received", "domain": "no_such_plugin",
                           "params": {"id": 31}}))
        s.execute(update(Notification).where(Notification.id == gone_msgid).values(
            title_message={"msgid": "A sentence no catalogue holds", "domain": "core",
                           "params": {}}))
    client = app.test_client()
    login(client, app, "resident")
    english = _page(client, "en")
    assert stored[gone_plugin][0] in english  # the Chinese stored at send time
    assert "Report 31 received" not in english
    assert "A reason the reviewer typed." in english  # what a person wrote, as written
    chinese = _page(client, "zh")
    assert stored[gone_msgid][0] in chinese  # no Chinese for the msgid: the stored text
    assert "A sentence no catalogue holds" not in chinese


def test_the_outbox_gets_the_recipients_language(app):
    user = _resident(app, "zh", phone="13900003333")
    _send(app, user.id, source="surveillance", channels=["sms"],
          title=Message("Report %(id)s received", id=5),
          body=Message("The security team checks it and sends someone if needed."))
    with app.app_context():
        deliver_pending(app)
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as s:
        note = s.scalar(select(Notification).where(Notification.user_id == user.id))
        msg = s.scalar(select(OutboundMessage).where(OutboundMessage.user_id == user.id))
        assert msg is not None and msg.locale == "zh"
        assert (msg.subject, msg.body) == (note.title, note.body)  # the Chinese stored
        assert "Report" not in msg.subject and "security" not in msg.body
        s.get(User, user.id).locale = "en"
    _send(app, user.id, source="surveillance", channels=["sms"],
          title=Message("Report %(id)s received", id=6),
          body=Message("The security team checks it and sends someone if needed."))
    with kernel.db.session_scope() as s:
        msgs = s.scalars(select(OutboundMessage).where(OutboundMessage.user_id == user.id)
                         .order_by(OutboundMessage.id)).all()
        assert len(msgs) == 2 and msgs[1].locale == "en"
        assert msgs[1].subject == "Report 6 received"
        assert msgs[1].body == "The security team checks it and sends someone if needed."
