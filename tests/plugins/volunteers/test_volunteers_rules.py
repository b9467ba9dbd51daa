"""The rules of volunteering, through the services: the limit and the waiting list, the
deadline, attendance and the idempotent ledger, corrections with history, cancelling,
and the year summary in the configured time zone. On SQLite and PostgreSQL; the race for
the last place needs PostgreSQL's concurrency and runs only there."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from volunteers_kit import C1

from core.toolkit import kernel_of, utcnow
from plugins.volunteers import services as sv
from plugins.volunteers.models import Activity, HoursCorrection, HoursEntry, Signup


def notes(app, user_id):
    from core.identity.models import Notification

    with app.app_context(), kernel_of(app).db.session_scope() as session:
        return [(n.title, n.body) for n in session.scalars(
            select(Notification).where(Notification.user_id == user_id).order_by(Notification.id))]


def test_activity_fields_are_checked_together(app, world):
    start = utcnow() + timedelta(days=1)
    with app.app_context(), world.session() as session, pytest.raises(sv.VolunteerError) as err:
        sv.create_activity(session, community=C1, actor=None, data=sv.ActivityInput(
            title=" ", place="", starts_at=start, ends_at=start - timedelta(hours=1),
            signup_deadline=start + timedelta(hours=1), capacity=0, hours=1.1))
    assert set(err.value.errors) == {"title", "place", "ends_at", "signup_deadline",
                                     "capacity", "hours"}


def test_the_limit_then_the_waiting_list_then_promotion(app, world):
    act_id = world.activity(capacity=1)
    bus = kernel_of(app).bus
    with app.app_context(), world.session() as session:
        act = session.get(Activity, act_id)
        first = sv.sign_up(session, act, person_id=world.p1, user_id=world.resident.id)
        second = sv.sign_up(session, act, person_id=world.p2, user_id=world.resident2.id)
        assert (first.status, second.status, act.taken) == ("signed_up", "waiting", 1)
        with pytest.raises(sv.VolunteerError, match="already"):
            sv.sign_up(session, act, person_id=world.p1, user_id=world.resident.id)
        sv.withdraw(session, bus, act, person_id=world.p1)
        assert session.get(Signup, second.id).status == "signed_up" and act.taken == 1
        again = sv.sign_up(session, act, person_id=world.p1, user_id=world.resident.id)
        assert again.id == first.id and again.status == "waiting"  # the old row, reused
    titles = [t for t, _b in notes(app, world.resident2.id)]
    assert any("A place for you" in t or "候补成功" in t for t in titles)


def test_sign_up_closes_at_the_deadline_and_on_cancel(app, world):
    act_id = world.activity(deadline_before=timedelta(hours=3))  # closed an hour ago
    with app.app_context(), world.session() as session:
        act = session.get(Activity, act_id)
        with pytest.raises(sv.VolunteerError, match="closed"):
            sv.sign_up(session, act, person_id=world.p1, user_id=None)
    open_id = world.activity(capacity=3)
    bus = kernel_of(app).bus
    with app.app_context(), world.session() as session:
        act = session.get(Activity, open_id)
        sv.sign_up(session, act, person_id=world.p1, user_id=world.resident.id)
        sv.sign_up(session, act, person_id=world.p2, user_id=world.resident2.id)
        assert sv.cancel_activity(session, bus, act, reason="暴雨预警", actor=None) == 2
        with pytest.raises(sv.VolunteerError, match="cancelled"):
            sv.sign_up(session, act, person_id=world.p1, user_id=None)
    (title, body), = notes(app, world.resident.id)
    assert "敬老院陪伴" in title and "暴雨预警" in body


def test_attendance_credits_once_and_corrections_keep_history(app, world):
    act_id = world.activity(hours=1.5, starts_in=timedelta(hours=-1))  # under way
    with app.app_context(), world.session() as session:
        act = session.get(Activity, act_id)
        act.signup_deadline = act.starts_at - timedelta(days=1)
        signup = Signup(activity_id=act.id, person_id=world.p1, user_id=world.resident.id,
                        status="signed_up")
        session.add(signup)
        act.taken = 1
        session.flush()
        bus = kernel_of(app).bus
        sv.check_in(session, bus, act, signup, attended=True, actor=None)
        sv.check_in(session, bus, act, signup, attended=True, actor=None)  # twice: once
        entry, created = sv.credit_hours(session, bus, act, signup, actor=None)
        assert not created and entry.minutes == 90
        with pytest.raises(sv.VolunteerError, match="correct"):
            sv.check_in(session, bus, act, signup, attended=False, actor=None)
        with pytest.raises(sv.VolunteerError, match="already credited"):
            sv.correct_entry(session, entry, hours=1.5, reason="x", actor=None)
        sv.correct_entry(session, entry, hours=2.5, reason="提前到场布置", actor=None)
        entry_id = entry.id
    with app.app_context(), world.session() as session:
        assert session.scalar(select(func.count()).select_from(HoursEntry)) == 1
        assert session.get(HoursEntry, entry_id).minutes == 150
        fix = session.scalar(select(HoursCorrection))
        assert (fix.old_minutes, fix.new_minutes, fix.reason) == (90, 150, "提前到场布置")
        record = sv.person_record(session, world.p1)
        assert record["total_minutes"] == 150
    told = notes(app, world.resident.id)
    assert len(told) == 1 and "1.5" in told[0][0]


def test_credit_notification_is_in_the_volunteers_language(app, world):
    from core.identity.models import User

    with app.app_context(), world.session() as session:
        session.get(User, world.resident.id).locale = "en"
    act_id = world.activity(starts_in=timedelta(minutes=-5))
    with app.app_context(), world.session() as session:
        act = session.get(Activity, act_id)
        signup = Signup(activity_id=act.id, person_id=world.p1, user_id=world.resident.id,
                        status="signed_up")
        session.add(signup)
        session.flush()
        sv.check_in(session, kernel_of(app).bus, act, signup, attended=True, actor=None)
    assert notes(app, world.resident.id)[0][0] == "2 volunteer hours credited"


def test_check_in_waits_for_the_day(app, world):
    act_id = world.activity(starts_in=timedelta(days=3))
    with app.app_context(), world.session() as session:
        act = session.get(Activity, act_id)
        signup = sv.sign_up(session, act, person_id=world.p1, user_id=None)
        with pytest.raises(sv.VolunteerError, match="on the day"):
            sv.check_in(session, kernel_of(app).bus, act, signup, attended=True, actor=None)


def test_year_summary_counts_in_the_configured_zone(app, world):
    act_id = world.activity(starts_in=timedelta(days=-400))
    with app.app_context(), world.session() as session:
        act = session.get(Activity, act_id)
        # 31 January 17:00 UTC is already 1 February in Beijing
        act.starts_at = datetime(2026, 1, 31, 17, 0, tzinfo=UTC)
        act.ends_at = act.starts_at + timedelta(hours=2)
        for pid in (world.p1, world.p2):
            session.add(HoursEntry(activity_id=act.id, person_id=pid, community=C1,
                                   minutes=120, served_at=act.starts_at))
        session.flush()
        data = sv.year_summary(session, C1, 2026)
        assert (data["volunteers"], data["activities"], data["total_minutes"]) == (2, 1, 240)
        assert data["months"][1] == 240 and data["months"][0] == 0
        assert sv.year_summary(session, C1, 2025)["total_minutes"] == 0


@pytest.mark.skipif(not os.environ.get("SHEQU_TEST_DATABASE_URL", "").startswith("postgres"),
                    reason="the race needs PostgreSQL's concurrent transactions")
def test_two_sign_ups_race_for_the_last_place(app, world):
    """Two transactions sign up at once for the one place left: exactly one gets it."""
    act_id = world.activity(capacity=1)
    kernel = kernel_of(app)
    barrier = threading.Barrier(2)
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def go(person_id: int) -> None:
        try:
            with app.app_context():
                session = kernel.db.Session()
                try:
                    act = session.get(Activity, act_id)
                    barrier.wait(timeout=10)
                    results[person_id] = sv.sign_up(session, act, person_id=person_id,
                                                    user_id=None).status
                    session.commit()
                finally:
                    session.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(p,)) for p in (world.p1, world.p2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sorted(results.values()) == ["signed_up", "waiting"]
    with app.app_context(), kernel.db.session_scope() as session:
        assert session.get(Activity, act_id).taken == 1
