"""The import template and reading a file: the columns (:data:`COLUMNS`), the report an
import returns, and CSV/XLSX into rows of cells.

Everything here is about the file, nothing about the registry: the validating process
(:mod:`.parallel`) reads the file with the same functions, and the web and CLI map a file's
headers (:func:`map_headers`) before anything is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from core.exports import csv_writer
from core.registry.errors import RegistryError

#: Called with the number of rows done since the last call.
Progress = Callable[[int], None]
#: A file's (row number, cells), a generator: closing it closes the file.
Rows = Generator[tuple[int, list[Any]], None, None]


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    required: bool = False
    note: str = ""
    aliases: tuple[str, ...] = ()


#: The import/export template. Headers match case-insensitively, ignoring spaces.
COLUMNS: tuple[Column, ...] = (
    Column("name", "姓名", "name", True, "as on the document"),
    Column("id_type", "证件类型", "id_type", False,
           "居民身份证 (default), 港澳台居民居住证, 外国人永久居留身份证, 港澳居民来往内地通行证, "
           "台湾居民来往大陆通行证, 护照, 其他证件 — or the English code"),
    Column("id_number", "证件号码", "id_number", True,
           "18 characters (15-digit legacy numbers are upgraded); keep the column as text "
           "in Excel", ("身份证号", "身份证号码", "公民身份号码", "id_no")),
    Column("sex", "性别", "sex", False, "男/女 or M/F; must agree with the ID number"),
    Column("birth_date", "出生日期", "birth_date", False,
           "YYYY-MM-DD; required without an ID number; must agree with it"),
    Column("ethnicity", "民族", "ethnicity", False, "汉族 / 汉 / 01 (GB 3304)"),
    Column("nationality", "国籍", "nationality", False, "ISO 3166 alpha-3; empty = China"),
    Column("phone", "联系电话", "phone", False, "mobile or landline with area code",
           ("手机号", "手机号码", "电话")),
    Column("hukou_type", "人口类型", "hukou_type", False,
           "户籍/流动/境外/未落户 or local/floating/overseas/unregistered", ("户籍类型",)),
    Column("hukou_place", "户籍地址", "hukou_place", False, "for floating residents",
           ("户籍地",)),
    Column("community", "社区代码", "community", True, "12-digit division code",
           ("社区编码", "community_code")),
    Column("grid", "网格编码", "grid", False, "grid code", ("网格", "网格代码", "grid_code")),
    Column("road", "门牌地址", "road", False, "road and number, e.g. 和平路88号", ("道路门牌",)),
    Column("estate", "小区", "estate", False, "residential estate"),
    Column("building", "楼栋", "building", False, "e.g. 3栋"),
    Column("unit", "单元", "unit", False, "e.g. 2单元"),
    Column("room", "房号", "room", False, "e.g. 1502 (needs a building)", ("室",)),
    Column("residence_role", "居住类型", "residence_role", False,
           "产权人/租户/其他 or owner/tenant/other", ("居住方式",)),
    Column("moved_in", "入住日期", "moved_in", False, "YYYY-MM-DD (default: today)"),
    Column("household_no", "户号", "household_no", False, "household book number"),
    Column("relation", "与户主关系", "relation", False,
           "户主/配偶/子/女/... or GB/T 4761 code; needs a household number"),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
_PLACE_FIELDS = ("community", "grid", "road", "estate", "building", "unit", "room",
                 "residence_role", "moved_in", "household_no", "relation")


class ImportFileError(RegistryError):
    """The file as a whole cannot be imported (unreadable, missing required columns)."""


@dataclass
class RowError:
    row: int  # the spreadsheet row number (the header is row 1)
    field: str
    message: str
    name: str = ""
    value: str = ""  # masked where sensitive


#: A dry run lists at most this many rows with changes (:attr:`ImportReport.diffs`).
DIFF_LIMIT = 500


@dataclass
class RowDiff:
    """What one row would do (a dry run) or was refused for (a conflict): ``changes`` is
    ``[(field, old, new)]``, ID numbers and phones masked, a registered name masked."""

    row: int
    person_id: int | None
    action: str  # "create" | "update" | "unchanged" | "conflict"
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    new_dwellings: int = 0
    new_households: int = 0
    rejected: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    committed: bool = False
    batch_id: int | None = None
    first_person_id: int | None = None
    last_person_id: int | None = None
    indexes_rebuilt: bool = False
    seconds: float = 0.0
    #: The :class:`~core.registry.models.RegistryImport` of a committed run (else None).
    import_id: int | None = None
    #: Per row with changes, what changes (dry runs; conflicts always), at most
    #: :data:`DIFF_LIMIT` rows — ``diffs_capped`` when there were more. Unchanged rows are
    #: counted (``unchanged``), not listed.
    diffs: list[RowDiff] = field(default_factory=list)
    diffs_capped: bool = False
    correction: bool = False

    @property
    def ok(self) -> bool:
        return not self.rejected

    @property
    def rejected_rows(self) -> list[int]:
        return sorted({e.row for e in self.rejected})

    def summary(self) -> str:
        mode = "dry run: would create" if self.dry_run else "created"
        line = (f"{self.total} rows: {mode} {self.created}, updated {self.updated}, "
                f"unchanged {self.unchanged}, rejected {len(self.rejected_rows)}")
        if self.rejected and not self.dry_run:
            line += " — nothing was written (all or nothing)"
        return line


# ------------------------------------------------------------------------------ reading


def _norm_header(text: Any) -> str:
    return str(text or "").strip().lower().replace(" ", "").replace("_", "")


_HEADER_INDEX: dict[str, str] = {}
for _c in COLUMNS:
    for _h in (_c.key, _c.zh, _c.en, *_c.aliases):
        _HEADER_INDEX[_norm_header(_h)] = _c.key


#: How to import a roster without a community column (part of the missing-column message).
COMMUNITY_HINT = ("Add the column, or say which community every row is for: "
                  "--community CODE on the command line, or the community field on the "
                  "import page.")


def map_headers(headers: Sequence[Any], *, community: str | None = None
                ) -> tuple[dict[int, str], list[str]]:
    """(column index → field key, warnings); raises :class:`ImportFileError` when a
    required column is missing or a column appears twice. ``community``: the community
    every row is for, given instead of the column (then the file must not have one)."""
    mapping: dict[int, str] = {}
    warnings: list[str] = []
    for i, header in enumerate(headers):
        if header is None or not str(header).strip():
            continue
        key = _HEADER_INDEX.get(_norm_header(header))
        if key is None:
            warnings.append(f"column '{header}' is not in the template and was ignored")
            continue
        if key in mapping.values():
            raise ImportFileError("The column %(column)s appears twice.", "header",
                                  column=str(header))
        mapping[i] = key
    present = set(mapping.values())
    if community and "community" in present:
        raise ImportFileError(
            "The file has a community column already; import it without choosing a "
            "community, or remove the column.", "community")
    missing = [c for c in COLUMNS if c.required and c.key not in present
               and not (c.key == "community" and community)]
    if missing:
        names = ", ".join(c.zh + "/" + c.en for c in missing)
        if any(c.key == "community" for c in missing):
            raise ImportFileError("Required columns are missing: %(columns)s. " + COMMUNITY_HINT,
                                  "header", columns=names)
        raise ImportFileError("Required columns are missing: %(columns)s.", "header",
                              columns=names)
    return mapping, warnings


def _supply(rows: Iterator[tuple[int, list[Any]]], width: int, value: str
            ) -> Rows:
    """The rows with ``value`` as one more cell (index ``width``): the community given
    for a file without that column. Blank rows stay blank (they are skipped)."""
    for rownum, cells in rows:
        if len(cells) != width:
            cells = [*cells[:width], *([""] * (width - len(cells)))]
        else:
            cells = list(cells)
        if any(c is not None and str(c).strip() for c in cells):
            cells.append(value)
        yield rownum, cells


def _fmt(source: Any, fmt: str | None) -> str:
    if fmt:
        return fmt.lower()
    name = str(getattr(source, "name", source) or "")
    return "xlsx" if name.lower().endswith((".xlsx", ".xlsm")) else "csv"


def _cell(value: Any) -> Any:
    """Spreadsheet cell → text, except numbers that may have lost digits (kept as-is so
    the ID check can say so) and dates."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _open_text(source: str | Path | IO[Any]) -> IO[str]:
    """UTF-8 (with or without BOM), else GB18030 (Excel on Chinese Windows saves CSV as
    GBK): decided from the first 64 KiB."""
    if hasattr(source, "read"):
        data = source.read()
        if isinstance(data, bytes):
            try:
                return io.StringIO(data.decode("utf-8-sig"))
            except UnicodeDecodeError:
                return io.StringIO(data.decode("gb18030"))
        return io.StringIO(data)
    path = Path(source)
    with path.open("rb") as fh:
        head = fh.read(65536)
    try:
        head.decode("utf-8-sig")
        encoding = "utf-8-sig"
    except UnicodeDecodeError as exc:
        encoding = "utf-8-sig" if exc.start >= len(head) - 3 else "gb18030"
    return path.open("r", encoding=encoding, newline="")


def estimate_rows(source: str | Path | IO[Any], fmt: str | None = None) -> int:
    """About how many data rows a file has (for progress bars and the index decision),
    without parsing it: newlines for CSV, the sheet's dimension for XLSX."""
    if not isinstance(source, str | Path):
        return 0
    if _fmt(source, fmt) == "xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(source, read_only=True)
        try:
            return max(0, (wb.worksheets[0].max_row or 1) - 1)
        finally:
            wb.close()
    count = 0
    with Path(source).open("rb") as raw:
        for block in iter(lambda: raw.read(1 << 20), b""):
            count += block.count(b"\n")
    return max(0, count - 1)


def read_table(source: str | Path | IO[Any], fmt: str | None = None
               ) -> tuple[list[Any], Rows, int]:
    """(headers, iterator of (row number, cells), estimated data rows)."""
    if _fmt(source, fmt) == "xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(source, read_only=True, data_only=True)
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        headers = list(next(rows, ()) or ())
        estimate = max(0, (ws.max_row or 1) - 1)

        def xlsx_rows() -> Rows:
            try:
                for n, row in enumerate(rows, start=2):
                    yield n, [_cell(v) for v in row]
            finally:
                wb.close()

        return headers, xlsx_rows(), estimate
    fh = _open_text(source)
    estimate = estimate_rows(source, "csv")
    reader = csv.reader(fh)
    headers = next(reader, [])

    def csv_rows() -> Rows:
        try:
            yield from enumerate(reader, start=2)
        finally:
            fh.close()

    return headers, csv_rows(), estimate



def write_report(report: ImportReport, target: str | Path) -> None:
    """The rejected rows as CSV (row, field, message, name, masked value); cells that a
    spreadsheet would run as formulas are neutralised (core.exports)."""
    with Path(target).open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv_writer(fh)
        out.writerow(["row", "field", "message", "name", "value"])
        for e in sorted(report.rejected, key=lambda e: (e.row, e.field)):
            out.writerow([e.row, e.field, e.message, e.name, e.value])
        if report.diffs:
            # The dry run's diff: one line per changed field (masked as in the report).
            out.writerow([])
            out.writerow(["row", "person_id", "action", "field", "old", "new"])
            for d in report.diffs:
                for f, old, new in d.changes or [("", "", "")]:
                    out.writerow([d.row, d.person_id or "", d.action, f,
                                  "" if old is None else old, "" if new is None else new])
            if report.diffs_capped:
                out.writerow([f"only the first {len(report.diffs)} rows with changes "
                              "are listed"])

