"""The pages by household (the task list, one visit covering the household, who was met
ticked from its members and named on the record, each display logged) and corrections
of visit and patrol records (the window, the reason, who may, the earlier version kept
and shown) on the pages and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.testing import G1, access_log, csrf_token, ensure_user
from core.toolkit import kernel_of, utcnow
from plugins.grid.models import GridPatrol, GridVisit
from plugins.grid.services import GridError, today
from plugins.grid.services.corrections import correct_visit
from tests.plugins.grid.conftest import bearer

API = "/api/v1/grid"


@pytest.fixture
def household(app, people):
    """``alone`` (80) and ``couple`` (75, now alone in d2) in one registry household: two
    members due a visit, on two dwellings' task rows but one household."""
    data = people["data"]
    data.move(people["young"], "d3")
    data.die(people["partner"])
    data.deliver()
    hid = data.household(people["alone"], {people["couple"]: "99"})
    data.deliver()
    return hid


def test_task_list_groups_the_household_and_one_visit_covers_it(app, people, household,
                                                                client_as):
    worker = client_as("grid_worker")
    page = worker.get("/grid/").get_data(as_text=True)
    entries = [e for e in page.split('<li class="item task')[1:] if "赵**" in e]
    assert len(entries) == 1 and "钱**" in entries[0]  # both members in the one entry
    assert entries[0].startswith(' household"')
    assert "登记入户走访" in page
    url = f"/grid/persons/{people['alone']}"
    form = worker.get(url).get_data(as_text=True)
    assert f'id="met_ids-{people["couple"]}"' in form and "应走访" in form
    token = csrf_token(worker, url)
    nothing = worker.post(url, data={"csrf_token": token, "visited_on": today_of(app)})
    assert nothing.status_code == 400
    assert "请勾选见到的成员，或说明一个成员都没见到。" in nothing.get_data(as_text=True)
    both = worker.post(url, data={"csrf_token": token, "visited_on": today_of(app),
                                  "met_ids": [people["alone"], "nobody"]})
    assert both.status_code == 400  # "nobody" is not a member
    made = worker.post(url, data={
        "csrf_token": token, "visited_on": today_of(app), "findings": "两位老人都好",
        "met_ids": [str(people["alone"]), str(people["couple"])]})
    assert made.status_code == 302, made.get_data(as_text=True)
    record = worker.get(made.headers["Location"]).get_data(as_text=True)
    met = record[record.index('id="visit-met"'):]
    assert "赵**" in met[:80] and "钱**" in met[:80]
    assert "走访 赵** 一户" in record
    logged = access_log(app, people["couple"], via="grid")
    assert any(e["purpose"] == "grid visit record" for e in logged)
    after = worker.get("/grid/").get_data(as_text=True)
    assert "赵**" not in after and "钱**" not in after  # the household is visited


def today_of(app) -> str:
    with app.app_context():
        return today().isoformat()


def test_a_visit_is_corrected_with_a_reason_and_the_old_version_kept(app, people, client,
                                                                    token_for):
    worker = bearer(token_for("grid_worker"))
    made = client.post(f"{API}/visits", headers=worker, json={
        "person_id": people["alone"], "met": "person", "findings": "灯坏了"}).json
    url = f"{API}/visits/{made['id']}"
    no_reason = client.patch(url, headers=worker, json={"findings": "楼道灯坏了"})
    assert no_reason.status_code == 422 and "reason" in no_reason.json["error"]["fields"]
    future = client.patch(url, headers=worker, json={
        "reason": "日期填错", "visited_on": (utcnow() + timedelta(days=3)).date().isoformat()})
    assert future.status_code == 409
    assert future.json["error"]["fields"] == {"visited_on": ["走访日期不能晚于今天。"]}
    same = client.patch(url, headers=worker, json={"reason": "没改", "findings": "灯坏了"})
    assert same.status_code == 409
    ok = client.patch(url, headers=worker, json={
        "reason": "补充情况", "findings": "楼道灯坏了", "needs": "修灯"})
    assert ok.status_code == 200, ok.json
    assert ok.json["findings"] == "楼道灯坏了"
    [kept] = ok.json["corrections"]
    assert kept["before"] == {"findings": "灯坏了", "needs": ""}
    assert kept["after"] == {"findings": "楼道灯坏了", "needs": "修灯"}
    assert kept["reason"] == "补充情况"
    assert client.get(url, headers=worker).json["corrections"][0]["id"] == kept["id"]
    assert client.patch(f"{API}/visits/999999", headers=worker,
                        json={"reason": "x", "needs": "y"}).status_code == 404
    from core.audit.models import AuditEntry

    with app.app_context(), kernel_of(app).db.session_scope() as session:
        entry = session.scalar(select(AuditEntry).where(
            AuditEntry.action == "grid.visit.corrected"))
        assert entry is not None and entry.target_id == str(made["id"])
        assert entry.detail["fields"] == ["findings", "needs"]


def test_only_the_recorder_within_the_window_or_a_supervisor(app, people, client, token_for):
    supervisor = bearer(token_for("community_worker"))
    made = client.post(f"{API}/visits", headers=supervisor, json={
        "person_id": people["alone"], "met": "family", "findings": "家属在"}).json
    worker = bearer(token_for("grid_worker"))
    other = client.patch(f"{API}/visits/{made['id']}", headers=worker,
                         json={"reason": "改一下", "needs": "助餐"})
    assert other.status_code == 403  # someone else's record, and not a supervisor
    mine = client.post(f"{API}/visits", headers=worker, json={
        "person_id": people["alone"], "met": "person"}).json
    from core.identity.models import User

    ids = {r: ensure_user(app, r).id for r in ("grid_worker", "community_worker")}
    with app.test_request_context(), kernel_of(app).db.session_scope() as session:
        visit = session.get(GridVisit, mine["id"])
        later = utcnow() + timedelta(days=8)
        with pytest.raises(GridError) as late:
            correct_visit(session, session.get(User, ids["grid_worker"]), visit,
                          reason="晚了", changes={"needs": "助餐"}, now=later)
        assert late.value.status == 409
        correct_visit(session, session.get(User, ids["community_worker"]), visit,
                      reason="督导更正", changes={"needs": "助餐"}, now=later)
        assert visit.needs == "助餐"
    # a supervisor corrects any record in scope, through the API too
    assert client.patch(f"{API}/visits/{made['id']}", headers=supervisor, json={
        "reason": "补充", "needs": "助餐"}).status_code == 200


def test_a_patrol_is_corrected_on_the_api_and_the_page(app, people, client, token_for,
                                                       client_as):
    worker = bearer(token_for("grid_worker"))
    made = client.post(f"{API}/patrols", headers=worker, json={
        "grid": G1, "area": "北门", "started_at": "2026-01-01T09:00:00+08:00"}).json
    url = f"{API}/patrols/{made['id']}"
    backwards = client.patch(url, headers=worker, json={
        "reason": "时间", "ended_at": "2026-01-01T08:00:00+08:00"})
    assert backwards.status_code == 409 and "ended_at" in backwards.json["error"]["fields"]
    ok = client.patch(url, headers=worker, json={
        "reason": "补记结束时间", "ended_at": "2026-01-01T10:00:00+08:00", "found": "垃圾堆放"})
    assert ok.status_code == 200, ok.json
    assert ok.json["corrections"][0]["before"] == {"ended_at": None, "found": ""}
    page_client = client_as("grid_worker")
    page = page_client.get("/grid/patrols").get_data(as_text=True)
    assert "更正前的版本（1）" in page and "补记结束时间" in page
    form_url = f"/grid/patrols/{made['id']}/correct"
    assert page_client.get(form_url).status_code == 200
    token = csrf_token(page_client, form_url)
    blank = page_client.post(form_url, data={"csrf_token": token, "area": "北门",
                                             "started_at": "2026-01-01T09:00"})
    assert blank.status_code == 400 and "请写明更正原因。" in blank.get_data(as_text=True)
    done = page_client.post(form_url, data={
        "csrf_token": token, "area": "北门到东门", "started_at": "2026-01-01T09:00",
        "ended_at": "2026-01-01T10:00", "found": "垃圾堆放", "reason": "路线写全"})
    assert done.status_code == 302, done.get_data(as_text=True)
    with app.app_context(), kernel_of(app).db.session_scope() as session:
        assert session.get(GridPatrol, made["id"]).area == "北门到东门"


def test_the_visit_page_corrects_and_shows_the_earlier_version(app, people, client_as):
    worker = client_as("grid_worker")
    url = f"/grid/persons/{people['alone']}"
    token = csrf_token(worker, url)
    made = worker.post(url, data={"csrf_token": token, "visited_on": today_of(app),
                                  "met": "person", "findings": "灯坏了"})
    record_url = made.headers["Location"]
    record = worker.get(record_url).get_data(as_text=True)
    assert "更正这条记录" in record
    form_url = record_url + "/correct"
    form = worker.get(form_url).get_data(as_text=True)
    assert "灯坏了" in form and "7 天内更正" in form
    token = csrf_token(worker, form_url)
    done = worker.post(form_url, data={"csrf_token": token, "visited_on": today_of(app),
                                       "findings": "楼道灯坏了", "reason": "写清楚位置"})
    assert done.status_code == 302, done.get_data(as_text=True)
    shown = worker.get(record_url).get_data(as_text=True)
    assert "楼道灯坏了" in shown and "写清楚位置" in shown
    assert "<del><span class=\"visually-hidden\">更正前: </span>灯坏了</del>" in shown
    # someone else's record: the page says why instead of a form
    other = client_as("community_worker")
    assert "更正这条记录" in other.get(record_url).get_data(as_text=True)  # a supervisor
    with app.app_context(), kernel_of(app).db.session_scope() as session:
        assert session.scalar(select(GridVisit.findings)) == "楼道灯坏了"


def test_a_grid_code_or_summary_the_document_refuses_is_refused(app, people, client, token_for):
    """What the hostile-input fuzzer found: a NUL in the grid filter reached PostgreSQL (a
    500), and a one-line summary of only a line feed passed the document but not the
    service. Both are 422 at the field now, on either database."""
    worker = bearer(token_for("grid_worker"))
    for path in ("households", "tasks"):
        bad = client.get(f"{API}/{path}", query_string={"grid": "11\x00"}, headers=worker)
        assert bad.status_code == 422 and "grid" in bad.json["error"]["fields"], bad.json
    refused = client.post(f"{API}/visits", headers=worker, json={
        "person_id": people["alone"], "met": "person", "findings": "门锁坏了",
        "refer_kind": "matter", "refer_category": "environment", "refer_summary": "\n"})
    assert refused.status_code == 422 and "refer_summary" in refused.json["error"]["fields"]
