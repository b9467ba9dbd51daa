"""Ownership of dwellings: the rules (one of person or organisation, shares in (0, 1] that
sum to at most 1 per dwelling, no duplicate current owner, end after start), the history
in registry_change, the reader's ``registry.ownership`` scope (refused without it,
access-logged with it, place-checked for staff), the owners import (every rejected row
with its reason, all or nothing; CSV and XLSX) and its CLI body, and the migration."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from core.audit.models import AccessEntry
from core.registry import services as s
from core.registry.errors import RegistryError, ScopeError
from core.registry.models import Change, Ownership
from core.registry.owners_cli import run_import_owners
from core.registry.owners_import import import_owners
from core.registry.ownership import (
    add_owner,
    community_ownership,
    dwellings_owned_by,
    end_ownership,
    owners_of,
    parse_share,
)
from core.registry.reader import RegistryReader
from core.registry.testing import (
    C1,
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
    alice = s.register_person(db_session, {"name": "王建国", "id_number": make_id(seq=1)},
                              bus=kernel.bus, dwelling_id=places.d1.id)
    bob = s.register_person(db_session, {"name": "李芳", "id_number": make_id(seq=2, sex="F")},
                            bus=kernel.bus, dwelling_id=places.d1.id)
    carol = s.register_person(db_session, {"name": "赵四", "id_number": make_id(seq=3)},
                              bus=kernel.bus, dwelling_id=places.d3.id)
    org = s.register_organisation(db_session, {"name": "和平物业", "credit_code":
                                               make_credit_code(), "community": C1},
                                  bus=kernel.bus)
    places.d1.area_m2 = 89.5
    db_session.commit()
    return places, alice, bob, carol, org


def test_shares_are_parsed_and_bounded():
    assert parse_share("50%") == 0.5 and parse_share("1/3") == 0.333333
    assert parse_share("") == 1.0 and parse_share(0.25) == 0.25
    for bad in ("0", "1.2", "-1", "x", "1/0"):
        with pytest.raises(RegistryError) as err:
            parse_share(bad)
        assert err.value.field == "share"


def test_add_and_end_owners_with_history(db_session, world):
    places, alice, bob, _carol, org = world
    a = add_owner(db_session, dwelling_id=places.d1.id, person_id=alice.id, share="1/2",
                  started_on="2015-06-01")
    b = add_owner(db_session, dwelling_id=places.d1.id, person_id=bob.id, share="50%")
    assert {o["person_id"] for o in owners_of(db_session, places.d1.id)} == {alice.id, bob.id}
    with pytest.raises(RegistryError) as err:  # 0.5 + 0.5 + 0.1 > 1
        add_owner(db_session, dwelling_id=places.d1.id, organisation_id=org.id, share="0.1")
    assert err.value.field == "share"
    with pytest.raises(RegistryError) as err:
        add_owner(db_session, dwelling_id=places.d2.id, person_id=alice.id,
                  organisation_id=org.id)
    assert err.value.field == "owner"
    with pytest.raises(RegistryError) as err:
        add_owner(db_session, dwelling_id=places.d1.id, person_id=alice.id, share="0.1")
    assert err.value.field == "owner"  # already a current owner
    with pytest.raises(RegistryError) as err:
        end_ownership(db_session, a.id, ended_on="2010-01-01")
    assert err.value.field == "ended_on"
    end_ownership(db_session, b.id, ended_on="2024-03-01")
    with pytest.raises(RegistryError):
        end_ownership(db_session, b.id)
    add_owner(db_session, dwelling_id=places.d1.id, organisation_id=org.id, share="0.5")
    db_session.commit()
    now = owners_of(db_session, places.d1.id)
    assert [(o["person_id"], o["organisation_id"]) for o in now] == [(alice.id, None),
                                                                       (None, org.id)]
    assert len(owners_of(db_session, places.d1.id, history=True)) == 3
    mine = dwellings_owned_by(db_session, person_id=alice.id)
    assert [(d["dwelling_id"], d["area_m2"], d["share"]) for d in mine] == [
        (places.d1.id, 89.5, 0.5)]
    assert dwellings_owned_by(db_session, person_id=bob.id) == []
    changes = db_session.scalars(select(Change).where(
        Change.entity == "ownership", Change.entity_id == b.id).order_by(Change.id)).all()
    assert ("*", "created") in [(c.field, c.new) for c in changes]
    assert ("ended_on", "2024-03-01") in [(c.field, c.new) for c in changes]
    assert db_session.get(Ownership, b.id).ended_on == date(2024, 3, 1)


def test_the_reader_needs_the_ownership_scope_and_logs(db_session, world):
    places, alice, _bob, carol, _org = world
    add_owner(db_session, dwelling_id=places.d1.id, person_id=alice.id)
    add_owner(db_session, dwelling_id=places.d3.id, person_id=carol.id)
    db_session.commit()
    basic = RegistryReader(db_session, plugin="demo", scopes=["registry.person.basic"])
    for call in (lambda: basic.owners(places.d1.id), lambda: basic.owned_dwellings(alice.id),
                 lambda: basic.community_owners(C1)):
        with pytest.raises(ScopeError):
            call()
    staff = worker(communities=(C1,), user_id=7)
    scoped = RegistryReader(db_session, plugin="demo", actor=staff, purpose="owners check",
                            scopes=["registry.person.basic", "registry.ownership"])
    before = db_session.scalar(select(func.count()).select_from(AccessEntry))
    owners = scoped.owners(places.d1.id)
    assert [(o["person_id"], o["share"], o["area_m2"]) for o in owners] == [
        (alice.id, 1.0, 89.5)]
    assert [d["dwelling_id"] for d in scoped.owned_dwellings(alice.id)] == [places.d1.id]
    with pytest.raises(ScopeError):  # d3 is in C2: outside the worker's places
        scoped.owners(places.d3.id)
    with pytest.raises(ScopeError):
        scoped.community_owners("110105001002")
    roll = scoped.community_owners(C1)
    assert [d["dwelling_id"] for d in roll["dwellings"]] == [places.d1.id]
    assert roll["unowned"] == 1  # d2
    db_session.commit()
    logged = db_session.scalars(select(AccessEntry).where(
        AccessEntry.subject_person_id == alice.id, AccessEntry.via == "demo")).all()
    assert logged and all("ownership" in e.fields for e in logged)
    assert db_session.scalar(select(func.count()).select_from(AccessEntry)) > before
    assert community_ownership(db_session, C1)[0]["owners"][0]["person_id"] == alice.id


def _csv(tmp_path, text):
    path = tmp_path / "owners.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_owners_import_all_or_nothing(db_session, world, tmp_path):
    places, alice, bob, carol, org = world
    bad = _csv(tmp_path, (
        "小区,楼栋,单元,房号,证件号码,统一社会信用代码,份额,起始日期,专有部分面积\n"
        f"和平小区,3栋,2单元,1502,{alice.id_number},,1/2,2015-06-01,89.5\n"
        f"和平小区,3栋,2单元,1502,{bob.id_number},,0.6,,\n"          # 0.5 + 0.6 > 1
        f"和平小区,3栋,2单元,9999,{alice.id_number},,1,,\n"          # no such room
        f"和平小区,3栋,2单元,1601,110105199001011234,,1,,\n"         # unknown person
        f"和平小区,3栋,2单元,1601,,{org.credit_code},1,,-3\n"       # bad area
        f"和平小区,3栋,2单元,1601,{carol.id_number},{org.credit_code},1,,\n"  # both
    ))
    report = import_owners(db_session, bad, community=C1)
    assert [(n, f) for n, f, _m in report.rejected] == [
        (3, "share"), (4, "room"), (5, "owner_id"), (6, "area_m2"), (7, "owner_id")]
    assert report.added == 0 and not report.committed
    assert db_session.scalar(select(func.count()).select_from(Ownership)) == 0
    good = _csv(tmp_path, (
        "estate,building,unit,room,owner_id,credit_code,share,since,area_m2\n"
        f"和平小区,3栋,2单元,1502,{alice.id_number},,1/2,2015-06-01,90\n"
        f"和平小区,3栋,2单元,1502,{bob.id_number},,1/2,,\n"
        f"和平小区,3栋,2单元,1601,,{org.credit_code},,,120.25\n"
    ))
    dry = import_owners(db_session, good, community=C1, dry_run=True)
    assert (dry.added, dry.areas_set, dry.committed) == (3, 2, False)
    assert db_session.scalar(select(func.count()).select_from(Ownership)) == 0
    done = import_owners(db_session, good, community=C1)
    db_session.commit()
    assert (done.added, done.areas_set, done.committed) == (3, 2, True)
    assert places.d1.area_m2 == 90 and places.d2.area_m2 == 120.25
    assert {o["person_id"] for o in owners_of(db_session, places.d1.id)} == {alice.id, bob.id}
    area_change = db_session.scalars(select(Change).where(
        Change.entity == "dwelling", Change.field == "area_m2")).all()
    assert {c.new for c in area_change} == {"90.0", "120.25"}
    again = import_owners(db_session, good, community=C1)  # already owners: all rejected
    assert len(again.rejected) == 3


def test_owners_import_xlsx_and_cli_body(app, kernel, db_session, world, tmp_path):
    from openpyxl import Workbook

    places, alice, *_ = world
    wb = Workbook()
    wb.active.append(["房屋地址", "证件号码", "份额"])
    wb.active.append([places.d3.address, alice.id_number, "100%"])
    path = tmp_path / "owners.xlsx"
    wb.save(path)
    code, lines = run_import_owners(kernel, str(path), dry_run=True)
    assert code == 0 and "would import 1" in lines[-1]
    code, lines = run_import_owners(kernel, str(path))
    assert code == 0 and "imported 1" in lines[-1]
    db_session.expire_all()
    assert [o["person_id"] for o in owners_of(db_session, places.d3.id)] == [alice.id]
    code, lines = run_import_owners(kernel, str(path))
    assert code == 1 and lines[0].startswith("row 2: owner_id:")


def test_the_demo_registry_has_owners_landlords_and_areas(app, kernel):
    from core.hookspecs import DemoContext
    from core.registry.demo import seed_registry
    from core.registry.models import Dwelling, Person

    session = kernel.db.Session()
    try:
        stats = seed_registry(session, DemoContext(), persons=600, seed=7)
        session.commit()
        assert stats["ownerships"] > 100
        rented = session.execute(
            select(Dwelling.id, Ownership.person_id)
            .join(Ownership, Ownership.dwelling_id == Dwelling.id)
            .where(Dwelling.is_rental.is_(True))).all()
        assert rented, "no let flat has an owner"
        for did, owner in rented:  # the landlord does not live in the flat they let
            assert session.get(Person, owner).dwelling_id != did
        assert session.scalar(select(func.count()).select_from(Dwelling)
                              .where(Dwelling.area_m2.is_(None))) == 0
        shared = session.scalar(select(func.count()).select_from(Ownership)
                                .where(Ownership.share == 0.5))
        assert shared > 0  # some couples own half each
    finally:
        session.close()
