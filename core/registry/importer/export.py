"""Exporting persons in the template's columns, and the empty template.

Apart from the import because an export is a read with its own rules: masking unless
revealed (with the permission and a purpose), an access-log entry for every person in the
file, and the staff's place scope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session

from core.exports import csv_writer, xlsx_row
from core.registry import codes
from core.registry.importer.reading import COLUMNS, Progress, _fmt
from core.registry.models import (
    Building,
    Community,
    Dwelling,
    Grid,
    Household,
    Person,
    Residence,
    Unit,
)
from core.registry.present import (
    ALL_SCOPES,
    check_reveal,
    display_entry,
    log_displays,
)
from core.registry.search import place_filter
from core.registry.validation import mask_id_number, mask_phone

# ------------------------------------------------------------------------------ export

#: The access-log purpose of an export made without one (a masked export needs none).
EXPORT_PURPOSE = "registry export"
#: Persons read, written and access-logged per chunk of an export (one commit each; memory
#: stays bounded and SQLite's write lock is held for one chunk's entries at a time).
ACCESS_BATCH = 2000


def _chunks(session: Session, query: Select, *, on_chunk: Callable[[], None]
            ) -> Iterator[Row]:
    """The rows of ``query`` (ordered by person id) in chunks of :data:`ACCESS_BATCH`, each
    fetched in full so no cursor is open when ``on_chunk`` writes; ``on_chunk`` runs after
    a chunk's rows were used and before the next chunk is read."""
    last = 0
    while True:
        rows = session.execute(query.where(Person.id > last).limit(ACCESS_BATCH)).all()
        yield from rows
        if rows:
            on_chunk()
        if len(rows) < ACCESS_BATCH:
            return
        last = rows[-1][0].id


def _commit_entries(session: Session, access: list[dict[str, Any] | None]) -> None:
    log_displays(session, access)
    access.clear()
    session.commit()


def write_template(target: str | Path, *, lang: str = "zh") -> None:
    """An empty template with the headers in ``lang`` ("zh" or "en")."""
    headers = [c.zh if lang == "zh" else c.en for c in COLUMNS]
    if _fmt(target, None) == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.append(xlsx_row(ws, headers))
        for col in ws.iter_cols(min_row=1, max_row=1):
            col[0].number_format = "@"
        wb.save(target)
        return
    with Path(target).open("w", encoding="utf-8-sig", newline="") as fh:
        csv_writer(fh).writerow(headers)


def export_persons(
    session: Session,
    target: str | Path,
    *,
    actor: Any = None,
    reveal: bool = False,
    purpose: str = "",
    community: str | None = None,
    status: str | None = "active",
    lang: str = "zh",
    fmt: str | None = None,
    via: str = "export",
    facts: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> int:
    """Write persons in the template's columns (so a revealed export re-imports as
    unchanged). ID numbers, phones, birth dates and room-level addresses are masked unless
    ``reveal`` — which needs the permission and a purpose. Every exported person gets an
    access-log entry either way: a masked one naming what the file shows of them (name,
    and the masked values), or a full one naming the revealed fields. Staff actors export
    only their communities and grids. Cells that a spreadsheet would run as formulas are
    neutralised (core.exports: an apostrophe in CSV, a plain-text cell in XLSX).

    Commits ``session`` after each chunk of :data:`ACCESS_BATCH` persons, their entries
    with it. Why: on SQLite a write made while a read cursor is open on an older snapshot
    fails at once ("database is locked": waiting cannot help it), and one transaction for
    the whole export would hold the single write lock until the file is done, stalling an
    import and every other writer. So each chunk is read in full (keyset on the person
    id), written to the file, and its entries committed before the next read: every
    person is in the access log before the file can leave, and the log never lags behind
    the file (an export that fails half-way keeps the entries of what it had read)."""
    fields = ["id_number", "birth_date", "phone", "address"]
    if reveal:
        check_reveal(actor, -1, fields, ALL_SCOPES, purpose)
    query = (
        select(Person, Community.code, Grid.code, Building.address, Building.estate,
               Building.name, Unit.name, Dwelling.room, Household.number, Residence.role,
               Residence.started_on)
        .outerjoin(Community, Community.id == Person.community_id)
        .outerjoin(Grid, Grid.id == Person.grid_id)
        .outerjoin(Dwelling, Dwelling.id == Person.dwelling_id)
        .outerjoin(Unit, Unit.id == Dwelling.unit_id)
        .outerjoin(Building, Building.id == Unit.building_id)
        .outerjoin(Household, Household.id == Person.household_id)
        .outerjoin(Residence, (Residence.person_id == Person.id)
                   & (Residence.dwelling_id == Person.dwelling_id)
                   & Residence.ended_on.is_(None))
        .order_by(Person.id)
    )
    staff = place_filter(session, actor)
    if staff is not None:
        query = query.where(staff)
    if status:
        query = query.where(Person.status == status)
    if community:
        query = query.where(Community.code == community)
    headers = [c.zh if lang == "zh" else c.en for c in COLUMNS]
    why = purpose.strip() or EXPORT_PURPOSE
    access: list[dict[str, Any] | None] = []
    count = 0
    xlsx = _fmt(target, fmt) == "xlsx"
    if xlsx:
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet()
        ws.append(xlsx_row(ws, headers))

        def emit(row: list[Any]) -> None:
            ws.append(xlsx_row(ws, row))

        fh = None
    else:
        fh = Path(target).open("w", encoding="utf-8-sig", newline="")  # noqa: SIM115
        writer = csv_writer(fh)
        writer.writerow(headers)
        emit = writer.writerow
    try:
        for row in _chunks(session, query, on_chunk=lambda: _commit_entries(session, access)):
            (p, ccode, gcode, road, estate, bname, uname, room, hno, role, since) = row
            birth = p.birth_date.isoformat() if p.birth_date else ""
            values = {
                "name": p.name, "id_type": codes.label(codes.ID_TYPES, p.id_type, lang),
                "id_number": p.id_number if reveal else mask_id_number(p.id_number),
                "sex": codes.label(codes.SEXES, p.sex, lang),
                "birth_date": birth if reveal else birth[:4] + ("-**-**" if birth else ""),
                "ethnicity": codes.ETHNICITIES.get(p.ethnicity or "", ""),
                "nationality": p.nationality or "", "phone": (p.phone if reveal
                                                              else mask_phone(p.phone)) or "",
                "hukou_type": codes.label(codes.HUKOU_TYPES, p.hukou_type, lang),
                "hukou_place": (p.hukou_place if reveal else
                                ("****" if p.hukou_place else "")) or "",
                "community": ccode or "", "grid": gcode or "", "road": road or "",
                "estate": estate or "", "building": bname or "",
                "unit": (uname or "") if reveal else "", "room": (room or "") if reveal
                else ("****" if room else ""),
                "residence_role": codes.label(codes.RESIDENCE_ROLES, role, lang),
                "moved_in": since.isoformat() if since else "",
                "household_no": hno or "",
                "relation": codes.label(codes.RELATIONS, p.relation, lang),
            }
            emit([values[c.key] for c in COLUMNS])
            count += 1
            shown = [f for f, v in (("id_number", p.id_number), ("birth_date", p.birth_date),
                                    ("phone", p.phone), ("address", room or p.hukou_place))
                     if v]
            access.append(display_entry(
                actor, p, fields=["name", *shown], revealed=shown if reveal else (),
                purpose=why, via=via, facts=facts))
            if progress and count % 1000 == 0:
                progress(1000)
    finally:
        if xlsx:
            wb.save(target)
        elif fh is not None:
            fh.close()
    return count

