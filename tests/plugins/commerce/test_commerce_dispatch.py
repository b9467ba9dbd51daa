"""Dispatch rules through the services, on one small registry world: ranking by score
and load, manual dispatch, re-dispatch on timeout and on decline, suspension stopping
dispatch at once, the review flag, the workflow to the rating with its events, the
public-works event, and the registry events that flag open tickets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from commerce_kit import build_world
from sqlalchemy import select

from core.db import utcnow
from core.events.delivery import deliver_pending
from core.events.models import OutboxEvent
from core.registry import services as rs
from core.registry.reader import RegistryReader
from core.registry.testing import C1, C2, make_credit_code
from core.testing import build_test_app
from plugins.commerce import info
from plugins.commerce import services as svc
from plugins.commerce.models import Dispatch, Ticket


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    app, cleanup = build_test_app(tmp_path_factory.mktemp("commerce"), plugins=["commerce"])
    w = build_world(app)
    w.app = app
    w.kernel = app.extensions["shequ"]
    w.seq = iter(range(100, 1000))
    yield w
    cleanup()


def add_merchants(w: Any, session: Any, category: str, n: int, communities=(C1,)) -> list[int]:
    """``n`` approved merchants offering ``category`` only (each test its own category, so
    the module's tests do not see each other's load)."""
    reader = RegistryReader(session, plugin="commerce", scopes=info.data_scopes, purpose="t")
    ids = []
    for _ in range(n):
        i = next(w.seq)
        code = make_credit_code(f"92110105MA{i:04d}X")
        rs.register_organisation(
            session, {"name": f"商户{i}", "credit_code": code}, bus=w.kernel.bus
        )
        m = svc.apply_merchant(
            session,
            reader,
            credit_code=code,
            name=f"商户{i}",
            categories=[category],
            communities=list(communities),
        )
        svc.decide_merchant(session, w.kernel.bus, m.id, action="approve", reason="ok", actor=None)
        ids.append(m.id)
    return ids


def new_ticket(
    w: Any,
    session: Any,
    category: str,
    *,
    community: str = C1,
    person: int | None = None,
    **kw: Any,
) -> Ticket:
    return svc.create_ticket(
        session,
        w.kernel.bus,
        channel="operator",
        person_id=person or w.husband,
        community=community,
        category=category,
        description="需要上门服务",
        caller_address="和平路88号 3栋2单元1601",
        **kw,
    )


def events(session: Any, name: str) -> list[dict]:
    return [
        e.payload
        for e in session.scalars(
            select(OutboxEvent).where(OutboxEvent.name == name).order_by(OutboxEvent.id)
        )
    ]


def test_auto_dispatch_ranks_by_score_then_load(world):
    with world.kernel.db.session_scope() as s:
        a, b, c = add_merchants(world, s, "moving", 3)
        far = add_merchants(world, s, "moving", 1, communities=(C2,))[0]
        # a gets a 2-star rating (score 2.0); b and c have none (default 4.0).
        t = new_ticket(world, s, "moving", settings={"auto_dispatch": False})
        svc.dispatch(s, world.kernel.bus, t.id, merchant_id=a)
        svc.accept(s, world.kernel.bus, t.id, merchant_id=a)
        svc.complete(s, world.kernel.bus, t.id, merchant_id=a, final_price="50")
        svc.rate(s, world.kernel.bus, t.id, rating=2)
        # b is busy with one open ticket.
        busy = new_ticket(world, s, "moving", settings={"auto_dispatch": False})
        svc.dispatch(s, world.kernel.bus, busy.id, merchant_id=b)
        svc.accept(s, world.kernel.bus, busy.id, merchant_id=b)
        ranked = [m.id for m, _ in svc.rank_merchants(s, "moving", C1)]
        assert ranked == [c, b, a]  # far serves another community: not a candidate
        assert far not in ranked
        fresh = new_ticket(world, s, "moving")
        assert (fresh.state, fresh.merchant_id) == ("dispatched", c)
        assert events(s, "commerce.ticket.dispatched")[-1]["mode"] == "auto"


def test_manual_dispatch_only_to_a_candidate(world):
    with world.kernel.db.session_scope() as s:
        a, b = add_merchants(world, s, "laundry", 2)
        other = add_merchants(world, s, "home_care", 1)[0]
        t = new_ticket(world, s, "laundry", settings={"auto_dispatch": False})
        assert t.state == "received"
        with pytest.raises(svc.CommerceError) as exc:
            svc.dispatch(s, world.kernel.bus, t.id, merchant_id=other)
        assert exc.value.status == 409
        svc.dispatch(s, world.kernel.bus, t.id, merchant_id=b)
        assert (t.state, t.merchant_id) == ("dispatched", b)
        with pytest.raises(svc.CommerceError):
            svc.dispatch(s, world.kernel.bus, t.id, merchant_id=a)  # not received any more


def test_redispatch_on_timeout_goes_to_the_next_then_back_to_the_operator(world):
    with world.kernel.db.session_scope() as s:
        a, b = add_merchants(world, s, "delivery", 2)
        t = new_ticket(world, s, "delivery", settings={"accept_timeout_minutes": 5})
        first = t.merchant_id
        assert first in (a, b)
        cfg = {"accept_timeout_minutes": 5}
        assert svc.redispatch_expired(s, world.kernel.bus, settings=cfg) == 0  # not late yet
        later = utcnow() + timedelta(minutes=6)
        assert svc.redispatch_expired(s, world.kernel.bus, settings=cfg, now=later) == 1
        s.refresh(t)
        second = t.merchant_id
        assert t.state == "dispatched" and second != first
        # the late merchant can no longer accept
        with pytest.raises(svc.CommerceError) as exc:
            svc.accept(s, world.kernel.bus, t.id, merchant_id=first)
        assert exc.value.status == 409
        # the second lets it expire too: nobody is left, the operator gets it back
        much_later = t.accept_by + timedelta(minutes=1)
        assert svc.redispatch_expired(s, world.kernel.bus, settings=cfg, now=much_later) >= 1
        s.refresh(t)
        assert (t.state, t.merchant_id) == ("received", None)
        outcomes = [(d.merchant_id, d.outcome) for d in svc.dispatch_log(s, t.id)]
        assert outcomes == [(first, "expired"), (second, "expired")]
        kinds = [e.kind for e in svc.timeline(s, t.id)]
        assert kinds[-1] == "no_merchant" and kinds.count("expired") == 2


def test_decline_offers_the_ticket_to_the_next(world):
    with world.kernel.db.session_scope() as s:
        a, b = add_merchants(world, s, "renovation", 2)
        t = new_ticket(world, s, "renovation")
        first = t.merchant_id
        svc.decline(s, world.kernel.bus, t.id, merchant_id=first, reason="没有人手")
        s.refresh(t)
        assert t.state == "dispatched" and t.merchant_id == ({a, b} - {first}).pop()


def test_suspension_stops_dispatch_at_once(world):
    with world.kernel.db.session_scope() as s:
        a, b = add_merchants(world, s, "locksmith", 2)
        t = new_ticket(world, s, "locksmith")
        holder = t.merchant_id
        svc.decide_merchant(
            s, world.kernel.bus, holder, action="suspend", reason="多次投诉", actor=None
        )
        s.refresh(t)
        other = ({a, b} - {holder}).pop()
        assert (t.state, t.merchant_id) == ("dispatched", other)  # withdrawn and re-offered
        assert holder not in [m.id for m, _ in svc.rank_merchants(s, "locksmith", C1)]
        assert new_ticket(world, s, "locksmith").merchant_id == other
        payload = events(s, "commerce.merchant.suspended")[-1]
        assert payload["merchant_id"] == holder and payload["reason"] == "多次投诉"
        # a suspended merchant cannot accept what it held
        with pytest.raises(svc.CommerceError):
            svc.accept(s, world.kernel.bus, t.id, merchant_id=holder)
        # reinstated, it is a candidate again
        svc.decide_merchant(
            s, world.kernel.bus, holder, action="approve", reason="整改完成", actor=None
        )
        assert holder in [m.id for m, _ in svc.rank_merchants(s, "locksmith", C1)]
        log = [(e.action, e.reason) for e in svc.merchant_log(s, holder)]
        assert log[-2:] == [("suspend", "多次投诉"), ("approve", "整改完成")]


def test_workflow_to_the_rating_with_events_and_scorecard(world):
    with world.kernel.db.session_scope() as s:
        (m,) = add_merchants(world, s, "housekeeping", 1, communities=(C2,))
        t = new_ticket(world, s, "housekeeping", community=C2, person=world.other)
        assert t.merchant_id == m
        svc.accept(s, world.kernel.bus, t.id, merchant_id=m)
        with pytest.raises(svc.CommerceError):
            svc.confirm(s, t.id)  # not completed yet
        svc.start_work(s, t.id, merchant_id=m)
        with pytest.raises(svc.CommerceError) as exc:
            svc.complete(s, world.kernel.bus, t.id, merchant_id=m, final_price="-1")
        assert exc.value.field == "final_price"
        svc.complete(s, world.kernel.bus, t.id, merchant_id=m, final_price="88.5")
        svc.confirm(s, t.id)
        with pytest.raises(svc.CommerceError):
            svc.rate(s, world.kernel.bus, t.id, rating=6)
        svc.rate(s, world.kernel.bus, t.id, rating=4, comment="干净")
        assert t.state == "rated" and str(t.final_price) == "88.50"
        with pytest.raises(svc.CommerceError):
            svc.rate(s, world.kernel.bus, t.id, rating=5)  # once
        names = [
            e.name
            for e in s.scalars(
                select(OutboxEvent).where(OutboxEvent.name.like("commerce.ticket.%"))
            )
            if e.payload.get("ticket_id") == t.id
        ]
        assert names == [
            "commerce.ticket.created",
            "commerce.ticket.dispatched",
            "commerce.ticket.accepted",
            "commerce.ticket.completed",
            "commerce.ticket.rated",
        ]
        card = svc.scorecard(s, m)
        assert (card.completed, card.avg_rating, card.on_time_rate) == (1, 4.0, 1.0)
        assert [e.kind for e in svc.timeline(s, t.id)] == [
            "created",
            "dispatched",
            "accepted",
            "started",
            "completed",
            "confirmed",
            "rated",
        ]


def test_public_area_completion_publishes_public_works(world):
    with world.kernel.db.session_scope() as s:
        (m,) = add_merchants(world, s, "other", 1)
        private = new_ticket(world, s, "other")
        svc.accept(s, world.kernel.bus, private.id, merchant_id=m)
        svc.complete(s, world.kernel.bus, private.id, merchant_id=m, final_price="10")
        assert not [
            p for p in events(s, "commerce.public_works.completed") if p["ticket_id"] == private.id
        ]
        corridor = new_ticket(world, s, "other", public_area=True)
        svc.accept(s, world.kernel.bus, corridor.id, merchant_id=m)
        svc.complete(s, world.kernel.bus, corridor.id, merchant_id=m, final_price="0")
        (payload,) = [
            p for p in events(s, "commerce.public_works.completed") if p["ticket_id"] == corridor.id
        ]
        assert set(payload) == {"ticket_id", "community_id", "title", "title_zh", "body"}
        assert payload["community_id"] == rs.community_by_code(s, C1).id
        assert "需要上门服务" in payload["body"] and "李明" not in payload["body"]


def test_low_score_flags_the_merchant_for_review(world):
    with world.kernel.db.session_scope() as s:
        (m,) = add_merchants(world, s, "elderly_meals", 1)
        for rating in (2, 1, 2):
            t = new_ticket(world, s, "elderly_meals")
            svc.accept(s, world.kernel.bus, t.id, merchant_id=m)
            svc.complete(s, world.kernel.bus, t.id, merchant_id=m, final_price="15")
            svc.rate(s, world.kernel.bus, t.id, rating=rating)
        assert svc.scorecard(s, m).flagged
        assert m in [x.id for x, _ in svc.flagged_merchants(s)]
        assert not svc.scorecard(s, m, {"review_score": 1.5}).flagged


def test_complaint_warns_or_suspends(world):
    with world.kernel.db.session_scope() as s:
        (m,) = add_merchants(world, s, "plumbing", 1, communities=(C2,))
        t = new_ticket(world, s, "plumbing", community=C2, person=world.other)
        with pytest.raises(svc.CommerceError):
            svc.complain(s, t.id, text="没来")  # only once a merchant took it
        svc.accept(s, world.kernel.bus, t.id, merchant_id=m)
        c1 = svc.complain(s, t.id, text="迟到两小时")
        svc.decide_complaint(s, world.kernel.bus, c1.id, action="warn", note="警告一次", actor=None)
        c2 = svc.complain(s, t.id, text="乱收费")
        svc.decide_complaint(
            s, world.kernel.bus, c2.id, action="suspend", note="暂停整改", actor=None
        )
        merchant = s.get(svc.Merchant, m)
        assert (merchant.warnings, merchant.status) == (1, "suspended")
        assert events(s, "commerce.merchant.suspended")[-1]["complaint_id"] == c2.id
        later = new_ticket(
            world,
            s,
            "plumbing",
            community=C2,
            person=world.other,
            settings={"auto_dispatch": False},
        )
        with pytest.raises(svc.CommerceError) as exc:
            svc.dispatch(s, world.kernel.bus, later.id)  # nobody left to take it
        assert exc.value.status == 409


def test_registry_events_flag_open_tickets(world):
    app, kernel = world.app, world.kernel
    with kernel.db.session_scope() as s:
        t = new_ticket(world, s, "laundry", person=world.wife, settings={"auto_dispatch": False})
        ticket_id = t.id
        rs.move_person(s, world.wife, to_dwelling_id=world.places.d3, bus=kernel.bus)
    deliver_pending(app)
    with kernel.db.session_scope() as s:
        t = s.get(Ticket, ticket_id)
        assert t.flag == "moved"
        assert [e.kind for e in svc.timeline(s, t.id)][-1] == "resident_moved"
        rs.record_death(s, world.wife, bus=kernel.bus)
    deliver_pending(app)
    with kernel.db.session_scope() as s:
        assert s.get(Ticket, ticket_id).flag == "deceased"
        assert s.scalar(select(Dispatch.id).where(Dispatch.ticket_id == ticket_id)) is None
