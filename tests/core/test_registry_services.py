"""Registry services: registration, optimistic locking, moves, deaths, merges, households,
organisations, the change history, and the events each one publishes (with identity's
subscriber revoking verification when a bound person leaves or dies)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from core.events.delivery import deliver_pending
from core.events.models import OutboxEvent
from core.identity.models import User
from core.identity.services import bind_person
from core.registry import services as s
from core.registry.errors import ConflictError, NotFound, RegistryError
from core.registry.models import Change, Household, Person, PersonKey, Residence
from core.registry.testing import C1, C2, ensure_registry, make_credit_code, make_id, make_places
from core.testing import ensure_user

pytestmark = pytest.mark.with_plugins()


@pytest.fixture
def kernel(app):
    return ensure_registry(app)


@pytest.fixture
def places(db_session, kernel):
    p = make_places(db_session)
    db_session.commit()
    return p


def register(session, kernel, name="张三", *, dwelling=None, **data):
    data.setdefault("id_number", make_id())
    return s.register_person(session, {"name": name, **data}, bus=kernel.bus,
                             dwelling_id=dwelling.id if dwelling else None)


def test_register_derives_sex_and_birth_and_publishes(db_session, kernel, places, events):
    p = register(db_session, kernel, "曾国藩", dwelling=places.d1,
                 id_number="11010519491231002x", phone="+86 138-1234-5678")
    db_session.commit()
    assert (p.id_number, p.sex, p.birth_date) == ("11010519491231002X", "F", date(1949, 12, 31))
    assert (p.phone, p.version, p.status) == ("13812345678", 1, "active")
    assert (p.name_pinyin, p.name_initials) == ("zengguofan", "zgf")
    keys = set(db_session.scalars(select(PersonKey.key).where(PersonKey.person_id == p.id)))
    assert {"cengguofan", "cgf"} <= keys
    assert (p.community_id, p.grid_id, p.dwelling_id) == (places.c1.id, places.g1.id,
                                                          places.d1.id)
    res = db_session.scalars(select(Residence).where(Residence.person_id == p.id)).one()
    assert res.dwelling_id == places.d1.id and res.ended_on is None
    assert events.published[-1] == ("registry.person.registered", {
        "person_id": p.id, "community": C1, "grid": places.g1.code, "via": "core"})
    created = s.history(db_session, "person", p.id)
    assert [(c.field, c.new) for c in created] == [("*", "created")]


def test_validation_reports_every_bad_field(db_session, kernel, places):
    with pytest.raises(RegistryError) as info:
        s.register_person(db_session, {"name": "", "id_number": "11010519491231002A",
                                       "phone": "123", "ethnicity": "火星族"}, bus=kernel.bus)
    assert set(info.value.errors) == {"name", "id_number", "phone", "ethnicity"}
    with pytest.raises(RegistryError) as info:
        s.register_person(db_session, {"name": "李四", "id_number": "11010519491231002X",
                                       "sex": "男", "birth_date": "1950-01-01"}, bus=kernel.bus)
    assert set(info.value.errors) == {"sex", "birth_date"}  # both disagree with the ID
    with pytest.raises(RegistryError, match="birth date is required"):
        s.register_person(db_session, {"name": "王五"}, bus=kernel.bus)
    # without an ID, a birth date is enough (a newborn), and other documents work too
    baby = s.register_person(db_session, {"name": "王小五", "birth_date": "2025/3/1",
                                          "sex": "女"}, bus=kernel.bus)
    assert (baby.id_number, baby.birth_date, baby.sex) == (None, date(2025, 3, 1), "F")
    guest = s.register_person(db_session, {"name": "JOHN SMITH", "id_type": "护照",
                                           "id_number": "e1234567", "nationality": "usa",
                                           "birth_date": "1980-05-05"}, bus=kernel.bus)
    assert (guest.id_type, guest.id_number, guest.hukou_type, guest.nationality) == (
        "passport", "E1234567", "overseas", "USA")
    assert guest.name_pinyin == "johnsmith"


def test_document_numbers_are_unique(db_session, kernel, places):
    register(db_session, kernel, id_number=make_id(seq=7))
    with pytest.raises(RegistryError, match="registered already") as info:
        register(db_session, kernel, "李四", id_number=make_id(seq=7).lower())
    assert info.value.field == "id_number"


def test_update_uses_optimistic_locking(db_session, kernel, places, events, app):
    p = register(db_session, kernel, phone="13800000001")
    db_session.commit()
    p = s.update_person(db_session, p.id, {"phone": "139 0000 0002", "name": "张叁"},
                        expected_version=1, bus=kernel.bus)
    db_session.commit()
    assert (p.version, p.phone, p.name_pinyin) == (2, "13900000002", "zhangsan")
    assert events.published[-1] == ("registry.person.updated", {
        "person_id": p.id, "fields": ["name", "phone"], "version": 2, "via": "core"})
    # a stale version is a conflict (HTTP 409), not an overwrite
    with pytest.raises(ConflictError) as info:
        s.update_person(db_session, p.id, {"phone": "13900000003"}, expected_version=1,
                        bus=kernel.bus)
    assert info.value.status == 409 and info.value.current_version == 2
    # two sessions that both read version 2: the one that writes second loses at flush
    # time (UPDATE ... WHERE version = 2 matches nothing), whatever it believed
    other = app.extensions["shequ"].db.Session()
    try:
        assert other.get(Person, p.id).version == 2
        other.commit()  # its copy stays in memory, stale
        s.update_person(db_session, p.id, {"phone": "13900000005"}, expected_version=2,
                        bus=kernel.bus)
        db_session.commit()
        with pytest.raises(ConflictError):
            s.update_person(other, p.id, {"phone": "13900000004"}, expected_version=2,
                            bus=kernel.bus)
    finally:
        other.rollback()
        other.close()
    db_session.expire_all()
    assert db_session.get(Person, p.id).phone == "13900000005"
    # history: masked phones, old → new
    rows = [(c.field, c.old, c.new) for c in s.history(db_session, "person", p.id)]
    assert ("phone", "138****0001", "139****0002") in rows
    assert ("name", "张三", "张叁") in rows
    # fields that change elsewhere are refused
    with pytest.raises(RegistryError, match="cannot be changed here"):
        s.update_person(db_session, p.id, {"status": "deceased"}, expected_version=3,
                        bus=kernel.bus)


def test_unchanged_update_is_a_no_op(db_session, kernel, places, events):
    p = register(db_session, kernel, phone="13800000001")
    n = len(events.published)
    s.update_person(db_session, p.id, {"phone": "+8613800000001"}, expected_version=1,
                    bus=kernel.bus)
    assert len(events.published) == n and p.version == 1


def test_move_publishes_communities_and_identity_revokes(db_session, kernel, places, events,
                                                         app):
    user = db_session.get(User, ensure_user(app, "resident").id)
    p = register(db_session, kernel, dwelling=places.d1)
    bind_person(db_session, user, p.id, method="in_person", by=None)
    db_session.commit()
    # within the community: verification stays
    s.move_person(db_session, p.id, to_dwelling_id=places.d2.id, bus=kernel.bus,
                  on=date(2025, 1, 1), role="租户")
    db_session.commit()
    assert events.published[-1][1] | {"on": None} == {
        "person_id": p.id, "from_community": C1, "to_community": C1,
        "from_dwelling_id": places.d1.id, "to_dwelling_id": places.d2.id, "on": None,
        "via": "core"}
    deliver_pending(app)
    db_session.expire_all()
    assert db_session.get(User, user.id).is_verified
    # to another community: identity revokes
    s.move_person(db_session, p.id, to_dwelling_id=places.d3.id, bus=kernel.bus)
    db_session.commit()
    payload = events.published[-1][1]
    assert (payload["from_community"], payload["to_community"]) == (C1, C2)
    assert s.person_community(db_session, p.id) == C2
    deliver_pending(app)
    db_session.expire_all()
    assert not db_session.get(User, user.id).is_verified
    # residence history: three rows, two closed
    rows = db_session.scalars(select(Residence).where(Residence.person_id == p.id)
                              .order_by(Residence.id)).all()
    assert [r.dwelling_id for r in rows] == [places.d1.id, places.d2.id, places.d3.id]
    assert [r.ended_on is None for r in rows] == [False, False, True]
    assert rows[1].role == "tenant"


def test_moving_out_of_the_area_and_back(db_session, kernel, places, events):
    p = register(db_session, kernel, dwelling=places.d1)
    s.move_person(db_session, p.id, to_dwelling_id=None, bus=kernel.bus)
    assert (p.status, p.dwelling_id, p.community_id) == ("moved_out", None, places.c1.id)
    assert events.published[-1][1]["to_community"] is None
    assert s.person_community(db_session, p.id) is None
    with pytest.raises(RegistryError, match="moved out already"):
        s.move_person(db_session, p.id, to_dwelling_id=None, bus=kernel.bus)
    s.move_person(db_session, p.id, to_dwelling_id=places.d3.id, bus=kernel.bus)
    assert p.status == "active"
    assert events.published[-1][1]["from_community"] is None
    with pytest.raises(RegistryError, match="already"):
        s.move_person(db_session, p.id, to_dwelling_id=places.d3.id, bus=kernel.bus)
    with pytest.raises(ConflictError):
        s.move_person(db_session, p.id, to_dwelling_id=places.d1.id, bus=kernel.bus,
                      expected_version=1)


def test_death_closes_the_record(db_session, kernel, places, events, app):
    user = db_session.get(User, ensure_user(app, "resident").id)
    head = register(db_session, kernel, dwelling=places.d1)
    h = s.create_household(db_session, head_id=head.id, bus=kernel.bus, number="H1")
    bind_person(db_session, user, head.id, method="in_person", by=None)
    db_session.commit()
    with pytest.raises(RegistryError, match="future"):
        s.record_death(db_session, head.id, bus=kernel.bus, died_on=date(2999, 1, 1))
    s.record_death(db_session, head.id, bus=kernel.bus, died_on=date(2025, 2, 3))
    db_session.commit()
    assert (head.status, head.died_on, head.household_id) == ("deceased", date(2025, 2, 3), None)
    assert db_session.get(Household, h.id).head_id is None
    names = events.names()
    assert names[-2:] == ["registry.household.changed", "registry.person.deceased"]
    assert events.published[-1][1] == {"person_id": head.id, "died_on": "2025-02-03",
                                       "community": C1, "via": "core"}
    deliver_pending(app)
    db_session.expire_all()
    assert not db_session.get(User, user.id).is_verified
    with pytest.raises(RegistryError, match="closed"):
        s.record_death(db_session, head.id, bus=kernel.bus)
    with pytest.raises(RegistryError):
        s.move_person(db_session, head.id, to_dwelling_id=places.d2.id, bus=kernel.bus)


def test_households(db_session, kernel, places, events):
    head = register(db_session, kernel, "王建国", dwelling=places.d1, id_number=make_id(seq=1))
    wife = register(db_session, kernel, "李芳", dwelling=places.d1,
                    id_number=make_id(seq=2, sex="F"))
    son = register(db_session, kernel, "王小明", dwelling=places.d1,
                   id_number=make_id("2010-05-05", seq=3))
    h = s.create_household(db_session, head_id=head.id, bus=kernel.bus, number="110105-0001")
    s.add_member(db_session, h.id, wife.id, "妻", bus=kernel.bus)
    s.add_member(db_session, h.id, son.id, "20", bus=kernel.bus)
    assert [(p.name, p.relation) for p in s.household_members(db_session, h.id)] == [
        ("王建国", "02"), ("李芳", "10"), ("王小明", "20")]
    with pytest.raises(RegistryError, match="change head"):
        s.add_member(db_session, h.id, son.id, "户主", bus=kernel.bus)
    with pytest.raises(RegistryError, match="Unknown relation"):
        s.add_member(db_session, h.id, son.id, "邻居", bus=kernel.bus)
    s.set_head(db_session, h.id, wife.id, bus=kernel.bus, former_head_relation="配偶")
    assert (h.head_id, wife.relation, head.relation) == (wife.id, "02", "10")
    s.remove_member(db_session, h.id, son.id, bus=kernel.bus)
    assert son.household_id is None
    with pytest.raises(RegistryError, match="not a member"):
        s.remove_member(db_session, h.id, son.id, bus=kernel.bus)
    with pytest.raises(RegistryError, match="exists already"):
        s.create_household(db_session, head_id=son.id, bus=kernel.bus, number="110105-0001")
    changes = [p["change"] for n, p in events.published if n == "registry.household.changed"]
    assert changes == ["created", "member_added", "member_added", "head_changed",
                       "member_removed"]


def test_merge_duplicates(db_session, kernel, places, events):
    keep = s.register_person(db_session, {"name": "赵六", "birth_date": "1970-01-01"},
                             bus=kernel.bus, dwelling_id=places.d1.id)
    dup = register(db_session, kernel, "赵六", dwelling=places.d2, id_number=make_id(seq=9),
                   phone="13800000009")
    h = s.create_household(db_session, head_id=dup.id, bus=kernel.bus)
    org = s.register_organisation(db_session, {"name": "赵记", "credit_code": make_credit_code(),
                                               "legal_rep_id": dup.id}, bus=kernel.bus)
    merged = s.merge_persons(db_session, keep.id, dup.id, bus=kernel.bus)
    db_session.commit()
    assert merged is keep
    assert (keep.id_number, keep.phone, keep.household_id, keep.relation) == (
        make_id(seq=9), "13800000009", h.id, "02")
    assert db_session.get(Household, h.id).head_id == keep.id
    assert (dup.status, dup.merged_into_id, dup.id_number) == ("merged", keep.id, None)
    assert org.legal_rep_id == keep.id
    assert db_session.scalar(select(func.count()).select_from(Residence).where(
        Residence.person_id == keep.id)) == 2
    assert events.published[-1] == ("registry.person.merged",
                                     {"person_id": keep.id, "duplicate_id": dup.id,
                                      "via": "core"})
    assert s.find_by_id_number(db_session, make_id(seq=9)).id == keep.id
    with pytest.raises(RegistryError):
        s.merge_persons(db_session, keep.id, dup.id, bus=kernel.bus)
    with pytest.raises(RegistryError, match="merged into another"):
        s.update_person(db_session, dup.id, {"name": "x"}, expected_version=dup.version,
                        bus=kernel.bus)


def test_organisations(db_session, kernel, places, events):
    rep = register(db_session, kernel)
    org = s.register_organisation(db_session, {
        "name": "和平便利店", "credit_code": "91110000600037341l", "type": "个体工商户",
        "legal_rep_id": rep.id, "community": C1, "address": "和平路1号"}, bus=kernel.bus)
    assert (org.credit_code, org.type, org.community_id) == ("91110000600037341L",
                                                             "individual_business", places.c1.id)
    assert events.published[-1] == ("registry.organisation.registered", {
        "organisation_id": org.id, "community": C1, "via": "core"})
    with pytest.raises(RegistryError, match="registered already"):
        s.register_organisation(db_session, {"name": "x", "credit_code": "91110000600037341L"},
                                bus=kernel.bus)
    with pytest.raises(RegistryError) as info:
        s.register_organisation(db_session, {"name": "", "credit_code": "91110000600037341A",
                                             "grid": "nope"}, bus=kernel.bus)
    assert set(info.value.errors) == {"name", "credit_code", "grid"}
    s.update_organisation(db_session, org.id, {"address": "和平路2号", "status": "closed"},
                          expected_version=1, bus=kernel.bus)
    assert (org.version, org.status) == (2, "closed")
    assert events.published[-1][1]["fields"] == ["address", "status"]
    with pytest.raises(ConflictError):
        s.update_organisation(db_session, org.id, {"address": "x"}, expected_version=1,
                              bus=kernel.bus)


def test_identity_helpers(db_session, kernel, places):
    p = register(db_session, kernel, "单田芳", dwelling=places.d3, id_number="610104620927690",
                 phone="13912345678")
    assert s.find_by_id_number(db_session, "６１０１０４１９６２０９２７６９０８").id == p.id
    assert s.find_by_id_number(db_session, "610104620927690").id == p.id
    assert s.find_by_id_number(db_session, "") is None
    ok = {"name": "单田芳", "id_number": "610104196209276908", "phone": "+86 139 1234 5678"}
    assert s.match_person(db_session, **ok).id == p.id
    assert s.match_person(db_session, **(ok | {"name": "单田方"})) is None
    assert s.match_person(db_session, **(ok | {"phone": "13912345670"})) is None
    assert s.person_community(db_session, p.id) == C2
    s.record_death(db_session, p.id, bus=kernel.bus)
    assert s.match_person(db_session, **ok) is None
    assert s.person_community(db_session, p.id) is None


def test_places(db_session, kernel, places):
    with pytest.raises(RegistryError, match="starts with its street"):
        s.create_community(db_session, code="110106001001", name="x", street=places.street)
    with pytest.raises(RegistryError, match="exists already"):
        s.create_community(db_session, code=C1, name="x", street=places.street)
    with pytest.raises(NotFound):
        s.create_grid(db_session, code="g9", name="x", community="110105001099")
    with pytest.raises(RegistryError, match="another community"):
        s.ensure_dwelling(db_session, community=places.c2, grid=places.g1, building="1栋",
                          room="101")
    again = s.ensure_dwelling(db_session, community=C1, estate="和平小区", building="3栋",
                              unit="2单元", room="1502")
    assert again.id == places.d1.id
    assert places.d1.address == "和平路88号 和平小区3栋2单元1502室"
    assert places.d1.floor == 15


def test_events_are_declared_once_with_required_fields(kernel):
    bus = kernel.bus
    for name in ("registry.person.registered", "registry.person.updated",
                 "registry.person.moved", "registry.person.deceased", "registry.person.merged",
                 "registry.household.changed", "registry.organisation.registered",
                 "registry.organisation.updated", "registry.import.completed"):
        assert bus.types[name].owner == "core"
    moved = bus.types["registry.person.moved"].schema()
    assert {"person_id", "from_community", "to_community"} <= set(moved.fields)
    assert "person_id" in bus.types["registry.person.deceased"].schema().fields
    from core.registry.events import declare_registry_events

    declare_registry_events(bus)  # idempotent


def test_a_rolled_back_change_leaves_no_event(db_session, kernel, places):
    register(db_session, kernel)
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(OutboxEvent).where(
        OutboxEvent.name.like("registry.%"))) == 0
    assert db_session.scalar(select(func.count()).select_from(Change).where(
        Change.entity == "person")) == 0


# ------------------------------------------------------------------------------ finding 9


def _text(resp):
    import html

    return html.unescape(resp.get_data(as_text=True))


def test_a_conflict_outside_the_workers_places_names_no_id_or_community(app):
    """Security finding 9: registering (or correcting to) a document number that belongs
    to someone outside the worker's places said "registered already (no. 4391)". Now only
    someone who may see that record is told its number; the API, the correction page and
    the service answer alike."""
    import re
    from types import SimpleNamespace

    from test_registry_api import build_world, sign_in, token

    from core.registry.corrections import request_correction
    from core.registry.models import Community

    world = build_world(app)  # worker wk1 has C1 only, wk2 has C2
    kernel = world.kernel
    # Born the same day as 王建国 (C1), registered in C2.
    twin_id = make_id("1950-03-21", "M", seq=9)
    with kernel.db.session_scope() as db:
        c2_name = db.scalar(select(Community.name).where(Community.code == C2))
        twin = s.register_person(db, {"name": "孙九", "id_number": twin_id}, bus=kernel.bus,
                                 dwelling_id=world.ids.d3).id
    secret = {str(twin), C2, c2_name}

    def leaks(text):
        if isinstance(text, dict):  # an API error: what it says, not its request id
            text = " ".join(str(v) for k, v in text["error"].items() if k != "request_id")
        return [s for s in secret if re.search(rf"(?<!\d){re.escape(s)}(?!\d)", text)]

    # The service, for a staff actor of C1 and for the district (no restriction).
    c1_worker = SimpleNamespace(scopes=[SimpleNamespace(kind="community", code=C1)])
    with kernel.db.session_scope() as db:
        with pytest.raises(RegistryError) as outside:
            s.register_person(db, {"name": "冒名", "id_number": twin_id}, bus=kernel.bus,
                              actor=c1_worker, community=C1)
        assert outside.value.field == "id_number" and outside.value.params == {}
        assert "outside the places" in str(outside.value) and not leaks(str(outside.value))
        db.rollback()
        with pytest.raises(RegistryError) as inside:
            s.register_person(db, {"name": "冒名", "id_number": twin_id}, bus=kernel.bus,
                              community=C1)
        assert inside.value.params == {"other": twin}  # may open it: linked
        db.rollback()

    # The API: POST and PATCH by the C1 worker answer 409 without id or community.
    client = app.test_client()
    h1 = token(app, world.w1)
    made = client.post("/api/v1/registry/persons", headers=h1,
                       json={"name": "冒名", "id_number": twin_id, "community": C1})
    assert made.status_code == 409 and "id_number" in made.json["error"]["fields"]
    assert not leaks(made.json), made.json
    with kernel.db.session_scope() as db:
        version = db.get(Person, world.ids.head).version
    changed = client.patch(f"/api/v1/registry/persons/{world.ids.head}", headers=h1,
                           json={"version": version, "id_number": twin_id})
    assert changed.status_code == 409 and not leaks(changed.json), changed.json
    # The import row report: the row is refused, naming neither id nor community.
    from test_registry_api import csv_payload

    report = client.post("/api/v1/registry/imports", headers=h1, json=csv_payload(
        [f"冒名,{twin_id},{C1},,,,,,\n"], dry_run=True)).json
    (row,) = report["rejected"]  # and no "registered to 孙*": that would name them
    assert row["field"] == "id_number" and "outside the places" in row["message"]
    assert not leaks(f"{row['message']} {row['value']} {row['name']}"), row
    # The worker of C2 sees 赵四: the answer may link to the record there.
    h2 = token(app, world.w2)
    linked = client.post("/api/v1/registry/persons", headers=h2,
                         json={"name": "冒名", "id_number": twin_id, "community": C2})
    assert linked.status_code == 409
    assert str(twin) in linked.json["error"]["fields"]["id_number"][0]

    # The page: approving a resident's correction to that number.
    from core.identity.models import User

    with kernel.db.session_scope() as db:
        cid = request_correction(db, person_id=world.ids.head, field="id_number",
                                 value=twin_id, reason="身份证换发后号码有误",
                                 actor=db.get(User, world.res_a.id)).id
        version = db.get(Person, world.ids.head).version
    worker = sign_in(app, "wk1")
    url = f"/registry/corrections/{cid}"
    tok = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"',
                    worker.get(url).get_data(as_text=True)).group(1)
    page = worker.post(url, data={"csrf_token": tok, "decision": "approve",
                                  "version": str(version)})
    assert page.status_code == 400
    summary = _text(page).split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    assert "范围以外登记" in summary or "outside the places" in summary, summary
    assert not leaks(summary), summary
