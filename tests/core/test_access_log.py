"""The access log is complete (issue 15, section 3) for core's own pages and API.

* every staff page and API answer that shows a person writes an entry in that person's
  log — masked displays as masked entries naming the fields shown, reveals as full ones;
  a list, a search, a household or a building one entry per person shown;
* identical entries of one day are one row with a count; the next day is a new row;
* the database lets an UPDATE change only ``count`` and ``last_at``, upwards (SQLite and
  PostgreSQL: run with SHEQU_TEST_DATABASE_URL for the latter);
* the assisted channel is never "own": the agent is named, the resident's account is
  ``on_behalf_of``, and the record is masked unless the AGENT may reveal (finding 1);
* the resident reads it in plain words, grouped by day, in Chinese and English.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from test_registry_api import API, HEAD_ID, build_world, sign_in, staff, token

from core.audit.models import AccessEntry
from core.audit.services import log_access
from core.db import utcnow
from core.registry.corrections import request_correction
from core.registry.testing import C1
from core.testing import access_count, access_log, csrf_token

pytestmark = pytest.mark.with_plugins()


@pytest.fixture
def world(app):
    return build_world(app)


def grew(app, person_id, before, **filters):
    """The person's log counted ``before``: one more display since, matching ``filters``."""
    return access_count(app, person_id, **filters) == before + 1


# ------------------------------------------------------------------------------ the walk


def test_every_staff_page_and_api_answer_that_shows_a_person_is_logged(app, world):
    ids = world.ids
    web = sign_in(app, "wk1")
    h1 = token(app, world.w1)
    api = app.test_client()
    kernel = world.kernel
    with kernel.db.session_scope() as db:
        asked = request_correction(db, person_id=ids.head, field="phone", value="13800000009",
                                   reason="换了号码", actor=world.res_a).id
    shows_head = [
        ("page: person", lambda: web.get(f"/registry/persons/{ids.head}")),
        ("page: search", lambda: web.get("/registry/persons?q=wjg")),
        ("page: household", lambda: web.get(f"/registry/households/{ids.household}")),
        ("page: building", lambda: web.get(f"/registry/buildings/{ids.building1}")),
        ("page: organisation", lambda: web.get(f"/registry/organisations/{ids.org}")),
        ("page: organisations", lambda: web.get("/registry/organisations")),
        ("page: corrections", lambda: web.get("/registry/corrections")),
        ("api: person", lambda: api.get(f"{API}/persons/{ids.head}", headers=h1)),
        ("api: search", lambda: api.get(f"{API}/persons", query_string={"q": "wjg"},
                                        headers=h1)),
        ("api: search by body", lambda: api.post(f"{API}/persons/search",
                                                 json={"q": HEAD_ID}, headers=h1)),
        ("api: household", lambda: api.get(f"{API}/households/{ids.household}", headers=h1)),
        ("api: building", lambda: api.get(f"{API}/buildings/{ids.building1}", headers=h1)),
        ("api: organisation", lambda: api.get(f"{API}/organisations/{ids.org}", headers=h1)),
    ]
    for label, call in shows_head:
        before = access_count(app, ids.head, actor="wk1")
        resp = call()
        assert resp.status_code == 200, (label, resp.status_code)
        assert grew(app, ids.head, before, actor="wk1"), label
    entries = access_log(app, ids.head, actor="wk1")
    assert {e["via"] for e in entries} == {"core"} and all(e["masked"] for e in entries)
    record = next(e for e in entries if "id_number" in e["fields"])
    assert {"name", "id_number", "phone", "address"} <= set(record["fields"])
    assert any(e["fields"] == ["name"] for e in entries)  # a building lists names only
    # a household page and a list show every member, once each
    for label, call in (
            ("page: household", lambda: web.get(f"/registry/households/{ids.household}")),
            ("api: list", lambda: api.get(f"{API}/persons", headers=h1))):
        before = access_count(app, ids.wife, actor="wk1")
        assert call().status_code == 200
        assert grew(app, ids.wife, before, actor="wk1"), label
    # the correction under review shows the requested value in full
    before = access_count(app, ids.head, actor="wk1")
    assert web.get(f"/registry/corrections/{asked}").status_code == 200
    review = access_log(app, ids.head, actor="wk1")[0]
    assert (review["masked"], review["fields"]) == (False, ["name", "phone"])
    assert grew(app, ids.head, before, actor="wk1")
    # a reveal is a full entry with its purpose
    resp = api.post(f"{API}/persons/{ids.head}/reveal",
                    json={"fields": ["id_number"], "purpose": "核实身份"}, headers=h1)
    assert resp.status_code == 200
    full = access_log(app, ids.head, actor="wk1")[0]
    assert (full["masked"], full["fields"], full["purpose"]) == (False, ["id_number"], "核实身份")
    # the export (the exports' own code): an entry exists after it for each person
    before = access_count(app, ids.wife)
    resp = web.post("/registry/export", data={"csrf_token": csrf_token(web, "/registry/export"),
                                              "status": "active", "lang": "zh"})
    assert resp.status_code == 200
    assert access_count(app, ids.wife) > before
    # nothing of a person outside the worker's places, and nothing for one's own record
    assert access_log(app, ids.other, actor="wk1") == []
    me = sign_in(app, "res_a")
    before = access_count(app, ids.head)
    assert me.get("/registry/me?show=1").status_code == 200
    assert access_count(app, ids.head) == before


def test_a_change_is_logged_once_for_what_it_answers(app, world):
    """A check before a change shows nothing: only the answer is an entry."""
    api = app.test_client()
    h1 = token(app, world.w1)
    version = api.get(f"{API}/persons/{world.ids.wife}", headers=h1).json["version"]
    before = access_count(app, world.ids.wife)
    resp = api.patch(f"{API}/persons/{world.ids.wife}",
                     json={"version": version, "phone": "13800000012"}, headers=h1)
    assert resp.status_code == 200, resp.json
    assert access_count(app, world.ids.wife) == before + 1


# ------------------------------------------------------------------------------ aggregation


def test_identical_displays_of_a_day_are_one_row_with_a_count(app, world):
    api = app.test_client()
    h1 = token(app, world.w1)
    url = f"{API}/persons/{world.ids.head}"
    for _ in range(2):
        assert api.get(url, headers=h1).status_code == 200
    [entry] = access_log(app, world.ids.head)
    assert (entry["actor"], entry["masked"], entry["count"]) == ("wk1", True, 2)
    # another purpose, or in full, is another row; the same tomorrow is a new row too
    kernel = world.kernel
    worker = world.w1
    tomorrow = utcnow() + timedelta(days=1)
    with kernel.db.session_scope() as db:
        for when in (None, None, tomorrow):
            log_access(db, actor=worker, person_id=world.ids.head, fields=["phone"],
                       purpose="回访", via="commerce", masked=True, now=when)
        log_access(db, actor=worker, person_id=world.ids.head, fields=["phone"],
                   purpose="回访", via="commerce")
    rows = access_log(app, world.ids.head, via="commerce")
    assert sorted((e["masked"], e["count"]) for e in rows) == [(False, 1), (True, 1), (True, 2)]
    with kernel.db.session_scope() as db:
        today, later = db.execute(
            select(AccessEntry.at, AccessEntry.last_at)
            .where(AccessEntry.via == "commerce", AccessEntry.count == 2)).one()
        assert later >= today


def test_a_page_of_many_persons_is_one_upsert(app, world):
    """A list logs each person it showed in one statement (and a search twice: the same
    rows, counted up)."""
    from sqlalchemy import event

    engine = world.kernel.db.engine
    seen = []

    def listener(conn, cursor, statement, *args):
        seen.append(statement)

    api = app.test_client()
    h1 = token(app, world.w1)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert len(api.get(f"{API}/persons", headers=h1).json["items"]) == 2
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert sum(s.startswith("INSERT INTO audit_access") for s in seen) == 1
    assert access_count(app, world.ids.head) == access_count(app, world.ids.wife) == 1
    api.get(f"{API}/persons", headers=h1)
    assert [e["count"] for e in access_log(app, world.ids.wife)] == [2]


def test_what_an_event_handler_logs_inside_its_savepoint_is_kept(app, world):
    """Event handlers run in ``begin_nested()``; SQLAlchemy fires the commit events for a
    savepoint too. The savepoint's commit must not drop what was queued in it."""
    kernel = world.kernel
    with kernel.db.session_scope() as db:
        with db.begin_nested():
            log_access(db, actor=world.w1, person_id=world.ids.head, fields=["name"],
                       purpose="event handler", via="exchange", masked=True)
        db.flush()
    assert [e["purpose"] for e in access_log(app, world.ids.head, via="exchange")] == [
        "event handler"]


def test_a_page_that_commits_nothing_is_still_logged(app, world):
    """Entries queued on a session that ends without a commit are written on their own."""
    from types import SimpleNamespace

    from core.registry.reader import RegistryReader

    kernel = world.kernel
    worker = SimpleNamespace(id=world.w1.id, username="wk1", role_names=["community_worker"],
                             scopes=[SimpleNamespace(kind="community", code=C1)])
    session = kernel.db.Session()
    try:
        reader = RegistryReader.for_plugin(session, kernel, "core", actor=worker)
        reader.person(world.ids.head)
    finally:
        session.rollback()
        session.close()
    assert [e["actor"] for e in access_log(app, world.ids.head)] == ["wk1"]


# ------------------------------------------------------------------------------ triggers


def test_only_count_and_last_at_may_change_and_only_upwards(app, world):
    kernel = world.kernel
    with kernel.db.session_scope() as db:
        log_access(db, actor=world.w1, person_id=world.ids.head, fields=["phone"],
                   purpose="回访", masked=True)
    refused = [
        update(AccessEntry).values(purpose="forged"),
        update(AccessEntry).values(fields=["name"]),
        update(AccessEntry).values(masked=False),
        update(AccessEntry).values(actor_name="someone"),
        update(AccessEntry).values(count=AccessEntry.count - 1),
        update(AccessEntry).values(count=AccessEntry.count + 1, purpose="forged"),
        update(AccessEntry).values(last_at=utcnow() - timedelta(days=30)),
        text("UPDATE audit_access SET subject_person_id = subject_person_id + 1"),
        text("DELETE FROM audit_access"),
    ]
    for statement in refused:
        with pytest.raises(DBAPIError), kernel.db.session_scope() as db:
            db.execute(statement)
            pytest.fail(f"not refused: {statement}")
    with kernel.db.session_scope() as db:
        db.execute(update(AccessEntry).values(count=AccessEntry.count + 1,
                                              last_at=utcnow() + timedelta(seconds=1)))
    [entry] = access_log(app, world.ids.head)
    assert (entry["purpose"], entry["count"]) == ("回访", 2)


# ------------------------------------------------------------------------------ assisted


def start_assist(client, resident, reason="热线来电代查登记信息"):
    return client.post("/account/assist", data={
        "csrf_token": csrf_token(client, "/account/assist"), "resident": resident,
        "reason": reason, "minutes": "20"})


def test_an_assisted_session_is_masked_and_logged_with_the_agent(app, world):
    """Finding 1: the hotline operator assisting 王建国 sees his record masked at
    /registry/me?show=1, and the read is in his log under the operator's name."""
    staff(app, "hotline1", role="hotline_operator")
    agent = sign_in(app, "hotline1")
    assert start_assist(agent, "res_a").status_code == 302
    page = agent.get("/registry/me?show=1").get_data(as_text=True)
    assert "王建国" in page and HEAD_ID not in page and "13800000001" not in page
    entries = access_log(app, world.ids.head)
    assert [(e["actor"], e["masked"], e["on_behalf_of"]) for e in entries] == [
        ("hotline1", True, world.res_a.id)]
    # the household's other members, by name
    assert [e["fields"] for e in access_log(app, world.ids.wife, actor="hotline1")] == [["name"]]


def test_an_agent_who_may_reveal_sees_in_full_with_a_purpose_only(app, world):
    staff(app, "counter1", communities=[C1])  # a community worker: may reveal in C1
    agent = sign_in(app, "counter1")
    assert start_assist(agent, "res_a", reason="柜台代办高龄津贴申请").status_code == 302
    masked = agent.get("/registry/me?show=1").get_data(as_text=True)
    assert HEAD_ID not in masked  # no purpose stated
    full = agent.get("/registry/me", query_string={"show": "1", "purpose": "代办高龄津贴申请"})
    assert HEAD_ID in full.get_data(as_text=True)
    top = access_log(app, world.ids.head)[0]
    assert (top["actor"], top["masked"], top["purpose"]) == ("counter1", False, "代办高龄津贴申请")
    assert set(top["fields"]) == {"id_number", "birth_date", "phone", "address"}


# ------------------------------------------------------------------------------ the resident


def test_the_resident_reads_it_in_plain_words_grouped_by_day(app, world):
    api = app.test_client()
    h1 = token(app, world.w1)
    for _ in range(3):
        api.get(f"{API}/persons/{world.ids.head}", headers=h1)
    api.post(f"{API}/persons/{world.ids.head}/reveal",
             json={"fields": ["phone"], "purpose": "办理高龄津贴申请 42"}, headers=h1)
    me = sign_in(app, "res_a")
    page = me.get("/account/access-log").get_data(as_text=True)
    main = page.split("<main", 1)[1]
    assert "社区工作者 wk1 通过 社区人口登记 查看了您的 姓名、身份证号、电话号码、地址和出生日期" \
        "（已隐去部分）3 次" in main, main
    assert "查看了您完整的 电话号码 1 次" in main and "用途：办理高龄津贴申请 42" in main
    assert main.count("<h2 class=\"h3\"") == 1  # one day
    assert HEAD_ID not in main and "13800000001" not in main
    me.set_cookie("shequ_lang", "en")
    english = me.get("/account/access-log").get_data(as_text=True)
    assert "Community worker wk1 saw your name, ID number, phone number, address and date " \
        "of birth (partly hidden) 3 times through" in english, english
    assert "saw your phone number in full once through" in english
    assert "Purpose: 办理高龄津贴申请 42" in english
    # and in the JSON API
    mine = me.get("/api/v1/identity/access-log")
    assert mine.status_code == 200, mine.json
    items = mine.json["items"]
    assert {(i["masked"], i["count"]) for i in items} == {(True, 3), (False, 1)}
    assert all(i["last_at"] for i in items)


def test_a_purpose_the_system_wrote_reads_in_the_residents_language(app, world):
    """Plugins write purposes such as "ticket 12": the words are translated for the
    reader, the reference number is kept; a purpose a worker typed is shown as typed."""
    kernel = world.kernel
    with kernel.db.session_scope() as db:
        for purpose in ("ticket 12", "incident #4: report photo", "核实住址"):
            log_access(db, actor=world.w1, person_id=world.ids.head, fields=["name"],
                       purpose=purpose, via="core", masked=True)
    me = sign_in(app, "res_a")
    main = me.get("/account/access-log").get_data(as_text=True).split("<main", 1)[1]
    assert "用途：工单 12" in main and "用途：事件 #4: 举报照片" in main
    assert "用途：核实住址" in main and "ticket 12" not in main
    me.set_cookie("shequ_lang", "en")
    english = me.get("/account/access-log").get_data(as_text=True)
    assert "Purpose: ticket 12" in english
