"""Import and export: the template (Chinese or English headers), every rejected row back
with its reasons, nothing written when any row fails, dry run, idempotent re-import,
updates through the services (history, events), XLSX, Excel's number trap, masked and
revealed exports (logged), and the ``shequ registry`` commands."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from core.audit.models import AccessEntry
from core.registry import services as s
from core.registry.cli import registry
from core.registry.importer import (
    COLUMNS,
    ImportFileError,
    export_persons,
    import_persons,
    write_report,
    write_template,
)
from core.registry.models import Dwelling, Household, Person, Residence
from core.registry.testing import C1, C2, G1, ensure_registry, make_id, make_places

pytestmark = pytest.mark.with_plugins()

HEAD = ["姓名", "证件号码", "性别", "联系电话", "人口类型", "社区代码", "网格编码", "门牌地址",
        "小区", "楼栋", "单元", "房号", "居住类型", "户号", "与户主关系"]


@pytest.fixture
def kernel(app):
    return ensure_registry(app)


@pytest.fixture
def places(db_session, kernel):
    p = make_places(db_session)
    db_session.commit()
    return p


def write_csv(path: Path, rows, header=HEAD, encoding="utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        out.writerows(rows)
    return path


def good_rows():
    return [
        ["王建国", make_id("1960-01-01", "M", seq=1), "男", "13800000001", "户籍", C1, G1,
         "和平路88号", "和平小区", "5栋", "1单元", "301", "产权人", "H-1", "户主"],
        ["李芳", make_id("1962-02-02", "F", seq=2), "女", "13800000002", "户籍", C1, G1,
         "和平路88号", "和平小区", "5栋", "1单元", "301", "其他", "H-1", "配偶"],
        ["王小明", make_id("2012-03-03", "M", seq=3), "", "", "户籍", C1, G1,
         "和平路88号", "和平小区", "5栋", "1单元", "301", "", "H-1", "子"],
        ["解红", make_id("1990-04-04", "F", seq=4, region="410105"), "", "13800000004",
         "流动", C2, "", "安康街8号", "安康苑", "1栋", "1单元", "102", "租户", "", ""],
    ]


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def test_import_creates_persons_places_households(db_session, kernel, places, tmp_path,
                                                  events):
    report = import_persons(db_session, write_csv(tmp_path / "a.csv", good_rows()),
                            bus=kernel.bus)
    db_session.commit()
    assert report.ok and report.committed, report.rejected
    assert (report.total, report.created, report.updated, report.unchanged) == (4, 4, 0, 0)
    assert report.new_dwellings == 2 and report.new_households == 1
    head = s.find_by_id_number(db_session, make_id("1960-01-01", "M", seq=1))
    assert (head.name_pinyin, head.relation, head.community_id) == ("wangjianguo", "02",
                                                                    places.c1.id)
    household = db_session.get(Household, head.household_id)
    assert household.number == "H-1" and household.head_id == head.id
    assert [p.relation for p in s.household_members(db_session, household.id)] == [
        "02", "10", "20"]
    dwelling = db_session.get(Dwelling, head.dwelling_id)
    assert dwelling.address == "和平路88号 和平小区5栋1单元301室"
    tenant = s.find_by_id_number(db_session, make_id("1990-04-04", "F", seq=4, region="410105"))
    assert (tenant.hukou_type, tenant.name_pinyin) == ("floating", "xiehong")
    assert db_session.get(Dwelling, tenant.dwelling_id).is_rental
    assert db_session.scalar(select(Residence.role).where(
        Residence.person_id == tenant.id)) == "tenant"
    # search finds imported persons (their keys were written too)
    assert [i["name"] for i in s.search_persons(db_session, actor=None, query="jiehong"
                                                ).items] == ["解红"]
    assert events.names() == ["registry.import.completed"]
    payload = events.published[0][1]
    assert (payload["created"], payload["batch_id"]) == (4, report.batch_id)


def test_bad_rows_come_back_with_reasons_and_nothing_is_written(db_session, kernel, places,
                                                                tmp_path):
    rows = good_rows()
    rows.insert(1, ["", "11010519491231002A", "男", "12345", "火星", "110105001099", "nope",
                    "", "", "", "", "101", "", "", ""])
    rows.append(["重复", rows[0][1], "", "", "", C1, "", "", "", "", "", "", "", "", ""])
    rows.append(["性别错", make_id("1970-01-01", "M", seq=9), "女", "", "", C1, "", "", "",
                 "", "", "", "", "H-9", ""])
    rows.append(["双户主", make_id("1971-01-01", "M", seq=10), "", "", "", C1, "", "", "",
                 "", "", "", "", "H-1", "户主"])
    path = write_csv(tmp_path / "bad.csv", rows)
    before = count(db_session, Person)
    report = import_persons(db_session, path, bus=kernel.bus)
    db_session.commit()
    assert not report.ok and not report.committed
    assert report.rejected_rows == [3, 7, 8, 9]
    reasons = {(e.row, e.field) for e in report.rejected}
    assert {(3, "name"), (3, "id_number"), (3, "phone"), (3, "hukou_type"),
            (3, "community"), (3, "building")} <= reasons
    assert (7, "id_number") in reasons  # same number as row 2
    assert {(8, "sex"), (8, "relation")} <= reasons  # disagrees with the ID; no relation
    assert (9, "relation") in reasons  # H-1 has its head in row 2
    assert next(e for e in report.rejected if e.row == 7).message.endswith("row 2.")
    # the report masks identifiers
    bad_id = next(e for e in report.rejected if (e.row, e.field) == (3, "id_number"))
    assert bad_id.value == "1101**********002A"
    assert "nothing was written" in report.summary()
    # all or nothing: the four good rows were not written either
    assert count(db_session, Person) == before
    assert count(db_session, Dwelling) == 3  # the places fixture's three
    write_report(report, tmp_path / "report.csv")
    lines = (tmp_path / "report.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "row,field,message,name,value" and lines[1].startswith("3,")


def test_dry_run_writes_nothing_and_tells_what_would_happen(db_session, kernel, places,
                                                            tmp_path):
    path = write_csv(tmp_path / "a.csv", good_rows())
    report = import_persons(db_session, path, bus=kernel.bus, dry_run=True)
    assert report.ok and not report.committed
    assert (report.created, report.new_dwellings, report.new_households) == (4, 2, 1)
    assert count(db_session, Person) == 0
    import_persons(db_session, path, bus=kernel.bus)
    db_session.commit()
    rows = good_rows()
    rows[0][3] = "13900000001"
    report = import_persons(db_session, write_csv(tmp_path / "b.csv", rows), bus=kernel.bus,
                            dry_run=True)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 3)
    assert s.find_by_id_number(db_session, rows[0][1]).phone == "13800000001"


def test_reimport_is_idempotent_and_changes_go_through_services(db_session, kernel, places,
                                                                 tmp_path, events):
    path = write_csv(tmp_path / "a.csv", good_rows())
    import_persons(db_session, path, bus=kernel.bus)
    db_session.commit()
    n_events = len(events.published)
    again = import_persons(db_session, path, bus=kernel.bus)
    db_session.commit()
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert len(events.published) == n_events  # nothing written, nothing published
    assert count(db_session, Person) == 4
    rows = good_rows()
    rows[0][3] = "13900000001"  # new phone
    rows[3][5:12] = [C1, G1, "和平路88号", "和平小区", "5栋", "1单元", "302"]  # moved
    report = import_persons(db_session, write_csv(tmp_path / "b.csv", rows), bus=kernel.bus)
    db_session.commit()
    assert (report.created, report.updated, report.unchanged) == (0, 2, 2)
    head = s.find_by_id_number(db_session, rows[0][1])
    assert (head.phone, head.version) == ("13900000001", 2)
    hist = [(c.field, c.old, c.new, c.via) for c in s.history(db_session, "person", head.id)]
    assert ("phone", "138****0001", "139****0001", "import") in hist
    moved = [p for n, p in events.published if n == "registry.person.moved"]
    assert len(moved) == 1 and (moved[0]["from_community"], moved[0]["to_community"]) == (
        C2, C1)


def test_english_headers_and_xlsx(db_session, kernel, places, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["Name", "ID_Number", "community", "building", "room", "phone", "extra"])
    ws.append(["张三", make_id(seq=20), C1, "9栋", 101, 13800000020, "x"])
    ws.append(["李四", 110105198001010410, C1, "", "", None, ""])  # Excel ate the digits
    wb.save(tmp_path / "a.xlsx")
    report = import_persons(db_session, tmp_path / "a.xlsx", bus=kernel.bus)
    assert report.rejected_rows == [3]
    assert "as a number" in report.rejected[0].message
    assert any("extra" in w for w in report.warnings)
    ws.delete_rows(3)
    wb.save(tmp_path / "b.xlsx")
    report = import_persons(db_session, tmp_path / "b.xlsx", bus=kernel.bus)
    db_session.commit()
    assert report.ok and report.created == 1
    p = s.find_by_id_number(db_session, make_id(seq=20))
    assert p.phone == "13800000020" and db_session.get(Dwelling, p.dwelling_id).room == "101"


def test_gbk_csv_and_missing_columns(db_session, kernel, places, tmp_path):
    path = write_csv(tmp_path / "gbk.csv", good_rows()[:1], encoding="gb18030")
    assert import_persons(db_session, path, bus=kernel.bus, dry_run=True).created == 1
    with pytest.raises(ImportFileError, match="证件号码"):
        import_persons(db_session, write_csv(tmp_path / "x.csv", [["张三"]], header=["姓名"]),
                       bus=kernel.bus)


def test_export_masks_unless_revealed_and_logs_reveals(db_session, kernel, places, tmp_path):
    import_persons(db_session, write_csv(tmp_path / "a.csv", good_rows()), bus=kernel.bus)
    db_session.commit()
    n = export_persons(db_session, tmp_path / "masked.csv")
    text = (tmp_path / "masked.csv").read_text(encoding="utf-8-sig")
    assert n == 4
    assert make_id("1960-01-01", "M", seq=1) not in text and "13800000001" not in text
    assert "138****0001" in text and "1960-**-**" in text and "301" not in text
    assert count(db_session, AccessEntry) == 0
    with pytest.raises(s.RegistryError, match="purpose"):
        export_persons(db_session, tmp_path / "x.csv", reveal=True)
    n = export_persons(db_session, tmp_path / "full.xlsx", reveal=True, purpose="年度核查",
                       community=C1)
    db_session.commit()
    assert n == 3
    entries = db_session.scalars(select(AccessEntry)).all()
    assert len(entries) == 3 and {e.purpose for e in entries} == {"年度核查"}
    assert {e.via for e in entries} == {"export"}
    ws = load_workbook(tmp_path / "full.xlsx").worksheets[0]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0] == [c.zh for c in COLUMNS]
    assert values[1][2] == make_id("1960-01-01", "M", seq=1)
    # a revealed export re-imports as unchanged
    report = import_persons(db_session, tmp_path / "full.xlsx", bus=kernel.bus, dry_run=True)
    assert report.ok and (report.unchanged, report.created, report.updated) == (3, 0, 0), \
        report.rejected


def test_template(tmp_path):
    write_template(tmp_path / "t.csv", lang="en")
    header = (tmp_path / "t.csv").read_text(encoding="utf-8-sig").strip().split(",")
    assert header == [c.en for c in COLUMNS]
    write_template(tmp_path / "t.xlsx")
    assert next(load_workbook(tmp_path / "t.xlsx").worksheets[0].iter_rows(values_only=True)
                )[0] == "姓名"


def test_cli(app, kernel, places, tmp_path):
    from core.cli import AppContext

    obj = AppContext()
    obj._app = app
    runner = CliRunner()
    good = write_csv(tmp_path / "a.csv", good_rows())
    result = runner.invoke(registry, ["import", str(good), "--dry-run"], obj=obj)
    assert result.exit_code == 0, result.output
    assert "would create 4" in result.output
    bad = write_csv(tmp_path / "bad.csv", [["x", "1", "", "", "", C1] + [""] * 9])
    result = runner.invoke(registry, ["import", str(bad), "--report",
                                      str(tmp_path / "r.csv")], obj=obj)
    assert result.exit_code == 1 and "row 2: id_number" in result.output
    assert (tmp_path / "r.csv").exists()
    result = runner.invoke(registry, ["import", str(good)], obj=obj)
    assert result.exit_code == 0 and "created 4" in result.output
    result = runner.invoke(registry, ["export", str(tmp_path / "e.csv"), "--reveal"], obj=obj)
    assert result.exit_code != 0 and "--purpose" in result.output
    result = runner.invoke(registry, ["export", str(tmp_path / "e.csv"), "--reveal",
                                      "--purpose", "备份"], obj=obj)
    assert result.exit_code == 0 and "exported 4" in result.output
    with kernel.db.Session() as session:
        names = set(session.scalars(select(AccessEntry.actor_name)))
    assert len(names) == 1 and next(iter(names)).startswith("cli:")
    result = runner.invoke(registry, ["template", str(tmp_path / "t.csv")], obj=obj)
    assert result.exit_code == 0
