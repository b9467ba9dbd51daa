"""The home page's latest notices come from memory (services.notices.home_notices) yet a
notice published in this process shows at once."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from core.current import kernel_of
from plugins.self_governance.services import publish_notice


@pytest.fixture
def app(make_app):
    return make_app(plugins=["self_governance"])


def _publish(app, title):
    with kernel_of(app).db.session_scope() as session:
        publish_notice(session, title=title, body="…", community=None)


def _home(app, client):
    seen: list[str] = []

    def listener(_conn, _cursor, statement, *_args):
        seen.append(statement)

    engine = kernel_of(app).db.engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        page = client.get("/").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return page, sum("FROM self_governance_notice" in s for s in seen)


def test_home_notices_are_read_once_and_a_new_one_shows_at_once(app, client):
    _publish(app, "停水通知")
    page, reads = _home(app, client)
    assert "停水通知" in page and reads == 1
    page, reads = _home(app, client)
    assert "停水通知" in page and reads == 0  # served from memory
    _publish(app, "电梯检修")
    page, reads = _home(app, client)
    assert "电梯检修" in page and reads == 1  # the commit refreshed it
