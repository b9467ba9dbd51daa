"""The pages and the API: the task list on the phone (masked, logged), recording a visit
with its referral in one step, patrols, coverage with its chart, and the error answers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import inspect

from core.testing import C1, G1, access_log, assert_api_fuzzes, csrf_token
from core.toolkit import kernel_of
from plugins.grid.services import today
from tests.plugins.grid.conftest import bearer

API = "/api/v1/grid"


def day(app, days: int = 0):
    with app.app_context():
        return today() + timedelta(days=days)


def test_migration_made_the_tables(app):
    tables = set(inspect(kernel_of(app).db.engine).get_table_names())
    assert {"grid_subject", "grid_visit", "grid_patrol", "grid_finding",
            "grid_alembic_version"} <= tables
    from core import migrate  # the migrations==models check, with this plugin enabled

    kernel = kernel_of(app)
    for tree in migrate.trees_for(kernel.plugins):
        assert migrate.schema_diff(kernel.db.engine, tree) == [], tree.owner


def test_task_list_is_masked_and_logged(app, people, client_as):
    worker = client_as("grid_worker")
    page = worker.get("/grid/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "赵**" in html and "赵独居" not in html
    assert "钱老伴" not in html and "钱**" not in html  # not alone: not due
    entries = access_log(app, people["alone"], via="grid")
    assert entries and entries[0]["purpose"] == "grid visit list" and entries[0]["masked"]


def test_record_a_visit_and_refer_it_in_one_step(app, people, client_as, events):
    worker = client_as("grid_worker")
    url = f"/grid/persons/{people['alone']}"
    assert worker.get(url).status_code == 200
    token = csrf_token(worker, url)
    bad = worker.post(url, data={"csrf_token": token, "visited_on": day(app).isoformat(),
                                 "met": "person", "refer_kind": "matter", "category": "safety"})
    assert bad.status_code == 400
    assert "转办前请写明发现的问题。" in bad.get_data(as_text=True)
    ok = worker.post(url, data={"csrf_token": token, "visited_on": day(app).isoformat(),
                                "met": "person", "findings": "楼道灯坏了", "needs": "修灯",
                                "refer_kind": "matter", "category": "safety"})
    assert ok.status_code == 302, ok.get_data(as_text=True)
    assert [n for n, _ in events.published].count("grid.finding.referred") == 1
    detail = worker.get(ok.headers["Location"]).get_data(as_text=True)
    assert "楼道灯坏了" in detail and "政务事项" in detail
    assert any(e["purpose"] == "grid visit record"
               for e in access_log(app, people["alone"], via="grid"))
    assert "赵**" not in worker.get("/grid/").get_data(as_text=True)  # no longer due


def test_outside_the_grid_is_not_found(app, people, client_as):
    other = people["data"].person("周外区", dwelling="d3")
    worker = client_as("grid_worker")
    assert worker.get(f"/grid/persons/{other}").status_code == 404
    assert worker.get("/grid/visits/999").status_code == 404
    assert client_as("resident").get("/grid/").status_code == 403


def test_patrol_page(app, people, client_as):
    worker = client_as("grid_worker")
    token = csrf_token(worker, "/grid/patrols")
    bad = worker.post("/grid/patrols", data={"csrf_token": token, "grid": G1, "area": "",
                                             "started_at": "2026-01-01T09:00"})
    assert bad.status_code == 400 and "请写明巡查的路线或区域。" in bad.get_data(as_text=True)
    ok = worker.post("/grid/patrols", data={
        "csrf_token": token, "grid": G1, "area": "东门到3栋", "started_at": "2026-01-01T09:00",
        "ended_at": "2026-01-01T10:00", "found": "消防通道堆放杂物", "refer_kind": "incident",
        "category": "safety"})
    assert ok.status_code == 302
    page = worker.get("/grid/patrols").get_data(as_text=True)
    assert "东门到3栋" in page and "安全事件" in page


def test_coverage_page_draws_the_chart(app, people, client_as):
    supervisor = client_as("community_worker")
    page = supervisor.get("/grid/coverage")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<svg class="chart"' in html and "第一网格" in html
    assert client_as("grid_worker").get("/grid/coverage").status_code == 403


def test_api(app, people, client, token_for):
    assert client.get(f"{API}/tasks").status_code == 401
    resident = bearer(token_for("resident"))
    assert client.get(f"{API}/tasks", headers=resident).status_code == 403
    worker = bearer(token_for("grid_worker"))
    tasks = client.get(f"{API}/tasks", headers=worker).json
    assert [t["person_id"] for t in tasks["items"]] == [people["alone"]]
    assert tasks["items"][0]["name"] == "赵**" and tasks["items"][0]["status"] == "due"
    future = day(app, 2).isoformat()
    refused = client.post(f"{API}/visits", headers=worker, json={
        "person_id": people["alone"], "met": "person", "visited_on": future})
    assert refused.status_code == 409
    assert refused.json["error"]["fields"] == {"visited_on": ["走访日期不能晚于今天。"]}
    assert client.post(f"{API}/visits", headers=worker, json={
        "person_id": people["alone"], "met": "aliens"}).status_code == 422
    assert client.post(f"{API}/visits", headers=worker, json={
        "person_id": 999999, "met": "person"}).status_code == 404
    made = client.post(f"{API}/visits", headers=worker, json={
        "person_id": people["alone"], "met": "person", "findings": "需要助餐服务",
        "refer_kind": "offer", "refer_category": "living", "refer_service_code": "meal_aid"})
    assert made.status_code == 201, made.json
    assert made.json["referred"][0]["kind"] == "offer"
    visit_id = made.json["id"]
    assert client.get(f"{API}/visits/{visit_id}", headers=worker).json["findings"] == "需要助餐服务"
    listed = client.get(f"{API}/visits", headers=worker, query_string={
        "person_id": people["alone"]}).json
    assert listed["total"] == 1
    finding = client.post(f"{API}/findings", headers=worker, json={
        "visit_id": visit_id, "kind": "matter", "category": "living", "summary": "独居需关注"})
    assert finding.status_code == 201 and finding.json["community"] == C1
    got = client.get(f"{API}/findings/{finding.json['id']}", headers=worker).json
    assert got["onward_state"] == ""
    nowhere = client.post(f"{API}/findings", headers=worker, json={
        "kind": "matter", "category": "living", "summary": "x"})
    assert nowhere.status_code == 409 and "visit_id" in nowhere.json["error"]["fields"]
    patrol = client.post(f"{API}/patrols", headers=worker, json={
        "grid": G1, "area": "北门", "started_at": "2026-01-01T09:00:00+08:00"})
    assert patrol.status_code == 201, patrol.json
    assert client.get(f"{API}/patrols", headers=worker).json["total"] == 1
    naive = client.post(f"{API}/patrols", headers=worker, json={
        "grid": G1, "area": "北门", "started_at": "2026-01-01T09:00:00"})
    assert naive.status_code == 422
    supervisor = bearer(token_for("community_worker"))
    cov = client.get(f"{API}/coverage", headers=supervisor).json
    row = next(r for r in cov["items"] if r["grid"] == G1)
    assert row["on_time"] == 1
    assert client.get(f"{API}/coverage", headers=worker).status_code == 403


def test_api_survives_the_fuzzer(app, people):
    assert_api_fuzzes(app, "/api/v1/grid", max_examples=8, role="community_worker")
