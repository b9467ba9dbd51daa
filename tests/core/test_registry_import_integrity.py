"""Imports that only change what the file says (issue 18): a partial-column update leaves
every other field as it is, a blank cell leaves the value unless ``blank_clears``, an ID
number registered under another name is a rejected row (never a rename), and a roster
without a community column imports with ``--community`` (or the page's field) within the
worker's places. Each path: one process (the table-driven check and the general rules)
and the validating process."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from core.registry import services as s
from core.registry.cli import registry
from core.registry.importer import ImportFileError, import_persons
from core.registry.models import Person
from core.registry.testing import C1, C2, G1, ensure_registry, make_id, make_places

pytestmark = pytest.mark.with_plugins()

FULL = ["姓名", "证件号码", "性别", "民族", "国籍", "联系电话", "人口类型", "户籍地址",
        "社区代码", "网格编码", "门牌地址", "小区", "楼栋", "单元", "房号", "户号", "与户主关系"]
ID1 = make_id("1960-01-01", "M", seq=1)
ID2 = make_id("1962-02-02", "F", seq=2, region="410105")
ID3 = make_id("1990-03-03", "M", seq=3)


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
    # row 2 goes through the table-driven check; row 3 (a landline) through the general
    # rules; row 4 is a floating resident with a hukou place.
    return [
        ["王建国", ID1, "男", "汉族", "", "13800000001", "户籍", "", C1, G1, "和平路88号",
         "和平小区", "5栋", "1单元", "301", "H-1", "户主"],
        ["李芳", ID2, "女", "回族", "", "010-12345678", "流动", "河南省郑州市", C1, G1,
         "和平路88号", "和平小区", "5栋", "1单元", "301", "H-1", "配偶"],
        ["赵强", ID3, "男", "01", "", "13800000003", "流动", "河北省", C2, "", "安康街8号",
         "安康苑", "1栋", "1单元", "102", "", ""],
    ]


FIELDS = ("name", "id_type", "sex", "birth_date", "phone", "ethnicity", "nationality",
          "hukou_type", "hukou_place", "dwelling_id", "household_id", "relation",
          "community_id", "grid_id")


def state(session, number):
    session.expire_all()
    p = s.find_by_id_number(session, number)
    return {f: getattr(p, f) for f in FIELDS}


def count(session):
    return session.scalar(select(func.count()).select_from(Person))


@pytest.fixture
def loaded(db_session, kernel, places, tmp_path):
    report = import_persons(db_session, write_csv(tmp_path / "full.csv", FULL, full_rows()),
                            bus=kernel.bus)
    db_session.commit()
    assert report.ok and report.created == 3, report.rejected
    return {n: state(db_session, n) for n in (ID1, ID2, ID3)}


# ------------------------------------------------------------------------------ columns


@pytest.mark.parametrize("parallel", [False, True])
def test_partial_update_changes_only_the_columns_in_the_file(db_session, kernel, loaded,
                                                             tmp_path, parallel):
    """A 4-column update file (name, ID number, community, phone) changes the phones and
    nothing else: 民族, hukou type and place, household, dwelling stay as they were."""
    path = write_csv(tmp_path / "phones.csv", ["姓名", "证件号码", "社区代码", "联系电话"], [
        ["王建国", ID1, C1, "13900000001"],
        ["李芳", ID2, C1, "01087654321"],
        ["赵强", ID3, C2, "13800000003"],  # the same phone: unchanged
    ])
    report = import_persons(db_session, path, bus=kernel.bus, parallel=parallel, chunk=2)
    db_session.commit()
    assert report.ok and (report.updated, report.unchanged) == (2, 1), report.rejected
    for number, phone in ((ID1, "13900000001"), (ID2, "01087654321"),
                          (ID3, "13800000003")):
        after = state(db_session, number)
        assert after == {**loaded[number], "phone": phone}
    assert loaded[ID1]["ethnicity"] == "01" and loaded[ID2]["ethnicity"] == "03"
    assert loaded[ID2]["hukou_type"] == "floating"


@pytest.mark.parametrize("parallel", [False, True])
def test_blank_cells_leave_values_unless_blank_clears(db_session, kernel, loaded, tmp_path,
                                                      parallel):
    header = ["姓名", "证件号码", "社区代码", "民族", "联系电话", "人口类型", "户籍地址",
              "性别", "国籍", "证件类型"]
    rows = [["王建国", ID1, C1, "", "", "", "", "", "", ""],
            ["李芳", ID2, C1, "", "", "", "", "", "", ""]]
    path = write_csv(tmp_path / "blank.csv", header, rows)
    report = import_persons(db_session, path, bus=kernel.bus, parallel=parallel)
    db_session.commit()
    assert report.ok and (report.updated, report.unchanged) == (0, 2), report.rejected
    assert state(db_session, ID1) == loaded[ID1] and state(db_session, ID2) == loaded[ID2]

    report = import_persons(db_session, path, bus=kernel.bus, parallel=parallel,
                            blank_clears=True)
    db_session.commit()
    assert report.ok and report.updated == 2, report.rejected
    after = state(db_session, ID2)
    assert (after["ethnicity"], after["phone"], after["hukou_place"]) == (None, None, None)
    # a field with a default takes it; sex and birth date still come from the ID number
    assert (after["hukou_type"], after["sex"], after["id_type"]) == ("local", "F",
                                                                     "resident_id")
    assert after["dwelling_id"] == loaded[ID2]["dwelling_id"]
    hist = [(c.field, c.via) for c in s.history(db_session, "person",
                                                s.find_by_id_number(db_session, ID2).id)]
    assert ("ethnicity", "import") in hist


# ------------------------------------------------------------------------------ names


@pytest.mark.parametrize("parallel", [False, True])
def test_same_id_number_other_name_is_rejected_never_renamed(db_session, kernel, loaded,
                                                             tmp_path, parallel):
    rows = full_rows()
    rows[0][5] = "13700000001"  # a real change in another row: not written either
    rows[1][0] = "李芳芳"
    path = write_csv(tmp_path / "rename.csv", FULL, rows)
    report = import_persons(db_session, path, bus=kernel.bus, parallel=parallel)
    db_session.commit()
    assert not report.ok and not report.committed and report.rejected_rows == [3]
    (error,) = report.rejected
    assert (error.field, error.name) == ("name", "李芳芳")
    assert "李*" in error.message and "李芳芳" in error.message
    assert "correction request" in error.message and ID2[-4:] in error.message
    assert ID2 not in error.message and "李芳," not in error.message
    for number in (ID1, ID2, ID3):
        assert state(db_session, number) == loaded[number]  # nothing half-written
    dry = import_persons(db_session, path, bus=kernel.bus, dry_run=True)
    assert dry.rejected_rows == [3]


# ------------------------------------------------------------------------------ community


ROSTER = ["姓名", "证件号码", "联系电话", "楼栋", "单元", "房号"]


def roster_rows():
    return [["孙一", make_id("1970-01-01", "M", seq=41), "13800000041", "7栋", "1单元", "101"],
            ["", "", "", "", "", ""],  # a blank row stays blank (skipped)
            ["孙二", make_id("1971-01-01", "F", seq=42), "010-12345678", "7栋", "1单元", "102"]]


@pytest.mark.parametrize("parallel", [False, True])
def test_roster_without_community_column_imports_with_community(db_session, kernel, places,
                                                                 tmp_path, parallel):
    path = write_csv(tmp_path / "roster.csv", ROSTER, roster_rows())
    with pytest.raises(ImportFileError, match="--community") as info:
        import_persons(db_session, path, bus=kernel.bus, parallel=parallel)
    assert "社区代码/community" in str(info.value)
    report = import_persons(db_session, path, bus=kernel.bus, parallel=parallel,
                            community=C2)
    db_session.commit()
    assert report.ok and report.created == 2 and report.total == 2, report.rejected
    p = s.find_by_id_number(db_session, make_id("1970-01-01", "M", seq=41))
    assert p.community_id == places.c2.id and p.dwelling_id is not None
    with pytest.raises(ImportFileError, match="No community"):
        import_persons(db_session, path, bus=kernel.bus, community="110105001099")
    full = write_csv(tmp_path / "full.csv", FULL, full_rows())
    with pytest.raises(ImportFileError, match="community column already"):
        import_persons(db_session, full, bus=kernel.bus, community=C1)


def test_cli_community_option_and_per_file_message(app, kernel, places, tmp_path):
    from core.cli import AppContext

    obj = AppContext()
    obj._app = app
    runner = CliRunner()
    path = write_csv(tmp_path / "roster.csv", ROSTER, roster_rows())
    report_path = tmp_path / "r.csv"
    result = runner.invoke(registry, ["import", str(path), "--report", str(report_path)],
                           obj=obj)
    assert result.exit_code == 2
    assert "--community CODE" in result.output and "社区代码/community" in result.output
    lines = report_path.read_text(encoding="utf-8-sig").strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("1,header,") and "--community" in lines[1]
    result = runner.invoke(registry, ["import", str(path), "--community", C1], obj=obj)
    assert result.exit_code == 0, result.output
    assert "created 2" in result.output
    # --blank-clears is accepted and a blank phone then clears it
    update = write_csv(tmp_path / "u.csv", ["姓名", "证件号码", "联系电话"],
                       [["孙一", make_id("1970-01-01", "M", seq=41), ""]])
    result = runner.invoke(registry, ["import", str(update), "--community", C1], obj=obj)
    assert result.exit_code == 0 and "updated 0" in result.output, result.output
    result = runner.invoke(registry, ["import", str(update), "--community", C1,
                                      "--blank-clears"], obj=obj)
    assert result.exit_code == 0 and "updated 1" in result.output, result.output
    with kernel.db.Session() as session:
        assert s.find_by_id_number(session, make_id("1970-01-01", "M", seq=41)).phone is None


# ------------------------------------------------------------------------------ page


def test_import_page_community_field_within_the_workers_places(app):
    from test_registry_api import build_world, person_count, sign_in

    from core.testing import csrf_token

    build_world(app)
    client = sign_in(app, "wk1")  # a worker of C1 only
    body = "\ufeff姓名,证件号码,联系电话\n周一," + make_id("1975-01-01", "M", seq=51) + \
        ",13800000051\n"

    def upload(community="", blank=False):
        data = {"csrf_token": csrf_token(client, "/registry/import"),
                "file": (io.BytesIO(body.encode("utf-8")), "roster.csv"),
                "community": community}
        if blank:
            data["blank_clears"] = "yes"
        return client.post("/registry/import", data=data, content_type="multipart/form-data")

    page = client.get("/registry/import").get_data(as_text=True)
    assert 'name="community"' in page and 'name="blank_clears"' in page
    assert f'value="{C1}"' in page and f'value="{C2}"' not in page
    missing = upload()
    assert missing.status_code == 400
    assert "--community" in missing.get_data(as_text=True)
    outside = upload(C2)
    assert outside.status_code == 400 and "error-summary" in outside.get_data(as_text=True)
    before = person_count(app)
    resp = upload(C1)
    assert resp.status_code == 303, resp.get_data(as_text=True)
    check_url = resp.headers["Location"]
    assert "和平里社区" in client.get(check_url).get_data(as_text=True)  # by name
    token = check_url.rsplit("/", 1)[1]
    done = client.post(f"/registry/import/{token}",
                       data={"csrf_token": csrf_token(client, check_url)})
    assert done.status_code == 303 and person_count(app) == before + 1
