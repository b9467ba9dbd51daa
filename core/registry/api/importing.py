"""Uploaded imports for the signed-in user, shared by ``POST /imports`` and the import
pages: rows outside the staff member's place scope are rejected like any invalid row."""

from __future__ import annotations

import io
from typing import Any

from flask import current_app
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.current import current_kernel
from core.identity.services import scope_allows
from core.registry.errors import RegistryError
from core.registry.importer import ImportFileError, ImportReport, RowError, import_persons
from core.registry.models import (
    Person,
)
from core.registry.search import place_filter
from core.registry.validation import normalise_document, normalise_id_number

# ------------------------------------------------------------------------------ imports


class NamedBytes(io.BytesIO):
    """An uploaded file in memory with the name the importer reads its format from."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.name = name


UNREADABLE = "The file cannot be read as CSV or XLSX."
OUTSIDE_COMMUNITY = "This community is outside the places you are assigned."
OUTSIDE_PERSON = ("This document number belongs to a person registered outside the places "
                  "you are assigned.")


def rows_outside_scope(session: Session, actor: Any, data: bytes, filename: str,
                       community: str | None = None) -> list[RowError]:
    """Rows a staff member may not import: a community (and grid) outside their
    assignment, or the document number of a person registered outside it (an upsert
    would change someone they may not even see). District staff (scope ``all``) pass."""
    from core.registry.importer import map_headers, read_table

    if place_filter(session, actor) is None:
        return []
    headers, rows, _ = read_table(NamedBytes(data, filename))
    mapping, _warnings = map_headers(headers, community=community)
    col = {key: i for i, key in mapping.items()}
    problems: list[RowError] = []
    numbers: dict[str, tuple[int, str]] = {}
    for rownum, cells in rows:
        def cell(key: str, cells: list[Any] = cells) -> str:
            i = col.get(key)
            return str(cells[i]).strip() if i is not None and i < len(cells) else ""

        name, code, grid, number = (cell("name"), cell("community") or (community or ""),
                                    cell("grid"), cell("id_number"))
        if not any(str(v).strip() for v in cells):
            continue
        if code and not scope_allows(actor, community=code, grid=grid or None):
            problems.append(RowError(rownum, "community", OUTSIDE_COMMUNITY, name[:50],
                                     code[:60]))
        if number:
            for candidate in {normalise_id_number(number), normalise_document(number)}:
                numbers[candidate] = (rownum, name[:50])
    found: set[str] = set()
    inside: set[str] = set()
    staff = place_filter(session, actor)
    keys = list(numbers)
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        found |= set(session.scalars(select(Person.id_number).where(
            Person.id_number.in_(chunk), Person.status != "merged")))
        inside |= set(session.scalars(select(Person.id_number).where(
            Person.id_number.in_(chunk), staff)))
    from core.registry.validation import mask_id_number

    for number in sorted(found - inside):
        rownum, name = numbers[number]
        problems.append(RowError(rownum, "id_number", OUTSIDE_PERSON, name,
                                 mask_id_number(number)))
    return sorted(problems, key=lambda e: (e.row, e.field))


def run_import(session: Session, data: bytes, filename: str, *, dry_run: bool,
               community: str | None = None, blank_clears: bool = False,
               correction: bool = False, reason: str = "") -> ImportReport:
    """Import (or dry-run) an uploaded file for the signed-in user; rows outside their
    place scope are rejected like any other invalid row, so nothing is written. Raises
    :class:`ImportFileError` when the file as a whole cannot be read, or when
    ``community`` (the community of every row, for a file without that column) is
    outside the user's places. ``blank_clears``, ``correction`` and ``reason`` (required
    with ``correction``, checked by the callers' forms): see :func:`import_persons`."""
    community = (community or "").strip() or None
    if community and place_filter(session, current_user) is not None \
            and not scope_allows(current_user, community=community):
        raise ImportFileError(OUTSIDE_COMMUNITY, "community")
    try:
        outside = rows_outside_scope(session, current_user, data, filename, community)
    except RegistryError:
        raise
    except Exception:  # a damaged XLSX (zip), undecodable text, a broken CSV
        raise ImportFileError(UNREADABLE, "file") from None
    # a correction run only when asked for (its reason goes to every change's history)
    run = {"correction": True, "reason": reason.strip()} if correction else {}
    try:
        report = import_persons(session, NamedBytes(data, filename), bus=current_kernel().bus,
                                actor=current_user, dry_run=dry_run or bool(outside),
                                community=community, blank_clears=blank_clears, **run)
    except RegistryError:
        raise
    except Exception as exc:  # a damaged XLSX (zip) or undecodable text
        current_app.logger.info("import of %s failed to read: %s", filename, exc)
        session.rollback()
        raise ImportFileError(UNREADABLE, "file") from None
    if outside:
        # A row naming a person outside the worker's places says only that: the import's
        # own checks of that row (a name that differs from the registered one, a closed
        # record) would describe someone the worker may not see.
        hidden = {e.row for e in outside if e.message == OUTSIDE_PERSON}
        kept = [e for e in report.rejected if e.row not in hidden]
        report.rejected = sorted([*kept, *outside], key=lambda e: (e.row, e.field))
        report.dry_run, report.committed = dry_run, False
    return report


def report_dict(report: ImportReport) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run, "committed": report.committed, "total": report.total,
        "created": report.created, "updated": report.updated, "unchanged": report.unchanged,
        "new_dwellings": report.new_dwellings, "new_households": report.new_households,
        "rejected_rows": report.rejected_rows,
        "rejected": [{"row": e.row, "field": e.field, "message": e.message, "name": e.name,
                      "value": e.value} for e in report.rejected],
        "warnings": list(report.warnings), "batch_id": report.batch_id,
        "import_id": report.import_id, "correction": report.correction,
        "diffs": [diff_dict(d) for d in report.diffs], "diffs_capped": report.diffs_capped,
    }


def _shown(value: Any) -> str | None:
    """A value of a diff as text (the importer masked ID numbers, phones and names)."""
    return None if value is None or value == "" else str(value)


def diff_dict(diff: Any) -> dict[str, Any]:
    """One :class:`~core.registry.importer.RowDiff` as the API and the check page show
    it: the row, the person (when registered), the action and each field's old and new
    value, masked as the importer masked them."""
    return {"row": diff.row, "person_id": diff.person_id, "action": diff.action,
            "changes": [{"field": str(f), "old": _shown(old), "new": _shown(new)}
                        for f, old, new in diff.changes]}


def import_record(row: Any) -> dict[str, Any]:
    """A :class:`~core.registry.models.RegistryImport` as the API and pages list it."""
    return {"id": row.id, "source": row.source, "actor_name": row.actor_name or None,
            "at": row.at, "correction": bool(row.correction), "reason": row.reason or None,
            "community": row.community, "blank_clears": bool(row.blank_clears),
            "created": row.created, "updated": row.updated, "unchanged": row.unchanged,
            "reverted_at": row.reverted_at, "reverted_by_name": row.reverted_by_name or None}


def revert_dict(result: Any) -> dict[str, Any]:
    """A :class:`~core.registry.importer.RevertReport`: the import and what was undone,
    counted (every integer the report carries), and who had changed since (masked)."""
    counts = {k: v for k, v in vars(result).items()
              if isinstance(v, int) and not isinstance(v, bool) and k != "import_id"}
    return {"import_id": result.import_id, "reverted": counts,
            "changed_since": [str(x) for x in getattr(result, "changed_since", ())]}
