"""The resident is told what happens to their ticket (issue 16): sent to a merchant,
accepted, and done with the invitation to rate — in their own language, linking to their
ticket page; and the resident's ticket page no longer contradicts itself while the offer
waits, nor credits the resident with the dispatch."""

from __future__ import annotations

from typing import Any

import pytest
from commerce_kit import build_world, sign_in
from sqlalchemy import select

from core.identity.models import Notification, User
from core.testing import build_test_app, deliver_events
from plugins.commerce import services as svc
from plugins.commerce.models import Merchant


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    app, cleanup = build_test_app(tmp_path_factory.mktemp("commerce-notices"),
                                  plugins=["commerce"])
    w = build_world(app)
    w.app, w.kernel = app, app.extensions["shequ"]
    yield w
    cleanup()


def _set_locale(w: Any, user_id: int, locale: str) -> None:
    with w.kernel.db.session_scope() as session:
        session.get(User, user_id).locale = locale


def _notes(w: Any, user_id: int, ticket_id: int) -> list[Notification]:
    with w.kernel.db.session_scope() as session:
        rows = session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id,
                   Notification.link == f"/commerce/my/{ticket_id}")
            .order_by(Notification.id)
        ).all()
        session.expunge_all()
        return list(rows)


def _file(w: Any) -> int:
    """The elder files a repair on the web: auto-dispatched to the best merchant."""
    with w.kernel.db.session_scope() as session:
        user = session.get(User, w.resident)
        ticket = svc.create_ticket(
            session, w.kernel.bus, channel="web", person_id=w.elder, community="110105001001",
            category="repairs", description="The tap drips", actor=user,
        )
        return ticket.id


def _work(w: Any, ticket_id: int) -> str:
    """The merchant holding the offer accepts and completes; returns its name."""
    with w.kernel.db.session_scope() as session:
        from plugins.commerce.models import Ticket

        merchant_id = session.get(Ticket, ticket_id).merchant_id
        svc.accept(session, w.kernel.bus, ticket_id, merchant_id=merchant_id)
        svc.complete(session, w.kernel.bus, ticket_id, merchant_id=merchant_id,
                     final_price="80")
        return session.get(Merchant, merchant_id).name


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_resident_is_told_each_step_in_their_language(world, locale):
    w = world
    _set_locale(w, w.resident, locale)
    tid = _file(w)
    deliver_events(w.app)
    name = _work(w, tid)
    deliver_events(w.app)
    deliver_events(w.app)  # idempotent: a second run tells nobody twice
    notes = _notes(w, w.resident, tid)
    titles = [n.title for n in notes]
    assert len(notes) == 3, titles
    if locale == "zh":
        assert titles == [f"工单 {tid}：已派给{name}", f"工单 {tid}：{name}已接单",
                          f"工单 {tid} 已完工，请评价服务"]
        assert "评价" in notes[2].body and "¥80.00" in notes[2].body
    else:
        assert titles == [f"Ticket {tid}: sent to {name}",
                          f"Ticket {tid}: {name} accepted your request",
                          f"Ticket {tid} is done: please rate the service"]
        assert "rate the service" in notes[2].body
    assert all(n.source == "commerce" and n.read_at is None for n in notes)
    # nobody else hears of it
    assert _notes(w, w.resident_other, tid) == []


def test_the_merchants_language_does_not_decide_the_residents(world):
    """The merchant's click happens on an English page; the resident reads Chinese."""
    w = world
    _set_locale(w, w.resident, "zh")
    tid = _file(w)
    deliver_events(w.app)
    with w.app.test_request_context("/", headers={"Cookie": "shequ_lang=en"}):
        _work(w, tid)
    deliver_events(w.app)
    assert "请评价" in _notes(w, w.resident, tid)[-1].title


def test_the_ticket_page_says_who_it_was_offered_to_and_does_not_credit_the_resident(world):
    w = world
    _set_locale(w, w.resident, "zh")
    tid = _file(w)
    page = sign_in(w.app, "elder").get(f"/commerce/my/{tid}", headers={"Cookie": "shequ_lang=zh"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "尚未派给商户" not in html and "等待商户接单" in html
    assert "自动" in html  # the timeline: the dispatch rule offered it, not 测试elder
    with w.kernel.db.session_scope() as session:
        events = svc.timeline(session, tid)
        dispatched = next(e for e in events if e.kind == "dispatched")
        assert dispatched.actor_id is None and dispatched.actor_name == "system"
