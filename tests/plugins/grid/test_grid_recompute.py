"""Living alone follows the registry at once: the events that change who lives where
recompute the registry rules for those touched, without waiting for the hourly job."""

from __future__ import annotations

from sqlalchemy import select

from core.toolkit import kernel_of
from plugins.grid.models import GridSubject


def alone_ids(app) -> set[int]:
    with app.app_context(), kernel_of(app).db.session_scope() as session:
        return set(session.scalars(select(GridSubject.person_id).where(
            GridSubject.rule == "elderly_alone", GridSubject.active.is_(True))))


def test_moving_in_and_out_recomputes_living_alone_at_once(app, people):
    data = people["data"]
    assert people["alone"] in alone_ids(app)
    data.move(people["young"], "d1")  # a young resident moves in with the elderly one
    data.deliver()
    assert people["alone"] not in alone_ids(app)
    data.move(people["young"], "d3")  # and out again
    data.deliver()
    assert people["alone"] in alone_ids(app)


def test_a_newcomer_registered_in_the_dwelling_ends_living_alone(app, people):
    data = people["data"]
    data.person("周新来", born="1990-02-02", dwelling="d1")
    data.deliver()
    assert people["alone"] not in alone_ids(app)


def test_a_death_leaves_the_partner_living_alone(app, people):
    data = people["data"]
    data.move(people["young"], "d3")
    data.deliver()
    assert people["couple"] not in alone_ids(app)  # still with the partner
    data.die(people["partner"])
    data.deliver()
    assert people["couple"] in alone_ids(app)


def test_one_household_visit_covers_every_due_member(app, people, token_for):
    """The task list by household, and one visit that satisfies the household's due
    subjects (persons met chosen from its members; an outsider refused)."""

    data = people["data"]
    data.move(people["young"], "d3")
    data.die(people["partner"])
    data.deliver()  # couple (75) now lives alone in d2
    household = data.household(people["alone"], {people["couple"]: "99"})
    data.deliver()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token_for('grid_worker')}"}
    listed = client.get("/api/v1/grid/households", headers=headers).get_json()
    entry = next(i for i in listed["items"] if i["household_id"] == household)
    assert {s["person_id"] for s in entry["subjects"]} == {people["alone"], people["couple"]}
    assert all("elderly_alone" in s["rules"] for s in entry["subjects"])  # why each is due
    bad = client.post("/api/v1/grid/visits", headers=headers, json={
        "person_id": people["alone"], "met": "person", "cover_household": True,
        "met_person_ids": [people["young"]]})
    assert bad.status_code == 409 and "met_person_ids" in bad.json["error"]["fields"]
    ok = client.post("/api/v1/grid/visits", headers=headers, json={
        "person_id": people["alone"], "met": "person", "cover_household": True,
        "met_person_ids": [people["alone"]]})
    assert ok.status_code == 201, ok.get_json()
    body = ok.get_json()
    assert sorted(body["covered_person_ids"]) == sorted([people["alone"], people["couple"]])
    assert body["met_person_ids"] == [people["alone"]]
    after = client.get("/api/v1/grid/households", headers=headers).get_json()
    assert all(i["household_id"] != household for i in after["items"])
