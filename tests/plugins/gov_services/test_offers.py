"""Proactive offers (plugins/gov_services/outreach): the catalogue's rules as data, each
of the services evaluated by the one evaluator; the event path (registration, household
and membership changes, a move) and the daily job over the whole registry, without
repeats; notification for residents with an account, the outreach list for the others;
grid findings; the resident declining. One small registry, module-scoped."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from marshmallow import Schema, fields
from sqlalchemy import func, select

from core.testing import C1, C2, G1, RegistryData, app_today, build_test_app, ensure_user
from plugins.gov_services.outreach.rules import (
    VOCABULARY,
    Facts,
    load_rules,
    qualifies,
    rule_counts,
)


def born(age: int, days: int = 20) -> str:
    today = app_today()  # the app's day (Asia/Shanghai), not the server's
    try:
        d = today.replace(year=today.year - age)
    except ValueError:
        d = today.replace(year=today.year - age, day=28)
    return (d - timedelta(days=days)).isoformat()


def facts(**kw) -> Facts:
    base = dict(person_id=1, age=40, sex="M", hukou="local", community=C1, grid=G1)
    base.update(kw)
    return Facts(**base)


#: For every service with offers: facts that qualify, and facts that do not.
CASES = {
    "longevity_allowance": (facts(age=80), facts(age=80, hukou="floating")),
    "senior_card": (facts(age=60), facts(age=59)),
    "home_care_subsidy": (facts(age=65, household_size=1), facts(age=65, household_size=2)),
    "disability_subsidies": (
        facts(databases={"disabled"}, household_databases={"dibao"}),
        facts(databases={"disabled"}),
    ),
    "extreme_poverty_support": (
        facts(age=70, databases={"dibao"}),
        facts(age=70, databases={"dibao"}, household_size=3),
    ),
    "resident_medical_insurance": (facts(age=0), facts(age=2)),
    "migrant_residence_registration": (facts(hukou="floating", age=30), facts(age=30)),
    "residence_permit": (
        facts(hukou="floating", databases={"migrants"}),
        facts(hukou="floating"),
    ),
    "vocational_training": (facts(databases={"unemployed"}), facts(age=60,
                                                                   databases={"unemployed"})),
    "employment_difficulty": (
        facts(sex="F", age=41, databases={"unemployed"}, household_size=2),
        facts(sex="F", age=39, databases={"unemployed"}, household_size=2),
    ),
}


def test_rules_are_data_for_at_least_eight_services():
    rules = load_rules()
    assert len(rules) >= 8 and set(CASES) == set(rules)
    used = rule_counts(rules)
    assert set(used) <= set(VOCABULARY)
    # household facts and thematic databases are among what the data uses
    assert {"in_database", "living_alone", "household_member_in", "hukou", "age_min"} <= set(used)


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_service_rule_evaluated(code):
    from plugins.gov_services.catalogue import load_catalogue

    service = load_catalogue().get(code)
    yes, no = CASES[code]
    params = service.params()
    assert qualifies(load_rules()[code], yes, params), code
    assert not qualifies(load_rules()[code], no, params), code


def test_a_malformed_rule_stops_loading(tmp_path):
    from plugins.gov_services.outreach.rules import RuleDataError

    bad = tmp_path / "s.json"
    bad.write_text('{"services": [{"code": "x", "proactive": [{"rule": "age_mn"}]}]}')
    with pytest.raises(RuleDataError):
        load_rules(bad)


# ----------------------------------------------------------------------------- registry


class FindingReferred(Schema):
    finding_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    community = fields.String(required=True)
    grid = fields.String(required=True, allow_none=True)
    person_id = fields.Integer(required=True, allow_none=True)
    household_id = fields.Integer(required=True, allow_none=True)
    category = fields.String(required=True)
    summary = fields.String(required=True)
    service_code = fields.String(required=True, allow_none=True)
    referred_by = fields.Integer(required=True)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app, cleanup = build_test_app(tmp_path_factory.mktemp("offers"), plugins=["gov_services"])
    bus = app.extensions["shequ"].bus
    if "grid.finding.referred" not in bus.types:  # the grid plugin is not enabled here
        bus._owner = "grid"
        try:
            bus.declare("grid.finding.referred", FindingReferred, "test: the grid contract")
        finally:
            bus._owner = "core"
    yield app
    cleanup()


@pytest.fixture(scope="module")
def world(app):
    reg = RegistryData(app)
    p = {
        "elder": reg.person("李大爷", born=born(81), dwelling="d1", hukou_type="local"),
        "granny": reg.person("赵奶奶", born=born(85), sex="F", dwelling="d2",
                             hukou_type="local"),
        "young": reg.person("王强", born=born(30), dwelling="d3", hukou_type="local"),
        "migrant": reg.person("周明", born=born(28), dwelling="d3", hukou_type="floating"),
    }
    reg.bind("resident", p["elder"])  # the elder has an account, the others none
    worker = reg.assign("community_worker", C1)
    reg.deliver()
    return {"reg": reg, "p": p, "worker": worker}


def _items(app, **where):
    from plugins.gov_services.outreach.models import OutreachItem

    with app.app_context(), app.extensions["shequ"].db.session_scope() as db:
        q = select(OutreachItem)
        for k, v in where.items():
            q = q.where(getattr(OutreachItem, k) == v)
        return [
            {"id": i.id, "person_id": i.person_id, "service": i.service_code, "state": i.state,
             "channel": i.channel, "community": i.community, "rounds": i.rounds,
             "finding_id": i.finding_id}
            for i in db.scalars(q.order_by(OutreachItem.id))
        ]


def _codes(app, person_id):
    return {i["service"] for i in _items(app, person_id=person_id)}


def test_registration_makes_the_offers_by_notification_or_outreach(app, world):
    from core.identity.models import Notification

    p = world["p"]
    assert {"longevity_allowance", "senior_card", "home_care_subsidy"} <= _codes(app, p["elder"])
    assert all(i["channel"] == "notification" for i in _items(app, person_id=p["elder"]))
    granny = _items(app, person_id=p["granny"])
    assert granny and all(i["channel"] == "outreach" and i["community"] == C1 for i in granny)
    assert _codes(app, p["young"]) == set()
    assert _codes(app, p["migrant"]) == {"migrant_residence_registration"}
    user = ensure_user(app, "resident")
    with app.app_context(), app.extensions["shequ"].db.session_scope() as db:
        notes = db.scalars(select(Notification).where(Notification.user_id == user.id,
                                                      Notification.kind == "offer")).all()
        assert any("/gov-services/services/longevity_allowance/apply" in n.link for n in notes)
        assert any("高龄津贴" in n.title for n in notes)  # the recipient's language (zh)


def test_daily_job_is_batched_and_never_repeats(app, world):
    from plugins.gov_services.jobs import proactive
    from plugins.gov_services.outreach.models import OutreachItem

    before = len(_items(app))
    assert proactive(app) == "offers made: 0"  # everything already offered on the events
    with app.app_context(), app.extensions["shequ"].db.session_scope() as db:
        db.execute(OutreachItem.__table__.delete())  # as if the events had been missed
    assert proactive(app) == f"offers made: {before}"
    assert proactive(app) == "offers made: 0"
    assert len(_items(app)) == before


def test_household_and_membership_events_reevaluate(app, world):
    from plugins.gov_services.services import add_membership, gov

    reg, p = world["reg"], world["p"]
    # 60+ living alone: home care subsidy; once she lives with someone, not (it closes)
    lonely = reg.person("钱阿姨", born=born(66), sex="F", dwelling="d2", hukou_type="local")
    reg.deliver()
    assert "home_care_subsidy" in _codes(app, lonely)
    son = reg.person("钱小明", born=born(40), dwelling="d2", hukou_type="local")
    reg.household(lonely, {son: "20"})
    reg.deliver()
    item = next(i for i in _items(app, person_id=lonely) if i["service"] == "home_care_subsidy")
    assert item["state"] == "ineligible"
    # the son is disabled and the household in dibao: the disability subsidies' rule
    with app.app_context(), app.extensions["shequ"].db.session_scope() as db:
        add_membership(db, gov(), person_id=son, database="disabled",
                       service_code="disability_certificate")
        add_membership(db, gov(), person_id=lonely, database="dibao",
                       service_code="minimum_living_allowance")
    reg.deliver()
    assert "disability_subsidies" in _codes(app, son)
    reg.die(son)
    reg.deliver()
    assert {i["state"] for i in _items(app, person_id=son)} == {"ineligible"}
    # his mother now lives alone; a removed member's household is not in the event, so
    # the daily job finds her (extreme-poverty support: dibao, 60+, living alone)
    from plugins.gov_services.jobs import proactive

    assert "extreme_poverty_support" not in _codes(app, lonely)
    assert proactive(app) == "offers made: 1"
    assert "extreme_poverty_support" in _codes(app, lonely)
    # moving out of the area closes the standing offers
    reg.move(p["granny"], to=None)
    reg.deliver()
    assert {i["state"] for i in _items(app, person_id=p["granny"])} == {"ineligible"}


def _api(client, method, path, **kw):
    from core.testing import csrf_token

    headers = {"X-CSRFToken": csrf_token(client, "/gov-services/")}
    return getattr(client, method)(f"/api/v1/gov-services{path}", headers=headers, **kw)


@pytest.fixture(scope="module")
def worker(app, world):
    from core.testing import login

    c = app.test_client()
    login(c, app, "community_worker")
    return c


def test_outreach_list_masked_logged_and_outcomes(app, world, worker):
    from core.testing import access_count

    reg = world["reg"]
    nobody = reg.person("孙大爷", born=born(82), dwelling="d1", hukou_type="local")
    reg.deliver()
    page = worker.get("/gov-services/outreach/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "孙**" in html and "孙大爷" not in html
    assert "李**" not in html  # the elder has an account: told by notification instead
    assert access_count(app, nobody, via="gov_services") >= 1
    listed = _api(worker, "get", "/outreach/items").json
    assert all(i["name"].endswith("*") for i in listed["items"])
    assert {i["person_id"] for i in listed["items"]} >= {nobody}
    assert all(i["community"] == C1 for i in listed["items"])  # C2's are not this worker's
    item = next(i for i in listed["items"] if i["person_id"] == nobody
                and i["service_code"] == "longevity_allowance")
    path = f"/outreach/items/{item['id']}/outcome"
    past = (date.today() - timedelta(days=1)).isoformat()
    bad = _api(worker, "post", path, json={"outcome": "unreachable", "follow_up_on": past})
    assert bad.status_code == 422 and "follow_up_on" in bad.json["error"]["fields"]
    assert _api(worker, "post", path, json={"outcome": "maybe"}).status_code == 422
    soon = (date.today() + timedelta(days=3)).isoformat()
    ok = _api(worker, "post", path, json={"outcome": "unreachable", "method": "visit",
                                          "note": "家中无人", "follow_up_on": soon})
    assert ok.status_code == 200 and ok.json["state"] == "unreachable"
    assert ok.json["contacts"][-1]["note"] == "家中无人"
    due = _api(worker, "get", "/outreach/items?due=true").json["items"]
    assert item["id"] not in {i["id"] for i in due}  # follows up in three days
    done = _api(worker, "post", path, json={"outcome": "applied"})
    assert done.status_code == 200 and done.json["state"] == "applied"
    assert _api(worker, "post", path, json={"outcome": "reached"}).status_code == 409
    listed = _api(worker, "get", "/outreach/items").json["items"]
    assert item["id"] not in {i["id"] for i in listed}  # done: off the list
    # another place's item does not exist for this worker
    c2 = next(i for i in _items(app) if i["community"] == C2 and i["channel"] == "outreach")
    assert _api(worker, "get", f"/outreach/items/{c2['id']}").status_code == 404
    assert worker.get(f"/gov-services/outreach/{c2['id']}").status_code == 404
    # statistics count it
    stats = _api(worker, "get", "/outreach/statistics").json
    assert stats["per_service"]["longevity_allowance"]["applied"] >= 1
    page = worker.get("/gov-services/outreach/statistics").get_data(as_text=True)
    assert "chart-offers-made" in page


def test_outcome_form_on_the_page(app, world, worker):
    from core.testing import csrf_token

    item = next(i for i in _items(app, channel="outreach", state="open")
                if i["community"] == C1)
    url = f"/gov-services/outreach/{item['id']}"
    page = worker.get(url).get_data(as_text=True)
    assert "/registry/persons/" in page and "outcome-form" in page
    token = csrf_token(worker, url)
    bad = worker.post(url, data={"csrf_token": token, "outcome": "reached", "method": "call",
                                 "follow_up_on": "2001-01-01"})
    assert bad.status_code == 400 and "error-summary" in bad.get_data(as_text=True)
    good = worker.post(url, data={"csrf_token": token, "outcome": "declined", "method": "call",
                                  "note": "不需要"})
    assert good.status_code == 302
    assert next(i for i in _items(app) if i["id"] == item["id"])["state"] == "declined"


def test_resident_sees_and_declines_an_offer_not_repeated(app, world):
    from core.testing import login
    from plugins.gov_services.jobs import proactive
    from plugins.gov_services.outreach.models import OutreachItem

    c = app.test_client()
    login(c, app, "resident")
    mine = _api(c, "get", "/offers/mine").json["items"]
    senior = next(i for i in mine if i["service_code"] == "senior_card")
    assert "老年人优待证" in c.get("/gov-services/offers").get_data(as_text=True)
    r = _api(c, "post", f"/offers/{senior['id']}/decline", json={})
    assert r.status_code == 200
    assert next(i for i in r.json["items"] if i["id"] == senior["id"])["state"] == "declined"
    assert _api(c, "post", f"/offers/{senior['id']}/decline", json={}).status_code == 409
    other = next(i for i in _items(app) if i["person_id"] != world["p"]["elder"])
    assert _api(c, "post", f"/offers/{other['id']}/decline", json={}).status_code == 404
    assert proactive(app) == "offers made: 0"  # declined: suppressed for the period
    with app.app_context(), app.extensions["shequ"].db.session_scope() as db:
        row = db.get(OutreachItem, senior["id"])
        row.closed_at = row.closed_at - timedelta(days=400)  # the period is over
    assert proactive(app) == "offers made: 1"
    again = next(i for i in _items(app) if i["id"] == senior["id"])
    assert again["state"] == "open" and again["rounds"] == 2


def test_an_application_settles_the_offer(app, world):
    from core.testing import login

    c = app.test_client()
    login(c, app, "resident")
    r = _api(c, "post", "/applications", json={
        "service_code": "longevity_allowance",
        "answers": {"bank_card": "6222020000001234", "bank_name": "工商银行"}})
    assert r.status_code == 201, r.json
    world["reg"].deliver()
    item = next(i for i in _items(app, person_id=world["p"]["elder"])
                if i["service"] == "longevity_allowance")
    assert item["state"] == "applied"


def test_grid_finding_becomes_an_outreach_item_once(app, world):
    from core.toolkit import current_session

    p = world["p"]
    payload = {"finding_id": 77, "kind": "offer", "community": C2, "grid": None,
               "person_id": p["young"], "household_id": None, "category": "welfare",
               "summary": "独自照顾残疾父亲，问能否申请补贴",
               "service_code": "temporary_assistance",
               "referred_by": 1}
    bus = app.extensions["shequ"].bus
    with app.test_request_context():
        session = current_session()
        bus.publish(session, "grid.finding.referred", payload)
        bus.publish(session, "grid.finding.referred", payload)  # a redelivery
        bus.publish(session, "grid.finding.referred", {**payload, "finding_id": 78,
                                                       "kind": "matter"})
        session.commit()
    world["reg"].deliver()
    items = _items(app, person_id=p["young"])
    assert [(i["service"], i["finding_id"], i["channel"]) for i in items] == [
        ("temporary_assistance", 77, "outreach")]
    with app.app_context(), app.extensions["shequ"].db.session_scope() as db:
        from plugins.gov_services.outreach.models import OutreachItem

        assert db.scalar(select(func.count(OutreachItem.id)).where(
            OutreachItem.finding_id == 78)) == 0


def test_api_fuzzes(app, world):
    from core.testing import assert_api_fuzzes

    assert_api_fuzzes(app, "/api/v1/gov-services/outreach", role="community_worker")
    assert_api_fuzzes(app, "/api/v1/gov-services/offers", role="resident")
