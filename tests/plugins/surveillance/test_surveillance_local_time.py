"""Times typed into the desk's forms are the configured zone's wall clock (issue 16,
item 7): an officer reading 07:30 off the camera system in Beijing means 23:30 UTC the
evening before, whatever the server's own zone; and a date-and-time field's errors say
what is expected, once, in the page's language (item 6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from surveillance_kit import add_camera, csrf, open_incident

from plugins.surveillance.models import Clip


def test_a_typed_time_is_beijing_time(sv) -> None:
    add_camera(sv, "TZ-1")
    day = (datetime.now(UTC) - timedelta(days=1)).date()
    happened = datetime(day.year, day.month, day.day, 23, 35, tzinfo=UTC)
    incident = open_incident(sv, "officer", "TZ-1", occurred_at=happened.isoformat())
    client = sv.client["officer"]
    page = f"/surveillance/incidents/{incident}"
    beijing = day + timedelta(days=1)
    resp = client.post(f"{page}/clips", data={
        "csrf_token": csrf(client, page), "camera_code": "TZ-1",
        "starts_at": f"{beijing}T07:30", "ends_at": f"{beijing}T07:45", "reference": "R-1"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with sv.kernel.db.session_scope() as session:
        clip = session.scalars(select(Clip).where(Clip.incident_id == incident)).one()
        assert clip.starts_at == happened - timedelta(minutes=5)
        assert clip.ends_at == happened + timedelta(minutes=10)


def test_a_missing_time_is_named_once(sv) -> None:
    add_camera(sv, "TZ-2")
    incident = open_incident(sv, "officer", "TZ-2")
    client = sv.client["officer"]
    page = f"/surveillance/incidents/{incident}"
    resp = client.post(f"{page}/clips", data={
        "csrf_token": csrf(client, page), "camera_code": "TZ-2",
        "starts_at": "", "ends_at": "yesterday"})
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert "请填写片段的开始时间。" in body  # the summary and beside the field
    assert "请按日期和时间填写片段的结束时间。" in body  # typed, but not a time
    for default in ("该字段是必填字段", "This field is required", "Not a valid datetime",
                    "无效的日期"):
        assert default not in body
