"""The registry API (/api/v1/registry): object-level access (resident A never reads B's
person; staff outside their communities get 404), masked by default, reveal with
permission and purpose leaving exactly one access-log entry the resident then reads,
optimistic locking (409), personal data never in a URL, and imports that list every
rejected row and write nothing.

``world`` (also used by test_registry_pages.py) builds two communities with a worker
each, and two residents bound to persons in them."""

from __future__ import annotations

import base64
import re
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from sqlalchemy import event, func, select

from core.audit.models import AccessEntry
from core.identity.models import User, UserScope
from core.identity.services import bind_person, create_token, resolve_permissions
from core.registry import services as s
from core.registry.models import Change, Person
from core.registry.testing import (
    C1,
    C2,
    G1,
    ensure_registry,
    make_credit_code,
    make_id,
    make_places,
)
from core.testing import TEST_PASSWORD, access_log, ensure_user

pytestmark = pytest.mark.with_plugins()

API = "/api/v1/registry"
HEAD_ID = make_id("1950-03-21", "M", seq=1)
WIFE_ID = make_id("1952-07-08", "F", seq=2)
OTHER_ID = make_id("1985-11-30", "M", seq=3)


def staff(app, username, role="community_worker", communities=(), grids=(), everywhere=False):
    """A staff account with ``role`` assigned to these places (or everywhere)."""
    user = ensure_user(app, role, username=username)
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as db:
        u = db.get(User, user.id)
        have = {(sc.kind, sc.code) for sc in u.scopes}
        if everywhere and ("all", "") not in have:
            u.scopes.append(UserScope(kind="all", code=""))
        for code in communities:
            if ("community", code) not in have:
                u.scopes.append(UserScope(kind="community", code=code))
        for code in grids:
            if ("grid", code) not in have:
                u.scopes.append(UserScope(kind="grid", code=code))
    return user


def resident(app, username, person_id):
    """A resident account bound (verified in person) to ``person_id``."""
    user = ensure_user(app, "resident", username=username)
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as db:
        bind_person(db, db.get(User, user.id), person_id, method="in_person", by=None)
    return user


def token(app, user, permissions=None):
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as db:
        u = db.get(User, user.id)
        _, plaintext = create_token(db, u, name="t", permissions=permissions, expires_days=None,
                                    granted=set(resolve_permissions(u.role_names, kernel.roles)))
    return {"Authorization": f"Bearer {plaintext}"}


def sign_in(app, username):
    """A test client signed in through the real form as ``username``."""
    client = app.test_client()
    page = client.get("/account/login").get_data(as_text=True)
    tok = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
    resp = client.post("/account/login", data={"username": username, "password": TEST_PASSWORD,
                                                "csrf_token": tok})
    assert resp.status_code == 302, resp.status_code
    return client


def build_world(app):
    """C1 (worker ``w1``): 王建国 (head, resident ``res_a``), his wife 李芳; C2 (worker
    ``w2``): 赵四 (resident ``res_b``); an organisation in C1."""
    kernel = ensure_registry(app)
    with kernel.db.session_scope() as db:
        places = make_places(db)
        head = s.register_person(db, {"name": "王建国", "id_number": HEAD_ID,
                                      "phone": "13800000001"}, bus=kernel.bus,
                                 dwelling_id=places.d1.id, role="owner")
        wife = s.register_person(db, {"name": "李芳", "id_number": WIFE_ID,
                                      "phone": "13800000002"}, bus=kernel.bus,
                                 dwelling_id=places.d1.id)
        other = s.register_person(db, {"name": "赵四", "id_number": OTHER_ID,
                                       "phone": "13900000003"}, bus=kernel.bus,
                                  dwelling_id=places.d3.id, role="tenant")
        household = s.create_household(db, head_id=head.id, bus=kernel.bus, number="H1")
        s.add_member(db, household.id, wife.id, "配偶", bus=kernel.bus)
        org = s.register_organisation(db, {"name": "和平便利店", "credit_code":
                                           make_credit_code(), "community": C1,
                                           "legal_rep_id": head.id}, bus=kernel.bus)
        ids = SimpleNamespace(head=head.id, wife=wife.id, other=other.id,
                              household=household.id, org=org.id,
                              building1=db.get(type(places.d1), places.d1.id).unit_id,
                              d1=places.d1.id, d2=places.d2.id, d3=places.d3.id)
        from core.registry.models import Unit

        ids.building1 = db.get(Unit, places.d1.unit_id).building_id
        ids.building3 = db.get(Unit, places.d3.unit_id).building_id
    w1 = staff(app, "wk1", communities=[C1])
    w2 = staff(app, "wk2", communities=[C2])
    res_a = resident(app, "res_a", ids.head)
    res_b = resident(app, "res_b", ids.other)
    return SimpleNamespace(kernel=kernel, ids=ids, w1=w1, w2=w2, res_a=res_a, res_b=res_b)


@pytest.fixture
def world(app):
    return build_world(app)


def access_entries(app, person_id=None):
    with app.extensions["shequ"].db.session_scope() as db:
        query = select(func.count()).select_from(AccessEntry)
        if person_id is not None:
            query = query.where(AccessEntry.subject_person_id == person_id)
        return db.scalar(query)


def person_count(app):
    with app.extensions["shequ"].db.session_scope() as db:
        return db.scalar(select(func.count()).select_from(Person))


# ------------------------------------------------------------------------------ reading


def test_search_is_masked_and_within_the_workers_communities(app, world):
    client = app.test_client()
    h1 = token(app, world.w1)
    resp = client.get(f"{API}/persons", query_string={"q": "wjg"}, headers=h1)
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert [p["name"] for p in body["items"]] == ["王建国"]
    hit = body["items"][0]
    assert hit["match"] == "initials"
    assert hit["id_number"] == HEAD_ID[:4] + "*" * 10 + HEAD_ID[-4:]
    assert hit["phone"] == "138****0001"
    assert hit["birth_date"] == "1950-**-**"
    assert "****" in hit["address"] and "1502" not in hit["address"]
    assert body["total"] == 1 and resp.headers["X-Pagination"]
    # 赵四 lives in C2: not found by w1, found by w2
    assert client.get(f"{API}/persons", query_string={"q": "赵四"}, headers=h1).json["total"] == 0
    h2 = token(app, world.w2)
    assert client.get(f"{API}/persons", query_string={"q": "zhaosi"},
                      headers=h2).json["total"] == 1
    # a staff member with no place assigned finds nobody
    h3 = token(app, staff(app, "nowhere"))
    assert client.get(f"{API}/persons", headers=h3).json["total"] == 0
    # searching reveals nothing, but each person shown is in their log, masked
    assert [(e["actor"], e["masked"], e["count"]) for e in access_log(app, world.ids.head)
            ] == [("wk1", True, 1)]
    assert [e["actor"] for e in access_log(app, world.ids.other)] == ["wk2"]


def test_personal_data_never_goes_in_a_url(app, world):
    client = app.test_client()
    h1 = token(app, world.w1)
    for q in (HEAD_ID, "13800000001", "王建国 " + HEAD_ID[-4:], "3栋2单元1502"):
        resp = client.get(f"{API}/persons", query_string={"q": q}, headers=h1)
        assert resp.status_code == 422, q
        assert "q" in resp.json["error"]["fields"]
        found = client.post(f"{API}/persons/search", json={"q": q}, headers=h1)
        assert found.status_code == 200, q
        assert "王建国" in [p["name"] for p in found.json["items"]], q
    assert client.post(f"{API}/persons/search", json={"id_number": HEAD_ID.lower()},
                       headers=h1).json["items"][0]["id"] == world.ids.head
    # the OpenAPI document has no query or path parameter that could carry such data
    spec = app.extensions["shequ"].api.spec.to_dict()
    for path, item in spec["paths"].items():
        if not path.startswith(API):
            continue
        for op in item.values():
            for param in op.get("parameters", []) if isinstance(op, dict) else []:
                assert not re.search(r"id_number|phone|address|last4", param["name"]), (path,
                                                                                      param)


def test_residents_read_only_their_own_person_and_staff_only_their_places(app, world):
    client = app.test_client()
    ids = world.ids
    ha, hb = token(app, world.res_a), token(app, world.res_b)
    own = client.get(f"{API}/persons/{ids.head}", headers=ha)
    assert own.status_code == 200
    assert own.json["name"] == "王建国" and "*" in own.json["id_number"]  # masked
    assert client.get(f"{API}/persons/{ids.other}", headers=ha).status_code == 404
    assert client.get(f"{API}/persons/{ids.wife}", headers=ha).status_code == 404
    assert client.get(f"{API}/persons/{ids.head}", headers=hb).status_code == 404
    h1, h2 = token(app, world.w1), token(app, world.w2)
    assert client.get(f"{API}/persons/{ids.head}", headers=h1).status_code == 200
    assert client.get(f"{API}/persons/{ids.head}", headers=h2).status_code == 404
    assert client.get(f"{API}/persons/{ids.other}", headers=h2).status_code == 200
    assert client.get(f"{API}/persons/999999", headers=h1).status_code == 404
    # households and buildings follow the same rule
    assert client.get(f"{API}/households/{ids.household}", headers=h1).status_code == 200
    assert client.get(f"{API}/households/{ids.household}", headers=h2).status_code == 404
    assert client.get(f"{API}/households/{ids.household}", headers=ha).status_code == 403
    assert client.get(f"{API}/buildings/{ids.building1}", headers=h2).status_code == 404
    # without a token: 401 before anything else
    assert client.get(f"{API}/persons/{ids.head}").status_code == 401


def test_household_and_building_show_who_lives_where(app, world):
    client = app.test_client()
    h1 = token(app, world.w1)
    household = client.get(f"{API}/households/{world.ids.household}", headers=h1).json
    assert household["number"] == "H1" and household["head_id"] == world.ids.head
    assert {m["name"]: m["relation"] for m in household["members"]} == {"王建国": "02",
                                                                        "李芳": "10"}
    assert all("*" in m["id_number"] for m in household["members"])
    building = client.get(f"{API}/buildings/{world.ids.building1}", headers=h1).json
    rooms = {d["room"]: d for u in building["units"] for d in u["dwellings"]}
    assert set(rooms) == {"1502", "1601"}
    assert {r["name"]: r["role"] for r in rooms["1502"]["residents"]} == {"王建国": "owner",
                                                                          "李芳": "other"}
    assert rooms["1601"]["residents"] == []


# ------------------------------------------------------------------------------ reveal


def test_reveal_needs_the_permission_and_a_purpose_and_is_logged_once(app, world):
    client = app.test_client()
    pid = world.ids.head
    url = f"{API}/persons/{pid}/reveal"
    hotline = token(app, staff(app, "hotline1", role="hotline_operator", communities=[C1]))
    assert client.post(url, json={"fields": ["id_number"], "purpose": "核实身份"},
                       headers=hotline).status_code == 403
    h1 = token(app, world.w1)
    resp = client.post(url, json={"fields": ["id_number"]}, headers=h1)
    assert resp.status_code == 422 and "purpose" in resp.json["error"]["fields"]
    assert client.post(url, json={"fields": ["id_number"], "purpose": ""},
                       headers=h1).status_code == 422
    assert client.post(f"{API}/persons/{world.ids.other}/reveal",
                       json={"fields": ["id_number"], "purpose": "核实身份"},
                       headers=h1).status_code == 404  # outside w1's community
    assert access_entries(app) == 0
    resp = client.post(url, json={"fields": ["id_number", "phone"], "purpose": "低保申请核实"},
                       headers=h1)
    assert resp.status_code == 200
    assert resp.json["id_number"] == HEAD_ID and resp.json["phone"] == "13800000001"
    assert resp.json["revealed"] == ["id_number", "phone"]
    assert resp.json["birth_date"] == "1950-**-**"  # not asked for
    assert access_entries(app) == 1
    with app.extensions["shequ"].db.session_scope() as db:
        entry = db.scalar(select(AccessEntry))
        assert (entry.subject_person_id, entry.actor_name, entry.purpose, entry.fields) == (
            pid, "wk1", "低保申请核实", ["id_number", "phone"])
    # the next read is masked again
    assert "*" in client.get(f"{API}/persons/{pid}", headers=h1).json["id_number"]
    # the resident reads the entry at their access-log page
    page = sign_in(app, "res_a").get("/account/access-log").get_data(as_text=True)
    assert "低保申请核实" in page and HEAD_ID not in page


# ------------------------------------------------------------------------------ writing


def test_patch_with_a_stale_version_is_a_conflict(app, world):
    client = app.test_client()
    h1 = token(app, world.w1)
    url = f"{API}/persons/{world.ids.wife}"
    version = client.get(url, headers=h1).json["version"]
    resp = client.patch(url, json={"version": version, "phone": "13911112222"}, headers=h1)
    assert resp.status_code == 200 and resp.json["version"] == version + 1
    assert resp.json["phone"] == "139****2222"
    stale = client.patch(url, json={"version": version, "name": "李芳芳"}, headers=h1)
    assert stale.status_code == 409
    assert stale.json["error"]["code"] == "conflict" and "version" in stale.json["error"]["fields"]
    assert client.get(url, headers=h1).json["name"] == "李芳"
    # the register's rules: an impossible ID number is refused with the field named
    wrong = WIFE_ID[:-1] + ("1" if WIFE_ID[-1] == "0" else "0")
    bad = client.patch(url, json={"version": version + 1, "id_number": wrong}, headers=h1)
    assert bad.status_code == 409 and "id_number" in bad.json["error"]["fields"]
    # unknown fields and the wrong shapes are the schema's: 422
    assert client.patch(url, json={"version": version + 1, "status": "deceased"},
                        headers=h1).status_code == 422
    assert client.patch(url, json={"phone": "13911112222"}, headers=h1).status_code == 422
    # outside the scope: 404, and a resident cannot write at all
    assert client.patch(url, json={"version": 1}, headers=token(app, world.w2)).status_code == 404
    assert client.patch(url, json={"version": 1},
                        headers=token(app, world.res_a)).status_code == 403
    with app.extensions["shequ"].db.session_scope() as db:
        assert [c.new for c in s.history(db, "person", world.ids.wife) if c.field == "phone"] \
            == ["139****2222"]


def test_register_move_and_death(app, world):
    client = app.test_client()
    h1 = token(app, world.w1)
    new_id = make_id("2001-02-03", "F", seq=7)
    resp = client.post(f"{API}/persons", json={"name": "王小红", "id_number": new_id,
                                               "community": C1, "dwelling_id": world.ids.d2,
                                               "role": "tenant"}, headers=h1)
    assert resp.status_code == 201, resp.json
    pid = resp.json["id"]
    assert resp.json["sex"] == "F" and resp.json["grid"] == G1
    again = client.post(f"{API}/persons", json={"name": "王小红", "id_number": new_id,
                                                "community": C1}, headers=h1)
    assert again.status_code == 409 and "id_number" in again.json["error"]["fields"]
    elsewhere = client.post(f"{API}/persons", json={"name": "某人", "birth_date": "1990-01-01",
                                                    "community": C2}, headers=h1)
    assert elsewhere.status_code == 403
    assert client.post(f"{API}/persons", json={"name": "某人", "birth_date": "1990-01-01",
                                               "community": C1, "dwelling_id": 999999},
                       headers=h1).status_code == 404
    moved = client.post(f"{API}/persons/{pid}/move", json={"to_dwelling_id": world.ids.d1,
                                                           "role": "other"}, headers=h1)
    assert moved.status_code == 200 and moved.json["dwelling_id"] == world.ids.d1
    same = client.post(f"{API}/persons/{pid}/move", json={"to_dwelling_id": world.ids.d1},
                       headers=h1)
    assert same.status_code == 409
    stale = client.post(f"{API}/persons/{pid}/death", json={"version": 1}, headers=h1)
    assert stale.status_code == 409
    died = client.post(f"{API}/persons/{pid}/death", json={"died_on": "2024-01-02"}, headers=h1)
    assert died.status_code == 200 and died.json["status"] == "deceased"
    assert client.post(f"{API}/persons/{pid}/death", json={}, headers=h1).status_code == 409


def test_organisations(app, world):
    client = app.test_client()
    h1 = token(app, world.w1)
    listed = client.get(f"{API}/organisations", query_string={"q": "便利"}, headers=h1).json
    assert [o["name"] for o in listed["items"]] == ["和平便利店"]
    assert listed["items"][0]["legal_rep"] == {"id": world.ids.head, "name": "王建国"}
    code = make_credit_code("9111010560003735")
    made = client.post(f"{API}/organisations", json={"name": "安康药房", "credit_code": code,
                                                     "type": "enterprise", "community": C1},
                       headers=h1)
    assert made.status_code == 201, made.json
    assert client.get(f"{API}/organisations/{made.json['id']}", headers=h1).json["credit_code"] \
        == code
    dup = client.post(f"{API}/organisations", json={"name": "x", "credit_code": code,
                                                    "community": C1}, headers=h1)
    assert dup.status_code == 409
    wrong = client.post(f"{API}/organisations", json={"name": "x", "credit_code": code[:-1] + (
        "0" if code[-1] != "0" else "1"), "community": C1}, headers=h1)
    assert wrong.status_code == 409 and "credit_code" in wrong.json["error"]["fields"]
    assert client.post(f"{API}/organisations", json={"name": "x", "credit_code": code,
                                                     "community": C2},
                       headers=h1).status_code == 403


# ------------------------------------------------------------------------------ import


HEADER = "姓名,证件号码,社区代码,楼栋,单元,房号,户号,与户主关系,联系电话\n"


def csv_payload(rows, *, dry_run, name="people.csv"):
    content = (HEADER + "".join(rows)).encode("utf-8")
    return {"filename": name, "content_base64": base64.b64encode(content).decode(),
            "dry_run": dry_run}


GOOD = [
    f"陈一,{make_id('1990-01-01', 'M', seq=11)},{C1},5栋,1单元,101,H9,户主,13700000001\n",
    f"陈二,{make_id('1992-05-06', 'F', seq=12)},{C1},5栋,1单元,101,H9,配偶,\n",
    f"陈三,{make_id('2015-09-09', 'M', seq=13)},{C1},5栋,1单元,101,H9,子,\n",
]
BAD = [
    f"坏一,{make_id('1990-01-01', 'M', seq=14)[:-1]}0,{C1},5栋,1单元,102,,,\n",  # check char
    f"坏二,{make_id('1991-01-01', 'M', seq=15)},110105999999,,,,,,\n",  # no such community
    f",{make_id('1993-01-01', 'F', seq=16)},{C1},,,,,,12345\n",  # no name, bad phone
]


def test_import_with_bad_rows_returns_exactly_those_rows_and_writes_nothing(app, world):
    client = app.test_client()
    h1 = token(app, world.w1)
    before = person_count(app)
    rows = [GOOD[0], BAD[0], GOOD[1], BAD[1], GOOD[2], BAD[2]]  # data rows 2..7
    for dry_run in (True, False):
        resp = client.post(f"{API}/imports", json=csv_payload(rows, dry_run=dry_run), headers=h1)
        assert resp.status_code == 200, resp.json
        report = resp.json
        assert report["committed"] is False and report["total"] == 6
        assert report["rejected_rows"] == [3, 5, 7]
        by_row = {}
        for e in report["rejected"]:
            by_row.setdefault(e["row"], set()).add(e["field"])
        assert by_row == {3: {"id_number"}, 5: {"community"}, 7: {"name", "phone"}}
        assert all(e["message"] for e in report["rejected"])
        assert all(HEAD_ID not in e["value"] for e in report["rejected"])
        assert person_count(app) == before
    # the clean file: a dry run writes nothing, the import writes it, again changes nothing
    dry = client.post(f"{API}/imports", json=csv_payload(GOOD, dry_run=True), headers=h1)
    assert dry.status_code == 200 and dry.json["created"] == 3 and not dry.json["committed"]
    assert person_count(app) == before
    done = client.post(f"{API}/imports", json=csv_payload(GOOD, dry_run=False), headers=h1)
    assert done.status_code == 201 and done.json["created"] == 3 and done.json["committed"]
    assert person_count(app) == before + 3
    again = client.post(f"{API}/imports", json=csv_payload(GOOD, dry_run=False), headers=h1)
    assert again.json["unchanged"] == 3 and again.json["created"] == 0


def test_import_refuses_rows_outside_the_workers_places(app, world):
    client = app.test_client()
    h1 = token(app, world.w1)
    before = person_count(app)
    rows = [GOOD[0],
            f"外人,{make_id('1980-01-01', 'M', seq=21)},{C2},,,,,,\n",  # C2 is w2's
            f"赵四,{OTHER_ID},{C1},,,,,,\n"]  # lives in C2: an upsert would move him
    report = client.post(f"{API}/imports", json=csv_payload(rows, dry_run=False),
                         headers=h1).json
    assert report["rejected_rows"] == [3, 4] and not report["committed"]
    assert {(e["row"], e["field"]) for e in report["rejected"]} == {(3, "community"),
                                                                    (4, "id_number")}
    assert person_count(app) == before


def test_import_of_an_unreadable_file_is_reported_not_crashed(app, world):
    client = app.test_client()
    h1 = token(app, world.w1)
    junk = base64.b64encode(b"hello,world\n1,2\n").decode()
    resp = client.post(f"{API}/imports", json={"filename": "x.csv", "content_base64": junk},
                       headers=h1)
    assert resp.status_code == 200 and resp.json["rejected"][0]["row"] == 1
    resp = client.post(f"{API}/imports", json={"filename": "x.xlsx", "content_base64": junk},
                       headers=h1)
    assert resp.status_code == 200 and resp.json["rejected"][0]["row"] == 1
    assert client.post(f"{API}/imports", json={"filename": "x.csv", "content_base64": "%%%"},
                       headers=h1).status_code == 422
    assert client.post(f"{API}/imports", json={"filename": "x.csv", "content_base64": junk},
                       headers=token(app, world.res_a)).status_code == 403


def test_history_masks_numbers_and_names_the_actor(app, world):
    client = app.test_client()
    h1 = token(app, world.w1)
    url = f"{API}/persons/{world.ids.head}"
    version = client.get(url, headers=h1).json["version"]
    client.patch(url, json={"version": version, "phone": "13700001111"}, headers=h1)
    with app.extensions["shequ"].db.session_scope() as db:
        row = db.scalar(select(Change).where(Change.entity == "person",
                                             Change.entity_id == world.ids.head,
                                             Change.field == "phone"))
        assert (row.old, row.new, row.actor_name) == ("138****0001", "137****1111", "wk1")


# ------------------------------------------------------------------------------ SQL budget


@contextmanager
def count_statements(app):
    """Every SQL statement the app's engine runs inside the block (as in
    test_registry_pages.py)."""
    engine = app.extensions["shequ"].db.engine
    seen: list[str] = []

    def listener(conn, cursor, statement, *args):
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def beyond_authentication(statements):
    """The statements of the request itself: the bearer-token lookup reads and touches
    only ``identity_*`` tables."""
    return [s for s in statements if "identity_" not in s]


def test_person_read_and_reveal_run_a_bounded_number_of_statements(app, world):
    """Beyond the bearer-token lookup, a person read is one select (the person with their
    community, grid and address, which serve the scope check and the view) and, for
    staff, the one upsert of the masked access-log entry the first time that display
    happens in a day (the resident's own record has none). A repeat of the same masked
    display is counted in memory and written within seconds (core/audit/services.py,
    ``_HeldCounts``), so it runs the select alone — and a checked token is not read again
    for a few seconds (test_token_cache.py), so nothing else either. A reveal is the
    select and its upsert every time — it does not check and build the view twice."""
    client = app.test_client()
    h1 = token(app, world.w1)
    ha = token(app, world.res_a)
    url = f"{API}/persons/{world.ids.head}"
    with count_statements(app) as seen:  # the first display of the day is written
        assert client.get(url, headers=h1).status_code == 200
    assert sum(s.startswith("INSERT INTO audit_access") for s in seen) == 1, seen
    # staff through their community (a repeat: held), a resident their own record
    for headers in (h1, ha):
        client.get(url, headers=headers)  # the resident's first request reads its token
        with count_statements(app) as seen:
            resp = client.get(url, headers=headers)
        assert resp.status_code == 200 and "*" in resp.json["id_number"]
        assert resp.json["community"] == C1 and resp.json["grid"] == G1
        assert len(seen) == 1, seen  # the person; no token, no access-log statement
    # the held repeats are in the log all the same (three reads by wk1)
    assert [(e["actor"], e["masked"], e["count"]) for e in access_log(app, world.ids.head)
            ] == [("wk1", True, 3)]
    # out of scope: the same 404, no more work than a read
    with count_statements(app) as seen:
        assert client.get(f"{API}/persons/{world.ids.other}", headers=h1).status_code == 404
    assert len(beyond_authentication(seen)) == 1, seen
    before = access_entries(app, world.ids.head)
    with count_statements(app) as seen:
        resp = client.post(f"{url}/reveal", json={"fields": ["id_number"],
                                                  "purpose": "核实身份"}, headers=h1)
    assert resp.status_code == 200 and resp.json["id_number"] == HEAD_ID
    assert "****" in resp.json["address"]
    mine = beyond_authentication(seen)
    assert len(mine) == 2, mine
    assert sum(s.startswith("INSERT INTO audit_access") for s in mine) == 1, mine
    assert access_entries(app, world.ids.head) == before + 1
