"""The rules: who is due a visit, visit and patrol validation, the one-step referral, the
onward status from matters, and coverage; on the service functions and real registry rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from core.testing import C1, C2, G1, G2, ensure_user
from core.toolkit import kernel_of, utcnow
from plugins.grid.models import GridFinding, GridSubject
from plugins.grid.services import (
    GridError,
    all_tasks,
    coverage,
    create_patrol,
    create_visit,
    due_tasks,
    handlers,
    refer_finding,
    rule_map,
    today,
)


def run(app, fn):
    """``fn(session, user_loader)`` in a unit of work, inside the app."""
    from core.identity.models import User

    ids = {role: ensure_user(app, role).id for role in ROLES}  # made before the unit of work
    with app.app_context(), kernel_of(app).db.session_scope() as session:
        return fn(session, lambda role: session.get(User, ids[role]))


ROLES = ("grid_worker", "community_worker", "resident")


def test_registry_rule_selects_the_elderly_living_alone(app, people):
    def check(session, user):
        rows = {(s.person_id, s.rule) for s in session.scalars(
            select(GridSubject).where(GridSubject.active.is_(True)))}
        assert (people["alone"], "elderly_alone") in rows
        assert (people["couple"], "elderly_alone") not in rows  # lives with a spouse
        assert (people["young"], "new_resident") in rows  # registered: an arrival
        due = due_tasks(session, user("grid_worker"))
        assert [t.person_id for t in due] == [people["alone"]]
        assert due[0].status == "due" and due[0].never_visited
    run(app, check)


def test_rules_are_data_with_overrides(app):
    rules = rule_map({"rules": {"elderly_alone": {"interval_days": 7, "age_min": 85},
                                "disabled": {"enabled": False}}})
    assert rules["elderly_alone"].interval_days == 7 and rules["elderly_alone"].age_min == 85
    assert not rules["disabled"].enabled and rules["assistance"].database == "dibao"


def test_bad_overrides_are_refused_at_start_up(make_app):
    import plugins.grid

    with pytest.raises(Exception, match="unknown visit rule"):
        make_app(plugins=["grid"], extra={"grid": plugins.grid},
                 config={"plugins": {"grid": {"rules": {"nosuch": {}}}}})


def test_a_visit_moves_the_due_date_and_overdue_comes_first(app, people):
    def check(session, user):
        worker = user("grid_worker")
        on = today()
        create_visit(session, worker, person_id=people["alone"], visited_on=on - timedelta(days=40),
                     met="person", findings="一切正常")
        tasks = all_tasks(session, worker, on=on)
        first = tasks[0]
        assert first.person_id == people["alone"] and first.status == "overdue"
        assert first.due_on == on - timedelta(days=10)  # 30-day interval
        create_visit(session, worker, person_id=people["alone"], visited_on=on, met="family")
        assert due_tasks(session, worker, on=on) == []
    run(app, check)


def test_visit_validation(app, people):
    elsewhere = people["data"].person("周外区", dwelling="d3")

    def check(session, user):
        worker = user("grid_worker")
        on = today()
        with pytest.raises(GridError) as exc:
            create_visit(session, worker, person_id=people["alone"], met="ghost",
                         visited_on=on + timedelta(days=1), follow_up_on=on - timedelta(days=3))
        assert set(exc.value.errors) == {"visited_on", "met", "follow_up_on", "follow_up"}
        with pytest.raises(GridError) as exc:
            create_visit(session, worker, person_id=people["alone"], met="nobody")
        assert exc.value.field == "findings"  # say what you saw when nobody was in
        with pytest.raises(GridError) as exc:  # outside the worker's grid: not found
            create_visit(session, worker, person_id=elsewhere, met="person")
        assert exc.value.status == 404
    run(app, check)


def test_refer_publishes_the_contract(app, people, events):
    def check(session, user):
        worker = user("grid_worker")
        visit = create_visit(session, worker, person_id=people["alone"], visited_on=today(),
                             met="person", findings="楼道灯坏了，老人夜里摔倒过")
        finding = refer_finding(session, kernel_of(app).bus, worker, kind="matter",
                                category="safety", summary=visit.findings, visit=visit)
        return finding.id, visit.household_id, worker.id
    finding_id, household_id, worker_id = run(app, check)
    _name, payload = next(e for e in events.published if e[0] == "grid.finding.referred")
    assert payload == {"finding_id": finding_id, "kind": "matter", "community": C1,
                       "grid": G1, "person_id": people["alone"], "household_id": household_id,
                       "category": "safety", "summary": "楼道灯坏了，老人夜里摔倒过",
                       "service_code": None, "referred_by": worker_id}


def test_referral_rules(app, people):
    def check(session, user):
        worker = user("grid_worker")
        bus = kernel_of(app).bus
        visit = create_visit(session, worker, person_id=people["alone"], visited_on=today(),
                             met="person", findings="x")
        with pytest.raises(GridError) as exc:
            refer_finding(session, bus, worker, kind="offer", category="nope", summary=" ",
                          visit=visit)
        assert set(exc.value.errors) == {"category", "summary", "service_code"}
        grids = [{"code": G1, "name": "第一网格", "community": C1}]
        patrol = create_patrol(session, worker, grid=G1, area="东门到3栋", grids=grids,
                               started_at=utcnow() - timedelta(hours=1), ended_at=None,
                               found="消防通道堆放杂物")
        with pytest.raises(GridError) as exc:
            refer_finding(session, bus, worker, kind="offer", category="safety",
                          summary="x", service_code="s1", patrol=patrol)
        assert exc.value.field == "kind"  # an offer needs a person
        f = refer_finding(session, bus, worker, kind="incident", category="safety",
                          summary=patrol.found, patrol=patrol)
        assert f.person_id is None and f.grid == G1
    run(app, check)


def test_patrol_validation(app, people):
    def check(session, user):
        worker = user("grid_worker")
        grids = [{"code": G1, "name": "第一网格", "community": C1},
                 {"code": G2, "name": "安康第一网格", "community": C2}]
        start = datetime(2026, 1, 1, 9, tzinfo=UTC)
        with pytest.raises(GridError) as exc:
            create_patrol(session, worker, grid=G2, area=" \n ", grids=grids,
                          started_at=utcnow() + timedelta(days=1), ended_at=start)
        assert set(exc.value.errors) == {"grid", "area", "started_at", "ended_at"}
    run(app, check)


def test_matter_status_comes_back_from_the_payload(app, people):
    def refer(session, user):
        worker = user("grid_worker")
        visit = create_visit(session, worker, person_id=people["alone"], visited_on=today(),
                             met="person", findings="水管漏水")
        return refer_finding(session, kernel_of(app).bus, worker, kind="matter",
                             category="housing", summary="水管漏水", visit=visit).id
    fid = run(app, refer)

    def matter(verb, source="grid", source_id=fid):
        return SimpleNamespace(name=f"matters.matter.{verb}", payload={
            "matter_id": 7, "reference": "M-2026-0007", "community": C1,
            "department": "housing", "category": "housing", "source": source,
            "source_id": source_id, "person_id": people["alone"], "state": verb})

    def deliver(session, user):
        handlers.on_matter(matter("filed", source="hotline"), session)  # not ours
        handlers.on_matter(matter("answered"), session)
        handlers.on_matter(matter("filed"), session)  # late and older: ignored
        handlers.on_matter(matter("answered"), session)  # a repeat: ignored
        f = session.get(GridFinding, fid)
        assert (f.onward_state, f.onward_reference, f.onward_id) == ("answered", "M-2026-0007", 7)
    run(app, deliver)

    from core.identity.models import Notification

    def told(session, user):
        rows = list(session.scalars(select(Notification).where(
            Notification.user_id == user("grid_worker").id)))
        assert len(rows) == 1 and "M-2026-0007" in rows[0].title
    run(app, told)


def test_membership_and_moves_follow_events(app, people):
    def member(change):
        return SimpleNamespace(name="gov_services.membership.changed", payload={
            "membership_id": 1, "person_id": people["young"], "database": "disabled",
            "change": change, "service_code": "disability_subsidy", "reason": None})

    def add(session, user):
        handlers.on_membership(member("added"), session)
        handlers.on_membership(member("added"), session)  # idempotent
        rows = list(session.scalars(select(GridSubject).where(
            GridSubject.person_id == people["young"], GridSubject.rule == "disabled")))
        assert len(rows) == 1 and rows[0].database == "disabled" and rows[0].active
    run(app, add)
    people["data"].move(people["young"], "d3")
    people["data"].deliver()

    def moved(session, user):
        row = session.scalar(select(GridSubject).where(
            GridSubject.person_id == people["young"], GridSubject.rule == "disabled"))
        assert (row.community, row.grid) == (C2, G2)
        handlers.on_membership(member("ended"), session)
        assert not row.active
    run(app, moved)


def test_coverage_counts_per_grid(app, people):
    def check(session, user):
        worker = user("grid_worker")
        on = today()
        before = {r.grid: r for r in coverage(session, user("community_worker"), on=on)}
        assert before[G1].never == before[G1].total >= 1 and G2 not in before
        create_visit(session, worker, person_id=people["alone"], visited_on=on, met="person")
        after = {r.grid: r for r in coverage(session, user("community_worker"), on=on)}
        assert after[G1].on_time == before[G1].on_time + 1
        assert after[G1].never == before[G1].never - 1
        assert coverage(session, user("resident"), on=on) == []  # no places: nothing
    run(app, check)


def test_deaths_end_the_visits(app, people):
    people["data"].die(people["alone"])
    people["data"].deliver()

    def check(session, user):
        assert not session.scalar(select(GridSubject.active).where(
            GridSubject.person_id == people["alone"], GridSubject.rule == "elderly_alone"))
    run(app, check)


def test_today_is_in_the_configured_timezone(app):
    with app.app_context():
        late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 07:30 in Beijing
        zone = kernel_of(app).config.app.get("timezone")
        expected = date(2026, 3, 2) if zone == "Asia/Shanghai" else date(2026, 3, 1)
        assert today(now=late) == expected


def test_with_the_matters_plugin_the_reference_comes_back(make_app):
    """End to end through the real consumer: a referred finding becomes a matter, and the
    matter's ``matters.matter.filed`` puts its reference on the finding."""
    import plugins.grid
    from core.testing import RegistryData, deliver_events
    from tests.plugins.grid.conftest import set_scopes

    app = make_app(plugins=["grid", "matters"], extra={"grid": plugins.grid})
    from tests.plugins.matters.helpers import load_routing  # the matters tests' routing

    load_routing(app)
    data = RegistryData(app)
    alone = data.person("赵独居", born="1946-03-01", dwelling="d1")
    set_scopes(app, "grid_worker", [("grid", G1)])
    ids = {"grid_worker": ensure_user(app, "grid_worker").id}

    from core.identity.models import User

    with app.app_context(), kernel_of(app).db.session_scope() as session:
        worker = session.get(User, ids["grid_worker"])
        visit = create_visit(session, worker, person_id=alone, visited_on=today(),
                             met="person", findings="楼道灯坏了")
        fid = refer_finding(session, kernel_of(app).bus, worker, kind="matter",
                            category="safety", summary="楼道灯坏了", visit=visit).id
    deliver_events(app)
    deliver_events(app)
    with app.app_context(), kernel_of(app).db.session_scope() as session:
        f = session.get(GridFinding, fid)
        assert f.onward_state == "filed" and f.onward_reference
