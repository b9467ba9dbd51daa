"""Exactly one merchant holds a ticket, under real concurrency on PostgreSQL.

The race that happens in practice: merchant A accepts late, at the very moment the
re-dispatch job hands the expired offer to merchant B, who accepts at once. Both paths are
conditional UPDATEs (``WHERE state = 'dispatched' AND merchant_id = :holder``); PostgreSQL's
row lock makes the second writer re-check its WHERE after the first commits, so one path
finds nothing to update. A partial unique index (one ``accepted`` offer per ticket) is the
second guarantee. Threads with their own sessions and connections, released together by a
barrier, repeat the race several times.
"""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from typing import Any

import pytest
from commerce_kit import build_world
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from core.db import utcnow
from core.registry.testing import C1
from core.testing import TEST_DB_ENV, build_test_app
from plugins.commerce import services as svc
from plugins.commerce.models import Dispatch, Ticket

ROUNDS = 8


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    app, cleanup = build_test_app(tmp_path_factory.mktemp("race"), plugins=["commerce"])
    w = build_world(app, merchants=(("甲", ["repairs"], [C1]), ("乙", ["repairs"], [C1])))
    w.app, w.kernel = app, app.extensions["shequ"]
    yield w
    cleanup()


def expired_offer(w: Any, holder: int) -> int:
    """A ticket offered to ``holder`` whose accept-by time has passed."""
    with w.kernel.db.session_scope() as s:
        t = svc.create_ticket(
            s,
            w.kernel.bus,
            channel="operator",
            person_id=w.husband,
            community=C1,
            category="repairs",
            description="修水管",
            caller_address="和平路88号",
            settings={"auto_dispatch": False},
        )
        svc.dispatch(s, w.kernel.bus, t.id, merchant_id=holder)
        s.execute(
            update(Ticket)
            .where(Ticket.id == t.id)
            .values(accept_by=utcnow() - timedelta(minutes=1))
        )
        return t.id


def race(w: Any, *jobs: Any) -> list[Any]:
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(i: int, job: Any) -> None:
        session = w.kernel.db.Session()
        try:
            barrier.wait(timeout=10)
            results[i] = job(session)
            session.commit()
        except svc.CommerceError as exc:
            session.rollback()
            results[i] = exc
        except Exception as exc:  # an IntegrityError would be a lost race too
            session.rollback()
            results[i] = exc
        finally:
            session.close()

    threads = [threading.Thread(target=run, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.mark.skipif(
    not os.environ.get(TEST_DB_ENV, "").startswith("postgresql"),
    reason="SQLite serialises every writer behind one database lock, so two "
    "accepts can never overlap there; the race needs PostgreSQL",
)
def test_late_accept_and_redispatch_race_ends_with_one_holder(world):
    a, b = world.merchants
    bus = world.kernel.bus
    winners = []
    for _ in range(ROUNDS):
        ticket_id = expired_offer(world, a)

        def late_accept(session: Any, tid: int = ticket_id) -> str:
            svc.accept(session, bus, tid, merchant_id=a)
            return "a"

        def redispatch_then_accept(session: Any, tid: int = ticket_id) -> str:
            if not svc.redispatch_expired(session, bus):
                raise svc.CommerceError("nothing to re-dispatch", status=409)
            svc.accept(session, bus, tid, merchant_id=b)
            return "b"

        results = race(world, late_accept, redispatch_then_accept)
        won = [r for r in results if isinstance(r, str)]
        assert len(won) == 1, results
        lost = [r for r in results if not isinstance(r, str)]
        assert len(lost) == 1 and isinstance(lost[0], svc.CommerceError), results
        with world.kernel.db.session_scope() as s:
            t = s.get(Ticket, ticket_id)
            assert t.state == "accepted"
            assert t.merchant_id == (a if won[0] == "a" else b)
            accepted = s.scalar(
                select(func.count())
                .select_from(Dispatch)
                .where(Dispatch.ticket_id == ticket_id, Dispatch.outcome == "accepted")
            )
            assert accepted == 1
        winners.append(won[0])
    assert len(winners) == ROUNDS


@pytest.mark.skipif(
    not os.environ.get(TEST_DB_ENV, "").startswith("postgresql"),
    reason="SQLite serialises every writer behind one database lock, so two "
    "accepts can never overlap there; the race needs PostgreSQL",
)
def test_two_accepts_at_the_same_moment_one_winner(world):
    """The same merchant's two staff (or a double click) and the other merchant all press
    accept together: one commit wins, the others get 409."""
    a, b = world.merchants
    bus = world.kernel.bus
    for _ in range(ROUNDS):
        ticket_id = expired_offer(world, a)

        def accept_as(merchant: int, tid: int = ticket_id) -> Any:
            return lambda session: (svc.accept(session, bus, tid, merchant_id=merchant), merchant)[
                1
            ]

        results = race(world, accept_as(a), accept_as(a), accept_as(b))
        won = [r for r in results if isinstance(r, int)]
        assert won == [a], results
        with world.kernel.db.session_scope() as s:
            assert s.get(Ticket, ticket_id).merchant_id == a


def test_the_database_refuses_a_second_accepted_offer(world):
    """The partial unique index, on SQLite and PostgreSQL alike."""
    a, b = world.merchants
    ticket_id = expired_offer(world, a)
    with world.kernel.db.session_scope() as s:
        svc.accept(s, world.kernel.bus, ticket_id, merchant_id=a)
    session = world.kernel.db.Session()
    try:
        session.add(Dispatch(ticket_id=ticket_id, merchant_id=b, mode="manual", outcome="accepted"))
        with pytest.raises(IntegrityError):
            session.flush()
    finally:
        session.rollback()
        session.close()
