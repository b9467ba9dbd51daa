"""The pages: a resident signs up and reads their record; staff publish (errors at the
field), run the roster (masked names, each in the access log), check in, correct, read the
yearly summary with its chart and export it (formula-safe, audited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.testing import C1, access_count, csrf_token
from core.toolkit import kernel_of
from plugins.volunteers.models import Activity, HoursCorrection, HoursEntry, Signup

P = "/volunteers"


def _signup(world, act_id, person_id, user_id, status="signed_up"):
    with world.app.app_context(), world.session() as session:
        session.add(Signup(activity_id=act_id, person_id=person_id, user_id=user_id,
                           status=status))
        session.get(Activity, act_id).taken += 1


def test_resident_signs_up_reads_the_record_and_withdraws(client_as, world):
    act_id = world.activity(capacity=1)
    resident = client_as("resident")
    assert "敬老院陪伴" in resident.get(f"{P}/").get_data(as_text=True)
    page = f"{P}/activities/{act_id}"
    token = csrf_token(resident, page)
    assert resident.post(f"{page}/signup", data={"csrf_token": token}).status_code == 302
    with world.app.app_context(), world.session() as session:
        row = session.scalar(select(Signup))
        assert (row.person_id, row.status) == (world.p1, "signed_up")
    assert 'id="my-state"' in resident.get(page).get_data(as_text=True)
    mine = resident.get(f"{P}/mine")
    assert mine.status_code == 200 and "敬老院陪伴" in mine.get_data(as_text=True)
    assert resident.get(f"{P}/mine/print").status_code == 200
    assert resident.post(f"{page}/withdraw", data={"csrf_token": token}).status_code == 302
    with world.app.app_context(), world.session() as session:
        assert session.scalar(select(Signup.status)) == "cancelled"
        assert session.get(Activity, act_id).taken == 0


def test_an_unverified_account_cannot_sign_up(client_as, world):
    act_id = world.activity()
    auditor = client_as("auditor")  # reads activities, is nobody in the registry
    page = f"{P}/activities/{act_id}"
    assert auditor.get(page).status_code == 200
    token = csrf_token(auditor, page)
    assert auditor.post(f"{page}/signup", data={"csrf_token": token}).status_code == 403


def test_staff_publish_with_errors_at_the_field(client_as, world):
    worker = client_as("community_worker")
    form = worker.get(f"{P}/activities/new").get_data(as_text=True)
    assert C1 in form  # the worker's own community, to choose
    token = csrf_token(worker, f"{P}/activities/new")
    base = {"csrf_token": token, "community": C1, "title": "垃圾分类宣传", "place": "南门",
            "starts_at": "2030-05-01T09:00", "ends_at": "2030-05-01T08:00",
            "signup_deadline": "2030-04-30T18:00", "capacity": "5", "hours": "1.5"}
    bad = worker.post(f"{P}/activities/new", data=base)
    assert bad.status_code == 400 and "error-message" in bad.get_data(as_text=True)
    good = worker.post(f"{P}/activities/new", data={**base, "ends_at": "2030-05-01T11:00"})
    assert good.status_code == 302
    with world.app.app_context(), world.session() as session:
        act = session.scalar(select(Activity))
        # typed in Beijing time, stored in UTC
        assert act.starts_at == datetime(2030, 5, 1, 1, 0, tzinfo=UTC)
        assert act.credit_minutes == 90
    edit = worker.post(f"{P}/activities/{act.id}/edit", data={**base, "ends_at":
                                                               "2030-05-01T11:00",
                                                               "capacity": "8"})
    assert edit.status_code == 302
    resident = client_as("resident")
    assert resident.get(f"{P}/activities/new").status_code == 403


def test_roster_masks_logs_and_checks_in(client_as, world):
    act_id = world.activity(starts_in=timedelta(minutes=-30), hours=2)
    _signup(world, act_id, world.p1, world.resident.id)
    worker = client_as("community_worker")
    before = access_count(world.app, world.p1, via="volunteers")
    page = worker.get(f"{P}/activities/{act_id}/roster").get_data(as_text=True)
    assert "张*" in page and "张三" not in page
    assert access_count(world.app, world.p1, via="volunteers") > before
    other = client_as("committee_member")  # assigned to C2 only
    assert other.get(f"{P}/activities/{act_id}/roster").status_code == 404
    with world.app.app_context(), world.session() as session:
        signup_id = session.scalar(select(Signup.id))
    token = csrf_token(worker, f"{P}/activities/{act_id}/roster")
    url = f"{P}/activities/{act_id}/roster/{signup_id}"
    assert worker.post(url, data={"csrf_token": token, "attended": "1"}).status_code == 302
    with world.app.app_context(), world.session() as session:
        entry = session.scalar(select(HoursEntry))
        assert entry.minutes == 120 and entry.person_id == world.p1
    fix = f"{P}/hours/{entry.id}/correct"
    blank = worker.post(fix, data={"csrf_token": token, "hours": "3", "reason": ""})
    assert blank.status_code == 400 and "error-message" in blank.get_data(as_text=True)
    assert worker.post(fix, data={"csrf_token": token, "hours": "3",
                                  "reason": "提前布置场地"}).status_code == 302
    with world.app.app_context(), world.session() as session:
        assert session.scalar(select(HoursCorrection.reason)) == "提前布置场地"
    assert "提前布置场地" in worker.get(f"{P}/activities/{act_id}/roster").get_data(as_text=True)
    mine = client_as("resident").get(f"{P}/mine").get_data(as_text=True)
    assert 'id="total-hours">3<' in mine


def test_summary_chart_and_csv(client_as, world):
    act_id = world.activity(starts_in=timedelta(minutes=-30), hours=2)
    with world.app.app_context(), world.session() as session:
        act = session.get(Activity, act_id)
        session.add(HoursEntry(activity_id=act_id, person_id=world.p1, community=act.community,
                               minutes=120, served_at=act.starts_at))
        year = act.starts_at.astimezone().year
    worker = client_as("community_worker")
    page = worker.get(f"{P}/summary?year={year}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in html and 'id="stat-hours">2<' in html
    before = access_count(world.app, world.p1, via="volunteers")
    csv = worker.get(f"{P}/summary.csv?year={year}")
    assert csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).strip().splitlines()
    assert lines[0] == "person_id,name,activities,hours" and lines[1].startswith(f"{world.p1},张*")
    assert access_count(world.app, world.p1, via="volunteers") > before
    from core.audit.models import AuditEntry

    with world.app.app_context(), kernel_of(world.app).db.session_scope() as session:
        assert session.scalar(select(AuditEntry.id).where(
            AuditEntry.action == "volunteers.summary.export")) is not None
    assert worker.get(f"{P}/summary?community=999999999999").status_code == 404
    assert client_as("resident").get(f"{P}/summary").status_code == 403
