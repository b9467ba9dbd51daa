"""Plugins read the registry through a RegistryReader: outside the declared data scopes is a
ScopeError, sensitive values are masked unless revealed, and every reveal is in the access
log with the plugin (via) and the purpose — which the resident can read."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select

from core.audit.models import AccessEntry
from core.audit.services import access_log_for, write_access_log
from core.hookspecs import PluginInfo
from core.registry import services as s
from core.registry.errors import ScopeError
from core.registry.models import Person
from core.registry.present import Places
from core.registry.reader import RegistryReader
from core.registry.scopes import SCOPES
from core.registry.testing import (
    C1,
    C2,
    G1,
    FakeActor,
    Scope,
    ensure_registry,
    make_credit_code,
    make_id,
    make_places,
    worker,
)

pytestmark = pytest.mark.with_plugins()


@pytest.fixture
def kernel(app):
    return ensure_registry(app)


@pytest.fixture
def world(db_session, kernel):
    places = make_places(db_session)
    head = s.register_person(db_session, {"name": "王建国", "id_number": make_id(seq=1),
                                          "phone": "13800000001"}, bus=kernel.bus,
                             dwelling_id=places.d1.id)
    wife = s.register_person(db_session, {"name": "李芳", "id_number": make_id(seq=2, sex="F"),
                                          "phone": "13800000002"}, bus=kernel.bus,
                             dwelling_id=places.d1.id)
    other = s.register_person(db_session, {"name": "赵四", "id_number": make_id(seq=3)},
                              bus=kernel.bus, dwelling_id=places.d3.id)
    h = s.create_household(db_session, head_id=head.id, bus=kernel.bus, number="H1")
    s.add_member(db_session, h.id, wife.id, "配偶", bus=kernel.bus)
    org = s.register_organisation(db_session, {"name": "和平便利店", "credit_code":
                                               make_credit_code(), "community": C1,
                                               "legal_rep_id": head.id}, bus=kernel.bus)
    db_session.commit()
    return places, head, wife, other, org


def reader(session, scopes, actor=None, purpose="", plugin="demo", **kw):
    return RegistryReader(session, plugin=plugin, scopes=scopes, actor=actor,
                          purpose=purpose, **kw)


def access_count(session):
    return session.scalar(select(func.count()).select_from(AccessEntry))


def test_reads_outside_the_declared_scopes_are_refused(db_session, world):
    _places, head, _wife, _other, org = world
    basic = reader(db_session, ["registry.person.basic"])
    view = basic.person(head.id)
    assert view["name"] == "王建国" and view["community"] == C1
    assert "id_number" not in view and "phone" not in view and "address" not in view
    for call in (lambda: basic.person(head.id, reveal=["id_number"]),
                 lambda: basic.household(head.id),
                 lambda: basic.organisation(org.id),
                 lambda: basic.communities(),
                 lambda: basic.residents(dwelling_id=head.dwelling_id),
                 lambda: basic.search(phone="13800000001"),
                 lambda: basic.age(head.id)):
        with pytest.raises(ScopeError):
            call()
    with pytest.raises(ScopeError):
        reader(db_session, ["registry.everything"])
    nothing = reader(db_session, [])
    with pytest.raises(ScopeError):
        nothing.person(head.id)


def test_for_plugin_takes_the_scopes_from_plugin_info(db_session, world):
    _places, head, *_ = world

    class Host:
        def info(self, pid):
            return PluginInfo(id=pid, version="1", title="x",
                              data_scopes=("registry.person.basic", "registry.household"))

    kernel = type("K", (), {"plugins": Host()})()
    r = RegistryReader.for_plugin(db_session, kernel, "self_governance", actor=None)
    assert r.scopes == {"registry.person.basic", "registry.household"}
    assert [m["name"] for m in r.household(head.id)["members"]] == ["王建国", "李芳"]
    core = RegistryReader.for_plugin(db_session, kernel, "core")
    assert "registry.person.identity" in core.scopes


def test_masked_by_default_and_reveal_is_logged(db_session, world):
    _places, head, *_ = world
    full = ["registry.person.basic", "registry.person.identity", "registry.person.contact",
            "registry.dwelling"]
    staff = worker(user_id=77)
    r = reader(db_session, full, staff, purpose="办理低保申请 #42", plugin="gov_services")
    before = access_count(db_session)
    view = r.person(head.id)
    assert view["id_number"] == head.id_number[:4] + "*" * 10 + head.id_number[-4:]
    assert view["phone"] == "138****0001"
    assert view["address"].endswith("3栋****")
    assert view["birth_date"] == "1980-**-**"
    db_session.commit()
    # masked values are logged too: a masked entry naming what was shown
    assert access_count(db_session) == before + 1
    entry = db_session.scalars(access_log_for(head.id)).first()
    assert (entry.masked, entry.count, entry.purpose) == (True, 1, "办理低保申请 #42")
    assert entry.fields == ["address", "birth_date", "id_number", "name", "phone"]
    view = r.person(head.id, reveal=["id_number", "phone", "address"])
    assert view["id_number"] == head.id_number and view["phone"] == "13800000001"
    assert view["address"] == "和平路88号 和平小区3栋2单元1502室"
    db_session.commit()
    entry = db_session.scalars(access_log_for(head.id)).first()
    assert (entry.via, entry.purpose, entry.actor_id) == ("gov_services", "办理低保申请 #42", 77)
    assert entry.fields == ["address", "id_number", "phone"] and entry.masked is False
    assert head.id_number not in str(entry.__dict__)  # the log never holds the value


def test_reveal_needs_permission_and_purpose(db_session, world):
    _places, head, *_ = world
    full = ["registry.person.basic", "registry.person.identity"]
    no_perm = worker(reveal=False)
    with pytest.raises(ScopeError, match="registry.person.reveal"):
        reader(db_session, full, no_perm, purpose="x").person(head.id, reveal=["id_number"])
    with pytest.raises(s.RegistryError, match="purpose"):
        reader(db_session, full, worker()).person(head.id, reveal=["id_number"])
    # a resident may see their own full number (their own data: not in their log)
    me = FakeActor(id=5, username="resident", person_id=head.id, kind="resident")
    before = access_count(db_session)
    view = reader(db_session, full, me, purpose="查看本人信息").person(head.id,
                                                                   reveal=["id_number"])
    assert view["id_number"] == head.id_number
    db_session.commit()
    assert access_count(db_session) == before
    with pytest.raises(ScopeError):
        reader(db_session, full, me, purpose="x").person(world[3].id)


def test_staff_read_only_their_communities(db_session, world):
    _places, head, _wife, other, _org = world
    basic = ["registry.person.basic", "registry.dwelling"]
    r = reader(db_session, basic, worker(communities=(C1,)))
    assert r.person(head.id)["name"] == "王建国"
    with pytest.raises(ScopeError, match="no such person"):
        r.person(other.id)
    assert [p["name"] for p in r.persons([head.id, other.id])] == ["王建国"]
    assert r.search("赵四").items == []
    # a plugin whose own rule grants access (a merchant and their customer) opts out, and
    # the read is still attributed to the real actor
    merchant = FakeActor(id=9, username="merchant", scopes=[])
    loose = reader(db_session, basic, merchant, enforce_place=False)
    assert loose.person(other.id)["name"] == "赵四"
    district = FakeActor(id=10, scopes=[Scope("all")])
    assert reader(db_session, basic, district).person(other.id)["community"] == C2


def test_reader_search_reveal_logs_each_person(db_session, world):
    scopes = ["registry.person.basic", "registry.person.contact"]
    r = reader(db_session, scopes, worker(communities=(C1,)), purpose="电话回访",
               plugin="commerce")
    page = r.search("", reveal=["phone"])
    assert {i["phone"] for i in page.items} == {"13800000001", "13800000002"}
    db_session.commit()
    rows = db_session.scalars(select(AccessEntry).where(AccessEntry.via == "commerce")).all()
    assert len(rows) == 2 and {tuple(r.fields) for r in rows} == {("phone",)}


def test_places_households_and_organisations(db_session, world):
    places, head, wife, _other, org = world
    r = reader(db_session, list(SCOPES))
    assert [(c["id"], c["code"], c["street"]) for c in r.communities()] == [
        (places.c1.id, C1, "110105001"), (places.c2.id, C2, "110105001")]
    assert [g["community"] for g in r.grids(C1)] == [C1]
    assert {p["name"] for p in r.residents(dwelling_id=places.d1.id)} == {"王建国", "李芳"}
    building = r.buildings(C1)[0]
    assert {p["name"] for p in r.residents(building_id=building["id"])} == {"王建国", "李芳"}
    hh = r.household(wife.id)
    assert hh["head_id"] == head.id and [m["relation"] for m in hh["members"]] == ["02", "10"]
    assert r.organisation(credit_code=org.credit_code.lower())["legal_rep"]["name"] == "王建国"
    assert [o["name"] for o in r.organisations(community=C1)] == ["和平便利店"]
    assert r.age(head.id) is not None


@contextmanager
def count_statements(session):
    engine = session.get_bind()
    seen: list[str] = []

    def listener(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_staff_of_a_grid_see_its_persons_only(db_session, world):
    """The place check reads the grid code as well as the community code, for one person
    and for a list (the codes come from the same places as the view)."""
    places, head, wife, other, _org = world
    r = reader(db_session, ["registry.person.basic", "registry.dwelling"],
               worker(communities=(), grids=(G1,)))
    assert r.person(head.id)["grid"] == G1
    with pytest.raises(ScopeError):
        r.person(other.id)
    assert [p["name"] for p in r.persons([head.id, wife.id, other.id])] == ["王建国", "李芳"]
    assert r.residents(dwelling_id=places.d3.id) == []
    nowhere = reader(db_session, ["registry.person.basic"], worker(communities=()))
    with pytest.raises(ScopeError):
        nowhere.person(head.id)
    assert nowhere.persons([head.id, other.id]) == []


def test_one_persons_places_are_one_select_and_match_a_pages(db_session, world):
    places, head, _wife, other, _org = world
    with count_statements(db_session) as seen:
        one = Places(db_session, [head], addresses=True)
    assert len(seen) == 1
    page = Places(db_session, [head, other], addresses=True)
    assert one.communities == {places.c1.id: page.communities[places.c1.id]}
    assert one.grids == {places.g1.id: page.grids[places.g1.id]}
    assert one.dwellings == {places.d1.id: page.dwellings[places.d1.id]}
    assert one.codes(head) == {("community", C1), ("grid", G1)}
    # ids the person holds are what counts, written or not; no address without the scope
    loose = Person(community_id=places.c2.id, dwelling_id=places.d3.id)
    partial = Places(db_session, [loose], addresses=False)
    assert partial.communities == {places.c2.id: (C2, "安康社区")}
    assert partial.grids == {} and partial.dwellings == {}
    with count_statements(db_session) as seen:
        assert Places(db_session, [Person()], addresses=True).communities == {}
    assert seen == []


def test_a_person_read_checks_the_scope_from_the_places_of_the_view(db_session, world):
    """A staff read is one select — the person with their places, which serve the scope
    check and the view; its access-log entries (the masked read and the reveal) are one
    upsert, written when the session commits (here: asked for explicitly)."""
    places, head, _wife, other, _org = world
    scopes = ["registry.person.basic", "registry.person.identity", "registry.dwelling"]
    r = reader(db_session, scopes, worker(communities=(C1,)), purpose="核实")
    db_session.expunge_all()
    with count_statements(db_session) as seen:
        view = r.person(head.id)
    assert view["community"] == C1 and view["address"].endswith("****")
    assert len(seen) == 1, seen
    with count_statements(db_session) as seen, pytest.raises(ScopeError):
        r.person(other.id)
    assert len(seen) == 1, seen
    with count_statements(db_session) as seen:
        assert r.person(head.id, reveal=["id_number"])["id_number"] == head.id_number
        assert write_access_log(db_session) == 2  # the masked read and the reveal
    assert len(seen) == 2, seen
    assert seen[-1].startswith("INSERT INTO audit_access")
    # a change not yet written is what the read shows (flushed first), places included
    person = db_session.get(Person, head.id)
    person.community_id, person.grid_id = places.c2.id, None
    district = reader(db_session, scopes, FakeActor(scopes=[Scope("all")]))
    assert (district.person(head.id)["community"], district.person(head.id)["grid"]) == (
        C2, None)
    with pytest.raises(ScopeError):
        r.person(head.id)  # now in C2: outside the worker's C1
