"""An import's record, its dry-run diff, correction runs and reverting an import by id
(issue 18 item 1): every history row of an import carries its id; a dry run says per row
which field changes from what to what (masked); a same-ID-other-name row is a conflict
naming both names unless the run is a correction (then applied, with the reason on every
change); a revert puts the registry back exactly as it was, refuses twice, refuses when a
person changed since (unless forced), and the undo data is sealed and expires."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.registry import services as s
from core.registry.cli import registry
from core.registry.errors import RegistryError
from core.registry.importer import (
    ImportFileError,
    import_persons,
    list_imports,
    purge_undo,
    revert_import,
    write_report,
)
from core.registry.models import (
    Building,
    Change,
    Dwelling,
    Household,
    Person,
    RegistryImport,
    RegistryImportUndo,
    Residence,
    Unit,
)
from core.registry.testing import C1, C2, G1, ensure_registry, make_id, make_places

pytestmark = pytest.mark.with_plugins()

FULL = ["姓名", "证件号码", "性别", "民族", "联系电话", "人口类型", "户籍地址", "社区代码",
        "网格编码", "门牌地址", "小区", "楼栋", "单元", "房号", "户号", "与户主关系"]
ID1 = make_id("1960-01-01", "M", seq=1)
ID2 = make_id("1962-02-02", "F", seq=2, region="410105")
ID3 = make_id("1990-03-03", "M", seq=3)
ID4 = make_id("1991-04-04", "F", seq=4)
ID5 = make_id("1993-05-05", "F", seq=5)


@pytest.fixture
def kernel(app):
    return ensure_registry(app)


@pytest.fixture
def places(db_session, kernel):
    p = make_places(db_session)
    db_session.commit()
    return p


def write_csv(path: Path, header, rows) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        out.writerows(rows)
    return path


def full_rows():
    return [
        ["王建国", ID1, "男", "汉族", "13800000001", "户籍", "", C1, G1, "和平路88号",
         "和平小区", "5栋", "1单元", "301", "H-1", "户主"],
        ["李芳", ID2, "女", "回族", "010-12345678", "流动", "河南省郑州市", C1, G1,
         "和平路88号", "和平小区", "5栋", "1单元", "301", "H-1", "配偶"],
        ["赵强", ID3, "男", "01", "13800000003", "流动", "河北省", C2, "", "安康街8号",
         "安康苑", "1栋", "1单元", "102", "", ""],
    ]


def registry_state(session):
    """Every person field (but version and timestamps), households, dwellings and the
    open residences: what "the registry equals its state before" compares."""
    session.expire_all()
    skip = {"version", "created_at", "updated_at"}
    persons = {p.id: {c.key: getattr(p, c.key) for c in Person.__table__.columns
                      if c.key not in skip}
               for p in session.scalars(select(Person))}
    households = {h.id: (h.number, h.head_id, h.dwelling_id)
                  for h in session.scalars(select(Household))}
    dwellings = sorted(session.scalars(select(Dwelling.id)))
    residences = sorted(session.execute(select(
        Residence.person_id, Residence.dwelling_id, Residence.role, Residence.started_on)
        .where(Residence.ended_on.is_(None))).all())
    return persons, households, dwellings, residences


@pytest.fixture
def loaded(db_session, kernel, places, tmp_path):
    report = import_persons(db_session, write_csv(tmp_path / "full.csv", FULL, full_rows()),
                            bus=kernel.bus, kernel=kernel)
    db_session.commit()
    assert report.ok and report.created == 3, report.rejected
    return report


def update_file(tmp_path):
    """Changes of every kind: a phone and ethnicity, a move to a new dwelling, a new
    household (head), and a new person."""
    rows = full_rows()
    rows[0][4] = "13900000001"
    rows[1][3] = "汉族"
    rows[2][7:14] = [C1, G1, "和平路88号", "和平小区", "6栋", "2单元", "502"]
    rows[2][14:16] = ["H-2", "户主"]
    rows.append(["钱多", ID4, "女", "汉族", "13800000004", "户籍", "", C1, G1, "和平路88号",
                 "和平小区", "5栋", "1单元", "301", "H-1", "女"])
    return write_csv(tmp_path / "update.csv", FULL, rows)


# ------------------------------------------------------------------------------ record


def test_committed_import_is_recorded_and_tags_its_history(db_session, kernel, loaded,
                                                           tmp_path):
    first = db_session.get(RegistryImport, loaded.import_id)
    assert (first.source, first.created, first.updated, first.correction) == (
        "full.csv", 3, 0, False)
    report = import_persons(db_session, update_file(tmp_path), bus=kernel.bus, kernel=kernel)
    db_session.commit()
    assert report.ok and (report.created, report.updated) == (1, 3), report.rejected
    assert report.import_id not in (None, loaded.import_id)
    rows = list(db_session.scalars(select(Change).where(Change.at >= first.at)))
    assert rows and all(c.import_id in (loaded.import_id, report.import_id) for c in rows)
    fields = {(c.entity, c.field) for c in rows if c.import_id == report.import_id}
    assert {("person", "phone"), ("person", "ethnicity"), ("person", "dwelling_id"),
            ("import", "*")} <= fields
    assert [r.id for r in list_imports(db_session, limit=5)] == [report.import_id,
                                                                  loaded.import_id]
    # a dry run is never recorded
    before = len(list_imports(db_session, limit=50))
    import_persons(db_session, update_file(tmp_path), bus=kernel.bus, dry_run=True)
    assert len(list_imports(db_session, limit=50)) == before


def test_dry_run_shows_per_row_what_changes_masked(db_session, kernel, loaded, tmp_path):
    report = import_persons(db_session, update_file(tmp_path), bus=kernel.bus, dry_run=True)
    assert report.ok and report.import_id is None and not report.diffs_capped
    by_row = {d.row: d for d in report.diffs}
    assert sorted(by_row) == [2, 3, 4, 5]  # the header is row 1; every row has changes
    assert by_row[2].action == "update" and by_row[2].changes == [
        ("phone", "138****0001", "139****0001")]
    assert by_row[3].changes == [("ethnicity", "03", "01")]
    assert ("dwelling_id", by_row[4].changes[0][1], "new") in by_row[4].changes
    create = by_row[5]
    assert create.action == "create" and create.person_id is None
    shown = dict((f, new) for f, _old, new in create.changes)
    assert shown["name"] == "钱多" and ID4 not in shown.values()
    assert shown["id_number"].endswith(ID4[-4:]) and shown["phone"] == "138****0004"
    target = tmp_path / "report.csv"
    write_report(report, target)
    text = target.read_text(encoding="utf-8-sig")
    assert "138****0001,139****0001" in text and ID4 not in text


# ------------------------------------------------------------------------------ names


def renamed_file(tmp_path):
    rows = full_rows()
    rows[1][0] = "李芳芳"
    rows[0][4] = "13700000001"
    return write_csv(tmp_path / "rename.csv", FULL, rows)


def test_conflict_row_names_both_names_and_is_not_applied(db_session, kernel, loaded,
                                                          tmp_path):
    report = import_persons(db_session, renamed_file(tmp_path), bus=kernel.bus,
                            kernel=kernel)
    db_session.commit()
    assert not report.committed and report.import_id is None
    (conflict,) = report.diffs
    assert (conflict.row, conflict.action) == (3, "conflict")
    assert conflict.changes == [("name", "李*", "李芳芳")]
    assert s.find_by_id_number(db_session, ID2).name == "李芳"
    assert s.find_by_id_number(db_session, ID1).phone == "13800000001"
    assert db_session.scalar(select(RegistryImport).where(
        RegistryImport.id > loaded.import_id)) is None


def test_correction_run_renames_and_records_the_reason(db_session, kernel, loaded,
                                                       tmp_path):
    with pytest.raises(ImportFileError):
        import_persons(db_session, renamed_file(tmp_path), bus=kernel.bus, correction=True)
    report = import_persons(db_session, renamed_file(tmp_path), bus=kernel.bus,
                            correction=True, reason="户籍科更正 2026-12", kernel=kernel)
    db_session.commit()
    assert report.ok and report.updated == 2, report.rejected
    person = s.find_by_id_number(db_session, ID2)
    assert person.name == "李芳芳" and person.name_pinyin.startswith("lifangfang")
    rows = list(db_session.scalars(select(Change).where(Change.import_id == report.import_id)))
    assert {(c.field, c.old, c.new) for c in rows if c.entity_id == person.id} >= {
        ("name", "李芳", "李芳芳")}
    assert rows and all(c.reason == "户籍科更正 2026-12" for c in rows)
    record = db_session.get(RegistryImport, report.import_id)
    assert record.correction and record.reason == "户籍科更正 2026-12"


# ------------------------------------------------------------------------------ revert


@pytest.mark.parametrize("parallel", [False, True])
def test_revert_restores_the_registry_exactly(db_session, kernel, loaded, tmp_path, events,
                                              parallel):
    before = registry_state(db_session)
    report = import_persons(db_session, update_file(tmp_path), bus=kernel.bus, kernel=kernel,
                            parallel=parallel, chunk=2)
    db_session.commit()
    assert report.ok and report.updated == 3
    assert registry_state(db_session) != before
    undo = list(db_session.scalars(select(RegistryImportUndo).where(
        RegistryImportUndo.import_id == report.import_id)))
    sealed = " ".join(u.sealed for u in undo if u.person_id is not None)
    assert sealed and ID1 not in sealed and "13900000001" not in sealed  # sealed
    published = len(events.published)

    result = revert_import(db_session, report.import_id, bus=kernel.bus, actor=None,
                           kernel=kernel)
    db_session.commit()
    assert (result.restored, result.deleted_persons) == (3, 1)
    assert result.deleted_households == 1 and result.deleted_dwellings == 1
    assert registry_state(db_session) == before
    person = s.find_by_id_number(db_session, ID1)
    hist = [(c.field, c.via, c.reason) for c in s.history(db_session, "person", person.id)]
    assert ("phone", "revert", f"revert import {report.import_id}") in hist
    names = [n for n, _ in events.published[published:]]
    assert "registry.person.updated" in names and "registry.person.moved" in names
    record = db_session.get(RegistryImport, report.import_id)
    assert record.reverted_at is not None
    assert db_session.scalar(select(RegistryImportUndo).where(
        RegistryImportUndo.import_id == report.import_id)) is None
    with pytest.raises(RegistryError) as exc:
        revert_import(db_session, report.import_id, bus=kernel.bus, actor=None,
                      kernel=kernel)
    assert (exc.value.status, exc.value.field) == (409, "import")


def test_revert_of_the_first_load_empties_the_registry(db_session, kernel, loaded):
    revert_import(db_session, loaded.import_id, bus=kernel.bus, actor=None, kernel=kernel)
    db_session.commit()
    assert db_session.scalar(select(Person.id)) is None
    assert db_session.scalar(select(Household.id)) is None


def test_revert_of_a_load_assembled_by_the_validating_process(db_session, kernel, tmp_path):
    """Into a registry without places the second process builds the rows (SQLite; ids
    from bases): the import still knows every person and place it created."""
    street = s.create_street(db_session, code="110105001", name="和平街道")
    c1 = s.create_community(db_session, code=C1, name="和平里社区", street=street)
    s.create_community(db_session, code=C2, name="安康社区", street=street)
    s.create_grid(db_session, code=G1, name="第一网格", community=c1)
    db_session.commit()
    before = registry_state(db_session)
    report = import_persons(db_session, update_file(tmp_path), bus=kernel.bus, kernel=kernel,
                            parallel=True, chunk=2)
    db_session.commit()
    assert report.ok and report.created == 4, report.rejected
    rows = list(db_session.scalars(select(Change).where(Change.import_id == report.import_id)))
    assert [c.entity for c in rows] == ["import"]  # one history row for the bulk creation
    result = revert_import(db_session, report.import_id, bus=kernel.bus, actor=None,
                           kernel=kernel)
    db_session.commit()
    assert (result.deleted_persons, result.deleted_households) == (4, 2)
    assert result.deleted_dwellings == 2
    assert registry_state(db_session) == before
    assert db_session.scalar(select(Building.id)) is None
    assert db_session.scalar(select(Unit.id)) is None


def test_revert_refused_when_a_person_changed_since_unless_forced(db_session, kernel,
                                                                  loaded, tmp_path):
    report = import_persons(db_session, update_file(tmp_path), bus=kernel.bus, kernel=kernel)
    db_session.commit()
    person = s.find_by_id_number(db_session, ID1)
    s.update_person(db_session, person.id, {"phone": "13600000001"},
                    expected_version=person.version, bus=kernel.bus)
    db_session.commit()
    with pytest.raises(RegistryError) as exc:
        revert_import(db_session, report.import_id, bus=kernel.bus, actor=None,
                      kernel=kernel)
    assert exc.value.status == 409 and f"no. {person.id} 王**" in str(exc.value)
    assert ID1 not in str(exc.value)
    db_session.rollback()
    result = revert_import(db_session, report.import_id, bus=kernel.bus, actor=None,
                           force=True, kernel=kernel)
    db_session.commit()
    assert result.forced and result.changed_since == [f"no. {person.id} 王**"]
    assert s.find_by_id_number(db_session, ID1).phone == "13600000001"  # left as it is
    assert s.find_by_id_number(db_session, ID2).ethnicity == "03"  # the others reverted
    assert s.find_by_id_number(db_session, ID4) is None


def test_revert_keeps_created_persons_a_plugin_or_an_account_relies_on(app, db_session, kernel,
                                                                      loaded, tmp_path):
    """A person the import created that a plugin has read since (it may hold a reference:
    an application, a ticket) or that an account is bound to is not deleted silently: the
    revert is refused naming them (masked, and that display is in their access log), and
    a forced revert leaves them."""
    from core.audit.models import AccessEntry
    from core.identity.models import User
    from core.testing import ensure_user
    from core.toolkit import log_person_access

    report = import_persons(db_session, update_file(tmp_path), bus=kernel.bus, kernel=kernel)
    db_session.commit()
    new = s.find_by_id_number(db_session, ID4)  # created by this import
    log_person_access(db_session, person_id=new.id, fields=["name"], purpose="application",
                      plugin="gov_services", actor=None)
    db_session.commit()
    with pytest.raises(RegistryError) as exc:
        revert_import(db_session, report.import_id, bus=kernel.bus, actor=None,
                      kernel=kernel)
    assert exc.value.status == 409 and f"no. {new.id} 钱*" in str(exc.value)
    db_session.rollback()
    shown = db_session.scalars(select(AccessEntry.purpose).where(
        AccessEntry.subject_person_id == new.id)).all()
    assert any(p.startswith(f"revert of import {report.import_id}") for p in shown), shown
    result = revert_import(db_session, report.import_id, bus=kernel.bus, actor=None,
                           force=True, kernel=kernel)
    db_session.commit()
    assert result.changed_since == [f"no. {new.id} 钱*"]
    assert s.find_by_id_number(db_session, ID4) is not None  # kept
    assert s.find_by_id_number(db_session, ID2).ethnicity == "03"  # the rest reverted

    # an account bound to a created person keeps the revert from deleting it, too
    again = import_persons(db_session, write_csv(tmp_path / "one.csv", FULL, [
        ["孙丽", ID5, "女", "汉族", "13800000009", "户籍", "", C1, G1, "和平路88号",
         "和平小区", "5栋", "1单元", "302", "H-9", "户主"]]), bus=kernel.bus, kernel=kernel)
    db_session.commit()
    assert again.ok, again.rejected
    bound = s.find_by_id_number(db_session, ID5)
    db_session.get(User, ensure_user(app, "resident", username="sunli").id).person_id = bound.id
    db_session.commit()
    with pytest.raises(RegistryError) as exc:
        revert_import(db_session, again.import_id, bus=kernel.bus, actor=None, kernel=kernel)
    assert f"no. {bound.id} 孙*" in str(exc.value)
    db_session.rollback()


def test_undo_data_expires_after_the_retention(db_session, kernel, loaded, tmp_path):
    record = db_session.get(RegistryImport, loaded.import_id)
    assert purge_undo(db_session, now=record.at + timedelta(days=29)) == 0
    assert purge_undo(db_session, now=record.at + timedelta(days=31)) >= 1
    db_session.commit()
    with pytest.raises(RegistryError) as exc:
        revert_import(db_session, loaded.import_id, bus=kernel.bus, actor=None,
                      kernel=kernel)
    assert exc.value.status == 409 and "expired" in str(exc.value)


# ------------------------------------------------------------------------------ CLI


def test_cli_correction_imports_list_and_revert(app, db_session, kernel, loaded, tmp_path):
    from core.cli import AppContext

    ctx = AppContext()
    ctx._app = app
    runner = CliRunner()
    result = runner.invoke(registry, ["import", str(renamed_file(tmp_path)), "--dry-run"],
                           obj=ctx)
    assert result.exit_code == 1 and "row 3: conflict" in result.output
    assert "name: 李* -> 李芳芳" in result.output
    result = runner.invoke(registry, ["import", str(renamed_file(tmp_path)), "--correction",
                                      "--reason", "更正"], obj=ctx)
    assert result.exit_code == 0, result.output
    new_id = max(r.id for r in list_imports(db_session, limit=5))
    assert f"import {new_id}" in result.output
    result = runner.invoke(registry, ["imports"], obj=ctx)
    assert result.exit_code == 0 and "rename.csv" in result.output
    assert "correction" in result.output and "reason: 更正" in result.output
    result = runner.invoke(registry, ["revert-import", str(new_id)], obj=ctx, input="n\n")
    assert result.exit_code != 0
    result = runner.invoke(registry, ["revert-import", str(new_id), "--yes"], obj=ctx)
    assert result.exit_code == 0, result.output
    db_session.expire_all()
    assert s.find_by_id_number(db_session, ID2).name == "李芳"
    result = runner.invoke(registry, ["revert-import", str(new_id), "--yes"], obj=ctx)
    assert result.exit_code == 1 and "reverted already" in result.output
