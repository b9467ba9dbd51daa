"""The resident's home page does a fixed, small amount of database work, however many
plugins show a widget on it (docs/performance.md, ``page_resident_home``)."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from core.current import kernel_of
from core.identity.notifications import notify

PLUGINS = ["gov_services", "commerce", "self_governance", "surveillance"]


@pytest.fixture
def app(make_app):
    return make_app(plugins=PLUGINS)


def statements_of(app, client, path="/"):
    seen: list[str] = []

    def listener(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()))

    engine = kernel_of(app).db.engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert response.status_code == 200
    return response, seen


def test_signed_in_home_reads_the_session_the_notifications_and_the_notices(app, client_as):
    client = client_as("resident")
    client.get("/")  # the first page after signing in settles the session
    _, seen = statements_of(app, client)
    selects = [s for s in seen if s.startswith("SELECT")]
    assert len(seen) <= 3, seen  # session + account, unread notifications, notices widget
    assert sum("FROM identity_notification" in s for s in selects) == 1, seen


def test_opening_the_linked_page_marks_its_notification_read_and_the_badge_follows(
        app, client_as):
    from sqlalchemy import select

    from core.identity.models import User

    client = client_as("resident")
    with kernel_of(app).db.session_scope() as session:
        user = session.scalar(select(User).where(User.username == "test_resident"))
        for link in ("/account/", "/elsewhere"):
            notify(session, kernel_of(app).bus, user_id=user.id, title="t", link=link)
    response = client.get("/account/")
    assert response.status_code == 200
    with kernel_of(app).db.session_scope() as session:
        from core.identity.notifications import unread_count

        assert unread_count(session, user.id) == 1  # the one linking here is read
    assert '<span class="badge">1<span class="visually-hidden">' in response.text
