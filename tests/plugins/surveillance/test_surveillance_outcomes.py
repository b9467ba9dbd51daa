"""Issue 16 in the safety plugin: the reporter is told (received, an officer sent,
closed with the officer's outcome note — which closing requires) in their own language;
the officer sent sees the reporter's name and phone to call back (logged), as the report
form promises; an Idempotency-Key reused with another body is a 422; the desk's tabs
open for the roles that see them; days are Beijing days; windows read "24小时"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from surveillance_kit import add_camera, bearer, csrf, resident_with_person, sign_in

from core.identity.models import Notification, User
from core.testing import access_log
from plugins.surveillance import services as svc
from plugins.surveillance.models import Incident

API = "/api/v1/surveillance"
INGEST = "surveillance.incident.ingest"


@pytest.fixture(scope="module")
def reporter(sv):
    user = resident_with_person(sv, "reporter-o", "周晓梅")
    return user, sign_in(sv.app, "reporter-o")


def _locale(sv, user_id, locale):
    with sv.kernel.db.session_scope() as session:
        session.get(User, user_id).locale = locale


def _report(sv, client, headers=None) -> int:
    resp = client.post("/surveillance/report", headers=headers or {}, data={
        "csrf_token": csrf(client), "kind": "fire_hazard", "description": "Bikes block the exit",
        "community": sv.C1, "location": "Building 3 stairwell"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return int(resp.headers["Location"].rsplit("/", 1)[1])


def _notes(sv, user_id, iid):
    with sv.kernel.db.session_scope() as session:
        rows = session.scalars(select(Notification).where(
            Notification.user_id == user_id,
            Notification.link == f"/surveillance/my-reports/{iid}").order_by(Notification.id))
        return [(n.title, n.body) for n in rows]


def _step(sv, iid, who="officer", **body):
    return sv.app.test_client().post(f"{API}/incidents/{iid}/transitions", json=body,
                                     headers=bearer(sv.token(who)))


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_reporter_is_told_received_sent_and_the_outcome(sv, reporter, locale):
    user, client = reporter
    _locale(sv, user.id, locale)
    # the officer works on an English page whatever the reporter reads
    iid = _report(sv, client)
    assert _step(sv, iid, action="acknowledge").status_code == 200
    sent = _step(sv, iid, action="dispatch", assignee_id=sv.officer3.id)
    assert sent.status_code == 200, sent.json
    closing = _step(sv, iid, action="resolve")  # no outcome note
    assert closing.status_code == 409 and "note" in closing.json["error"]["fields"], closing.json
    done = sv.app.test_client().post(
        f"{API}/incidents/{iid}/transitions", json={"action": "resolve",
                                                    "note": "Bikes moved, exit clear"},
        headers={**bearer(sv.token("officer")), "Accept-Language": "en"})
    assert done.status_code == 200
    notes = _notes(sv, user.id, iid)
    assert len(notes) == 3, notes
    if locale == "zh":
        assert notes[0][0] == f"报告 {iid} 已收到"
        assert notes[1][0] == f"报告 {iid}：已派治安人员处理"
        assert notes[2] == (f"报告 {iid} 已办结", "处理结果：Bikes moved, exit clear")
    else:
        assert [t for t, _ in notes] == [f"Report {iid} received",
                                         f"Report {iid}: an officer is dealing with it",
                                         f"Report {iid} is resolved"]
        assert notes[2][1] == "The officer's outcome: Bikes moved, exit clear"
    page = client.get(f"/surveillance/my-reports/{iid}").get_data(as_text=True)
    assert 'id="report-outcome">Bikes moved, exit clear<' in page


def test_closing_needs_the_outcome_on_the_desk_too(sv, reporter):
    _user, client = reporter
    iid = _report(sv, client)
    officer = sv.client["officer"]
    token = csrf(officer, f"/surveillance/incidents/{iid}")
    resp = officer.post(f"/surveillance/incidents/{iid}/action",
                        data={"csrf_token": token, "action": "false_alarm", "note": " "})
    assert resp.status_code == 409  # a rule across two fields (action and note)
    with sv.kernel.db.session_scope() as session:
        assert session.get(Incident, iid).status == "raised"


def test_the_officer_sent_sees_name_and_phone_and_the_form_says_so(sv, reporter):
    user, client = reporter
    form = client.get("/surveillance/report").get_data(as_text=True)
    assert "Only the officer sent" in form or "只有派去处理您报告" in form
    iid = _report(sv, client)
    assert _step(sv, iid, action="acknowledge").status_code == 200
    # before dispatch: masked, no phone
    page = sv.client["officer3"].get(f"/surveillance/incidents/{iid}").get_data(as_text=True)
    assert "13800138000" not in page and "周晓梅" not in page
    assert _step(sv, iid, action="dispatch", assignee_id=sv.officer3.id).status_code == 200
    page = sv.client["officer3"].get(f"/surveillance/incidents/{iid}").get_data(as_text=True)
    assert "周晓梅" in page and 'href="tel:13800138000"' in page
    logged = access_log(sv.app, user.person_id, via="surveillance", actor="officer3")
    assert any(e["fields"] == ["phone"] and e["masked"] is False for e in logged)
    # the rest of the desk does not get the phone
    other = sv.client["officer"].get(f"/surveillance/incidents/{iid}").get_data(as_text=True)
    assert "13800138000" not in other


@pytest.fixture(scope="module")
def cam(sv):
    return add_camera(sv, "GATE-O")


def _ingest(sv, token, key, **body):
    payload = {"camera_code": "GATE-O", "kind": "fight", "severity": "high", **body}
    return sv.app.test_client().post(f"{API}/ingest", json=payload,
                                     headers=bearer(token, **{"Idempotency-Key": key}))


def test_a_key_reused_with_another_body_is_refused(sv, cam):
    device = sv.token("officer", [INGEST])
    at = (datetime.now(UTC) - timedelta(minutes=3)).isoformat()
    first = _ingest(sv, device, "o-1", description="two men", occurred_at=at)
    assert first.status_code == 201, first.json
    assert _ingest(sv, device, "o-1", description="two men", occurred_at=at).status_code == 200
    assert _ingest(sv, device, "o-1", description="two men").status_code == 200  # time left out
    for change in ({"kind": "theft"}, {"severity": "low"}, {"description": "a dog"},
                   {"occurred_at": (datetime.now(UTC) - timedelta(minutes=9)).isoformat()}):
        body = {"description": "two men", "occurred_at": at, **change}
        resp = _ingest(sv, device, "o-1", **body)
        assert resp.status_code == 422, (change, resp.json)
        assert "Idempotency-Key" in resp.json["error"]["fields"], resp.json


def test_days_are_the_configured_timezones(sv, cam):
    """23:30 UTC is 07:30 the next morning in Beijing: the chart counts it on that day."""
    now = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    with sv.kernel.db.session_scope() as session:
        officer = session.get(User, sv.officer.id)
        svc.raise_incident(session, sv.kernel.bus, officer, source="staff", kind="theft",
                           community_code=sv.C1, location="Shed", raised_at=now,
                           occurred_at=now)
        with sv.app.app_context():
            numbers = svc.dashboard_numbers(session, officer, now=now)
            assert list(numbers["per_day"])[-1] == "03-10"
            assert numbers["per_day"]["03-10"] == 1 and numbers["per_day"]["03-09"] == 0
            utc = svc.dashboard_numbers(session, officer, now=now, timezone="UTC")
            assert utc["per_day"]["03-09"] == 1
        session.rollback()


@pytest.mark.parametrize("minutes,en,zh", [(1440, "24 hours", "24小时"), (60, "1 hour", "1小时"),
                                           (90, "1 h 30 min", "1小时30分钟"),
                                           (45, "45 min", "45分钟"), (10080, "7 days", "7天")])
def test_windows_in_natural_units(minutes, en, zh):
    assert svc.duration(minutes) == (en, zh)


def test_a_burst_alert_reads_24_hours(sv):
    with sv.kernel.db.session_scope() as session:
        admin = session.get(User, sv.admin.id)
        svc.create_rule(session, admin, name="Fights in a day", kind="burst",
                        incident_kind="fight", community_code=sv.C2, threshold=2,
                        window_minutes=1440, severity="high")
        for _ in range(2):
            svc.raise_incident(session, sv.kernel.bus, admin, source="staff", kind="fight",
                               community_code=sv.C2, location="Wall")
        fired = svc.evaluate_burst(session, sv.kernel.bus, kind="fight",
                                   community_code=sv.C2)
        assert fired and fired[0].title_zh.startswith("24小时内2起"), fired
        assert "within 24 hours" in fired[0].title and "1440" not in fired[0].title


@pytest.mark.parametrize("who,pages", [
    ("officer", ["/surveillance/desk", "/surveillance/incidents", "/surveillance/alerts"]),
    ("auditor", ["/surveillance/footage-log", "/surveillance/retention"]),
])
def test_every_desk_link_opens_for_the_role(sv, who, pages):
    """No dead ends: each tab and link on the role's desk pages answers 200 for it (the
    officer is not offered the rule editor or the footage-access log)."""
    client = sv.client[who]
    seen = set()
    for start in pages:
        page = client.get(start)
        assert page.status_code == 200, start
        main = re.search(r"<main.*?</main>", page.get_data(as_text=True), re.S).group(0)
        seen |= {h for h in re.findall(r'href="(/surveillance/[^"#]*)"', main)}
    assert seen
    for link in sorted(seen):
        assert client.get(link.replace("&amp;", "&")).status_code == 200, (who, link)
    if who == "officer":
        assert "/surveillance/rules" not in seen and "/surveillance/footage-log" not in seen


def test_the_report_form_names_each_missing_field(sv, reporter):
    _user, client = reporter
    resp = client.post("/surveillance/report", data={"csrf_token": csrf(client), "kind": "",
                                                     "community": sv.C1},
                       headers={"Cookie": "shequ_lang=en"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "Describe what you saw." in html and "Say where exactly it is." in html
    assert "This field is required" not in html
