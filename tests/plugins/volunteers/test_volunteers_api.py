"""The API under /api/v1/volunteers: the page actions with the same checks (401, 403,
404 outside one's places, 409 for the rules, 422 for the shape), and the fuzzer."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from volunteers_kit import API, C1, bearer

from core.testing import access_count, assert_api_fuzzes
from plugins.volunteers.models import HoursEntry

BODY = {"community": C1, "title": "清扫楼道", "place": "3号楼", "starts_at": "2030-03-01T09:00:00",
        "ends_at": "2030-03-01T11:00:00", "signup_deadline": "2030-02-28T20:00:00",
        "capacity": 1, "hours": 2}


def test_staff_create_edit_cancel(client, token_for, world):
    worker = bearer(token_for("community_worker"))
    assert client.post(f"{API}/activities", json=BODY).status_code == 401
    assert client.post(f"{API}/activities", json=BODY,
                       headers=bearer(token_for("resident"))).status_code == 403
    other = bearer(token_for("committee_member"))  # acts for C2 only
    assert client.post(f"{API}/activities", json=BODY, headers=other).status_code == 403
    made = client.post(f"{API}/activities", json=BODY, headers=worker)
    assert made.status_code == 201, made.json
    assert made.json["starts_at"].startswith("2030-03-01T01:00")  # Beijing → UTC
    aid = made.json["id"]
    bad = client.post(f"{API}/activities", json={**BODY, "ends_at": "2030-03-01T08:00:00"},
                      headers=worker)
    assert bad.status_code == 409 and "ends_at" in bad.json["error"]["fields"]
    assert client.post(f"{API}/activities", json={**BODY, "x": 1},
                       headers=worker).status_code == 422
    patched = client.patch(f"{API}/activities/{aid}", json={"capacity": 4}, headers=worker)
    assert patched.status_code == 200 and patched.json["capacity"] == 4
    assert client.patch(f"{API}/activities/{aid}", json={"capacity": 4},
                        headers=other).status_code == 404
    listed = client.get(f"{API}/activities?when=all", headers=bearer(token_for("resident")))
    assert listed.json["total"] == 1
    gone = client.post(f"{API}/activities/{aid}/cancel", json={"reason": "下雨"}, headers=worker)
    assert gone.status_code == 200 and gone.json["state"] == "cancelled"
    again = client.post(f"{API}/activities/{aid}/cancel", json={"reason": "下雨"}, headers=worker)
    assert again.status_code == 409
    assert client.get(f"{API}/activities/999999", headers=worker).status_code == 404


def test_resident_signs_up_staff_check_in_and_the_record(client, token_for, world):
    aid = world.activity(capacity=1, starts_in=timedelta(hours=1))
    resident = bearer(token_for("resident"))
    worker = bearer(token_for("community_worker"))
    first = client.post(f"{API}/activities/{aid}/signup", headers=resident)
    assert first.status_code == 201 and first.json["status"] == "signed_up"
    assert client.post(f"{API}/activities/{aid}/signup", headers=resident).status_code == 409
    assert client.get(f"{API}/activities/{aid}", headers=resident).json["my_signup"] == "signed_up"
    assert client.post(f"{API}/activities/{aid}/signup",
                       headers=bearer(token_for("auditor"))).status_code == 403  # unverified
    before = access_count(world.app, world.p1, via="volunteers")
    roster = client.get(f"{API}/activities/{aid}/roster", headers=worker)
    assert roster.status_code == 200 and roster.json["items"][0]["name"] == "张*"
    assert roster.json["check_in_open"] is True
    assert access_count(world.app, world.p1, via="volunteers") > before
    assert client.get(f"{API}/activities/{aid}/roster", headers=resident).status_code == 403
    sid = roster.json["items"][0]["signup_id"]
    came = client.post(f"{API}/activities/{aid}/attendance",
                       json={"signup_id": sid, "attended": True}, headers=worker)
    assert came.status_code == 200 and came.json["status"] == "attended"
    assert client.post(f"{API}/activities/{aid}/attendance",
                       json={"signup_id": sid, "attended": False},
                       headers=worker).status_code == 409
    assert client.post(f"{API}/activities/{aid}/attendance",
                       json={"signup_id": 999999, "attended": True},
                       headers=worker).status_code == 404
    with world.app.app_context(), world.session() as session:
        entry_id = session.scalar(select(HoursEntry.id))
    fixed = client.post(f"{API}/hours/{entry_id}/corrections",
                        json={"hours": 2.5, "reason": "多服务半小时"}, headers=worker)
    assert fixed.status_code == 201 and fixed.json["old_hours"] == 2
    assert client.post(f"{API}/hours/{entry_id}/corrections", json={"hours": 2.5, "reason": "x"},
                       headers=worker).status_code == 409
    mine = client.get(f"{API}/mine", headers=resident)
    assert mine.status_code == 200 and mine.json["total_hours"] == 2.5
    assert mine.json["entries"][0]["corrections"][0]["reason"] == "多服务半小时"
    year = mine.json["per_year"][0]["year"]
    summary = client.get(f"{API}/summary?community={C1}&year={year}", headers=worker)
    assert summary.json["total_hours"] == 2.5 and summary.json["volunteers"] == 1
    assert len(summary.json["months"]) == 12
    people = client.get(f"{API}/summary/volunteers?community={C1}&year={year}", headers=worker)
    assert people.json["items"] == [{"person_id": world.p1, "name": "张*", "activities": 1,
                                     "hours": 2.5}]
    other = bearer(token_for("committee_member"))
    assert client.get(f"{API}/summary?community={C1}&year={year}",
                      headers=other).status_code == 404


def test_withdraw_over_the_api_promotes_the_waiting(client, token_for, world):
    aid = world.activity(capacity=1)
    resident = bearer(token_for("resident"))
    assert client.delete(f"{API}/activities/{aid}/signup", headers=resident).status_code == 409
    client.post(f"{API}/activities/{aid}/signup", headers=resident)
    out = client.delete(f"{API}/activities/{aid}/signup", headers=resident)
    assert out.status_code == 200 and out.json["status"] == "cancelled"


def test_api_survives_the_fuzzer(app, world):
    world.activity()
    assert_api_fuzzes(app, API, max_examples=6)
    # a worker of C1 with an activity there reaches the rules behind the object checks
    assert_api_fuzzes(app, API, role="community_worker", anonymous=False, max_examples=4)
