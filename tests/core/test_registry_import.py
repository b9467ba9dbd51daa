"""Import and export: the template (Chinese or English headers), every rejected row back
with its reasons, nothing written when any row fails, dry run, idempotent re-import,
updates through the services (history, events), XLSX, Excel's number trap, masked and
revealed exports (logged), and the ``shequ registry`` commands."""

from __future__ import annotations

import csv
from datetime import date, timedelta
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


# ------------------------------------------------------------------------------ fast paths
# The importer validates the common row with tables (importer._FastRows, validation.
# id_number_checker) and sends everything else to the general rules; the bulk load runs
# that validation in a second process. These check that the shortcuts change nothing.


def _reference_name_keys(name):
    """name_keys as first written: every combination of readings, surname first."""
    import itertools

    from core.registry import pinyin

    tokens = pinyin._tokens(name)
    if not tokens:
        return "", "", ()
    readings = pinyin._readings(tokens)
    full = "".join(r[0] for r in readings)
    initials = "".join(r[0][:1] for r in readings)
    extra = {}
    if any(len(r) > 1 for r in readings):
        for combo in itertools.islice(itertools.product(*readings), pinyin.MAX_VARIANTS):
            f, i = "".join(combo), "".join(c[:1] for c in combo)
            if f != full:
                extra[(f, "f")] = None
            if i != initials:
                extra[(i, "i")] = None
    return full[:120], initials[:50], tuple((k[:120], kind) for k, kind in extra)


def test_name_keys_memoised_by_parts_equal_the_plain_product():
    import random

    from core.registry.pinyin import compute_name_keys

    rng = random.Random(3)
    pool = "曾单解区朴乐长行朝重子一安佳查仇盖覃翟王李张欧阳司马 ·a1"
    names = ["曾国藩", "单田芳", "欧阳修", "长孙无忌", "阿依古丽·买买提", "John Smith", "张3",
             "𠀀张", "ＡＢＣ", "", "曾" + "长" * 60]
    names += ["".join(rng.choice(pool) for _ in range(rng.randint(1, 7))) for _ in range(3000)]
    for name in names:
        assert compute_name_keys(name) == _reference_name_keys(name), name


def test_id_number_checker_agrees_with_parse_id_number():
    import random
    from datetime import date

    from core.registry.validation import (
        IdentifierError,
        id_check_char,
        id_number_checker,
        parse_id_number,
    )

    today = date(2024, 6, 1)
    check = id_number_checker(today)
    rng = random.Random(11)
    regions = ["110105", "810000", "830000", "911010", "012345", "991234", "710000",
               "160000", "650102", "1a0105"]
    accepted = 0
    for _ in range(20000):
        first17 = (f"{rng.choice(regions)}{rng.randint(1885, 2025):04d}"
                   f"{rng.randint(0, 13):02d}{rng.randint(0, 32):02d}{rng.randint(0, 999):03d}")
        last = id_check_char(first17) if first17.isdigit() else "0"
        if rng.random() < 0.2:
            last = rng.choice("0123456789Xx")
        value = first17 + last
        try:
            parsed = parse_id_number(value, today=today)
            slow = (parsed.kind, parsed.birth_date, parsed.sex) if parsed.number == value \
                else None
        except IdentifierError:
            slow = None
        assert check(value) == slow, value
        accepted += slow is not None
    assert accepted > 1000
    # full-width digits are normalised by the general path, never taken as they are
    assert check("１１０１０５１９４９１２３１００２Ｘ") is None
    assert parse_id_number("１１０１０５１９４９１２３１００２Ｘ").number == "11010519491231002X"


def _cells(row, width):
    return [*row, *([""] * (width - len(row))), ""]


def test_fast_row_check_equals_the_general_rules(places):
    """Every row the table-driven check accepts gets exactly the general path's clean
    values; every row the general path rejects is left to it."""
    from datetime import date

    from core.registry.importer import (
        _as_valid,
        _FastRows,
        _PlaceCodes,
        _validate_row,
        map_headers,
    )

    today = date(2024, 6, 1)
    header = [*HEAD, "出生日期", "民族", "国籍", "证件类型", "户籍地址", "入住日期"]
    mapping, _ = map_headers(header)
    codes_ = _PlaceCodes({C1: places.c1.id, C2: places.c2.id},
                         {G1: (places.g1.id, places.c1.id)})
    fast = _FastRows(mapping, len(header), codes_, today)
    base = [*good_rows()[0], "1960-01-01", "汉族", "", "居民身份证", "", ""]
    variants = {
        0: ["王建国", " 王建国", "王  建国", "", "x" * 51, "ＡＢ", "John Smith", "123"],
        1: [base[1], base[1].lower()[:-1] + "x", base[1][:17] + "0", make_id(seq=5)[:15],
            "12345", "", "E12345678"],
        2: ["男", "女", "M", "2", "火星", ""],
        3: ["13800000001", "+86 138 0000 0001", "010-12345678", "12345", "", "  "],
        4: ["户籍", "流动", "local", "火星", ""],
        5: [C1, C2, " " + C1, "110105001099", ""],
        6: [G1, "", "nope"],
        8: ["和平小区", ""],
        9: ["5栋", ""],
        11: ["301", ""],
        12: ["产权人", "租户", "业主", "火星", ""],
        13: ["H-1", ""],
        14: ["户主", "配偶", "02", "火星", ""],
        15: ["1960-01-01", "1960/1/1", "1960-01-02", "2099-01-01", "", "x"],
        16: ["汉族", "汉", "01", "火星族", ""],
        17: ["", "CHN", "kor", "KOREA"],
        18: ["居民身份证", "港澳台居民居住证", "护照", "nope", ""],
        19: ["", " 河北省 "],
        20: ["", "2020-05-01", "2099-01-01", "nope"],
    }
    rows = [base]
    for col, values in variants.items():
        for value in values:
            row = list(base)
            row[col] = value
            rows.append(row)
    accepted = 0
    for n, row in enumerate(rows, start=2):
        cells = _cells(row, len(header))
        v = fast.check(n, list(cells))
        rec = {key: cells[i] for i, key in mapping.items()}
        clean, errors = _validate_row(rec, codes_, today)
        if errors:
            assert v is None, (row, errors)
            continue
        if v is not None:
            accepted += 1
            assert v == _as_valid(n, clean, rec, codes_), row
    assert accepted >= 30


def test_parallel_import_reports_and_writes_the_same(db_session, kernel, places, tmp_path):
    """The validating process: same report (rows, reasons, order), same registry."""
    rows = good_rows()
    rows.insert(1, ["", "11010519491231002A", "男", "12345", "火星", "110105001099", "nope",
                    "", "", "", "", "101", "", "", ""])
    rows.append(["重复", rows[0][1], "", "", "", C1, "", "", "", "", "", "", "", "", ""])
    bad = write_csv(tmp_path / "bad.csv", rows)
    one = import_persons(db_session, bad, bus=kernel.bus, parallel=False, chunk=2)
    two = import_persons(db_session, bad, bus=kernel.bus, parallel=True, chunk=2)
    assert not one.ok and not two.ok and count(db_session, Person) == 0
    assert [(e.row, e.field, e.message, e.name, e.value) for e in one.rejected] == \
        [(e.row, e.field, e.message, e.name, e.value) for e in two.rejected]
    assert (one.total, one.rejected_rows) == (two.total, two.rejected_rows) == (6, [3, 7])

    good = write_csv(tmp_path / "good.csv", good_rows())
    report = import_persons(db_session, good, bus=kernel.bus, parallel=True, chunk=3)
    db_session.commit()
    assert report.ok and report.committed and report.created == 4
    head = s.find_by_id_number(db_session, make_id("1960-01-01", "M", seq=1))
    assert (head.name_pinyin, head.sex, head.birth_date.isoformat()) == (
        "wangjianguo", "M", "1960-01-01")
    assert db_session.get(Household, head.household_id).head_id == head.id
    again = import_persons(db_session, good, bus=kernel.bus, parallel=True)
    assert (again.created, again.unchanged) == (0, 4)


def test_large_import_rebuilds_indexes_and_restores_the_cache(db_session, kernel, places,
                                                              tmp_path, monkeypatch):
    """The bulk path of a load bigger than the registry: indexes dropped and rebuilt, the
    SQLite page cache grown for the load and put back."""
    from core.registry import bulk

    monkeypatch.setattr(bulk, "REBUILD_THRESHOLD", 2)
    raw = db_session.connection().connection.dbapi_connection
    before = raw.execute("PRAGMA cache_size").fetchone()[0] \
        if kernel.db.dialect == "sqlite" else None
    report = import_persons(db_session, write_csv(tmp_path / "a.csv", good_rows()),
                            bus=kernel.bus)
    db_session.commit()
    assert report.ok and report.indexes_rebuilt and report.created == 4
    assert [i["name"] for i in s.search_persons(db_session, actor=None, query="jiehong"
                                                ).items] == ["解红"]
    if before is not None:
        assert raw.execute("PRAGMA cache_size").fetchone()[0] == before
    else:  # PostgreSQL: the foreign keys dropped for the load are back
        from sqlalchemy import text

        fks = set(db_session.scalars(text(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid = 'registry_person'::regclass")))
        assert {c.name for c in Person.__table__.foreign_key_constraints} == fks


def _snapshot(session):
    """The registry's persons as plain facts (no ids, which a database may hand out
    differently after a rollback)."""
    from core.registry.models import PersonKey

    rows = session.execute(
        select(Person.id_number, Person.name, Person.name_pinyin, Person.name_initials,
               Person.sex, Person.birth_date, Person.phone, Person.hukou_type,
               Person.relation, Dwelling.address, Dwelling.is_rental, Household.number,
               Residence.role, Residence.started_on)
        .outerjoin(Dwelling, Dwelling.id == Person.dwelling_id)
        .outerjoin(Household, Household.id == Person.household_id)
        .outerjoin(Residence, Residence.person_id == Person.id)
        .order_by(Person.id_number)).all()
    heads = set(session.execute(select(Household.number, Person.id_number)
                                .join(Person, Person.id == Household.head_id)).all())
    keys = set(session.execute(select(Person.id_number, PersonKey.key, PersonKey.kind)
                               .join(Person, Person.id == PersonKey.person_id)).all())
    return [tuple(r) for r in rows], heads, keys


def test_validating_process_builds_the_rows_of_an_empty_registry(db_session, kernel,
                                                                  tmp_path, monkeypatch):
    """Into a registry without persons or places the validating process also builds the
    rows (SQLite): the registry must come out the same as from one process."""
    from core.registry import importer

    seen = []
    real = importer._Validator.__init__

    def spy(self, *args, **kwargs):
        seen.append(args[-1] if len(args) == 8 else kwargs.get("assemble"))
        real(self, *args, **kwargs)

    monkeypatch.setattr(importer._Validator, "__init__", spy)
    street = s.create_street(db_session, code="110105001", name="和平街道")
    c1 = s.create_community(db_session, code=C1, name="和平里社区", street=street)
    s.create_community(db_session, code=C2, name="安康社区", street=street)
    s.create_grid(db_session, code=G1, name="第一网格", community=c1)
    db_session.commit()
    rows = good_rows()
    rows.append(["曾乐", make_id("2001-05-05", "F", seq=7), "", "13900000007", "", C1, G1,
                 "和平路88号", "和平小区", "6栋", "1单元", "101", "租户", "", ""])
    path = write_csv(tmp_path / "a.csv", rows)
    one = import_persons(db_session, path, bus=kernel.bus, parallel=False, chunk=2)
    db_session.flush()
    expected = _snapshot(db_session)
    db_session.rollback()
    assert count(db_session, Person) == 0
    two = import_persons(db_session, path, bus=kernel.bus, parallel=True, chunk=2)
    db_session.commit()
    assert one.ok and two.ok and two.committed
    for field in ("total", "created", "new_dwellings", "new_households"):
        assert getattr(one, field) == getattr(two, field), field
    assert _snapshot(db_session) == expected
    assert (seen[0] is not None) == (kernel.db.dialect == "sqlite")  # it did assemble
    assert len(expected[0]) == 5 and ("H-1", make_id("1960-01-01", "M", seq=1)) in expected[1]
    assert any(k[0] == make_id("2001-05-05", "F", seq=7) for k in expected[2])  # 曾: ceng


def test_every_exported_person_is_in_their_access_log(app, db_session, kernel, places,
                                                      tmp_path):
    """The access-log rule for exports: one entry per exported person — masked (naming
    the name and the masked fields the file shows) or full (naming what was revealed) —
    with the exporting account as viewer; identical exports of a day aggregate."""
    from core.registry.cli import cli_actor
    from core.testing import access_log

    import_persons(db_session, write_csv(tmp_path / "a.csv", good_rows()), bus=kernel.bus)
    db_session.commit()
    pids = list(db_session.scalars(select(Person.id).order_by(Person.id)))
    actor = cli_actor()
    for _ in range(2):
        assert export_persons(db_session, tmp_path / "m.csv", actor=actor, via="cli") == 4
        db_session.commit()
    child = db_session.scalar(select(Person.id).where(Person.name == "王小明"))
    for pid in pids:
        (entry,) = access_log(app, pid, via="cli")
        assert entry["actor"] == actor.username and entry["masked"] is True
        assert entry["count"] == 2 and entry["purpose"] == "registry export"
        expected = {"name", "id_number", "birth_date", "address"} | (
            set() if pid == child else {"phone"})  # 王小明 has no phone
        assert set(entry["fields"]) == expected
    assert export_persons(db_session, tmp_path / "f.xlsx", actor=actor, reveal=True,
                          purpose="年度核查", community=C2, via="cli") == 1
    db_session.commit()
    c2 = db_session.scalar(select(Person.id).where(Person.name == "解红"))
    full = [e for e in access_log(app, c2, via="cli") if not e["masked"]]
    assert [(e["purpose"], sorted(e["fields"])) for e in full] == [
        ("年度核查", ["address", "birth_date", "id_number", "phone"])]
    assert all(e["masked"] for e in access_log(app, pids[0], via="cli"))  # not in C2


def test_an_export_beside_a_writer_neither_fails_nor_loses_entries(app, db_session, kernel,
                                                                    places, tmp_path,
                                                                    monkeypatch):
    """An export while another connection keeps committing (an import, the delivery thread,
    a clerk's edit). It used to write its access-log entries while its read cursor was
    still open, and on SQLite a write on an older snapshot fails at once ("database is
    locked": the bench's export beside an import answered 503). Each chunk is now read in
    full and its entries committed before the next read, so the writer and the export
    take turns and every exported person is in the access log."""
    import threading

    from core.audit.models import AccessEntry as Entry
    from core.registry.cli import cli_actor
    from core.registry.importer import export as export_module

    # More persons than one fetch of a streaming cursor (2,000), so a cursor would still be
    # open at the first chunk's write.
    given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
    rows = [[f"王{given[i % 21]}{given[i // 21 % 21]}{given[i // 441]}",
             make_id(date(1950, 1, 1) + timedelta(days=i // 400), "M", seq=i % 400),
             "男", "", "户籍", C1, G1, "和平路88号", "和平小区", "5栋", "1单元",
             str(100 + i), "", "", ""] for i in range(2300)]
    import_persons(db_session, write_csv(tmp_path / "a.csv", rows), bus=kernel.bus)
    db_session.commit()
    monkeypatch.setattr(export_module, "ACCESS_BATCH", 500)
    pids = list(db_session.scalars(select(Person.id).order_by(Person.id)))
    stop, errors, commits = threading.Event(), [], []

    def writer() -> None:
        with kernel.db.Session() as other:
            while not stop.is_set():
                try:
                    person = other.get(Person, pids[0])
                    person.hukou_place = "北京市" if person.hukou_place != "北京市" else "天津市"
                    other.commit()
                    commits.append(1)
                except Exception as exc:  # reported below
                    errors.append(exc)
                    other.rollback()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while not commits:  # the writer is committing before the export starts
            stop.wait(0.01)
        for _ in range(2):
            assert export_persons(db_session, tmp_path / "m.csv", actor=cli_actor(),
                                  via="cli") == len(pids)
            db_session.commit()
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    logged = set(db_session.scalars(select(Entry.subject_person_id)
                                    .where(Entry.via == "cli")))
    assert logged == set(pids)
