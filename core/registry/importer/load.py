""":func:`import_persons`: read, validate and write one batch, all or nothing.

The writing half: it takes validated batches (from this process or the validating one),
lets :class:`.assemble._Assembler` build the rows, writes them with
:class:`core.registry.bulk.BulkWriter`, and sends updates of registered persons through
the services (history and events).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from core.db import local_today, utcnow
from core.registry import codes
from core.registry.bulk import BulkWriter
from core.registry.importer.assemble import (
    _ASSEMBLED_TABLES,
    _PLACE_TABLES,
    _Assembler,
    _Forms,
    _Places,
)
from core.registry.importer.parallel import _use_process, _Validator
from core.registry.importer.reading import (
    ImportFileError,
    ImportReport,
    Progress,
    _fmt,
    _supply,
    map_headers,
    read_table,
)
from core.registry.importer.revert import (
    add_run,
    plain,
    purge_undo,
    resolve_kernel,
    seal,
    snapshot,
)
from core.registry.importer.validate import (
    _COMPARED,
    _EXISTING,
    _PERSON_COLUMNS,
    _V_HOUSEHOLD,
    _V_ID_NUMBER,
    _Checked,
    _checked_batches,
    _PlaceCodes,
)
from core.registry.models import (
    Change,
    Household,
    Person,
    PersonKey,
    RegistryImport,
    RegistryImportUndo,
    Residence,
)
from core.registry.services.common import HISTORY_CONTEXT, _who
from core.rules import N_


def import_persons(
    session: Session,
    source: str | Path | IO[Any],
    *,
    bus: Any,
    actor: Any = None,
    via: str = "import",
    dry_run: bool = False,
    fmt: str | None = None,
    progress: Progress | None = None,
    today: date | None = None,
    chunk: int = 5000,
    parallel: bool | None = None,
    community: str | None = None,
    blank_clears: bool = False,
    correction: bool = False,
    reason: str = "",
    kernel: Any = None,
) -> ImportReport:
    """Import persons from a CSV or XLSX file (path or binary file object). Returns the
    report; when any row is rejected (and not in a dry run) the session is rolled back so
    nothing of the batch remains. The caller commits a successful import.

    ``parallel``: validate in a second process while this one writes (a CSV file given
    by path); default: when the file has at least :data:`PARALLEL_MIN_ROWS` rows and the
    machine a second CPU. Into an empty SQLite registry that process also builds the rows
    (ids from the bases read under the write lock). The result is the same either way.

    Updates of persons already registered (matched by document number) change only the
    fields the file has a column for, and of those only the cells with a value — unless
    ``blank_clears``, when a blank cell clears the field (to its default where it has
    one). A row whose document number is registered under another name is rejected: a
    name change is a correction, not an import. ``community``: the community code of
    every row, for a file without the community column (a file with one is refused).

    ``correction``: a correction run (needs a ``reason``): such a row is applied, the name
    changed, and every history row of the run carries ``reason``. Otherwise it is a
    conflict: rejected, and listed in ``report.diffs`` with both names (the registered one
    masked). A dry run lists per row what would change (``report.diffs``, capped).

    A committed run is recorded as a :class:`~core.registry.models.RegistryImport`
    (``report.import_id``); every history row it writes carries that id, and the undo
    data for :func:`~core.registry.importer.revert.revert_import` is kept (sealed with a
    key from ``kernel``'s secret key — default: the current app's; without either, the
    persons it updates cannot be restored by a revert)."""
    import gc

    reason = (reason or "").strip()
    if correction and not reason:
        raise ImportFileError(N_("A correction import needs a reason (it goes to the "
                                 "history of every change)."), "reason")

    started = time.perf_counter()
    today = today or local_today()
    name = str(getattr(source, "name", source))
    report = ImportReport(source=name, dry_run=dry_run, correction=correction)
    headers, rows, estimate = read_table(source, fmt)
    community = (community or "").strip() or None
    mapping, report.warnings = map_headers(headers, community=community)
    width = len(headers)
    if community:
        mapping[width] = "community"
        width += 1
        rows = _supply(rows, width - 1, community)
    now = utcnow()
    writer = BulkWriter(session)
    if not dry_run:
        writer.serialise_imports()  # before reading what exists
    forms = _Forms.make(session.get_bind().dialect, now, today)
    places = _Places.from_session(session, writer, forms)
    codes_ = _PlaceCodes(places.communities, places.grids)
    if community and community not in places.communities:
        rows.close()
        raise ImportFileError("No community with code %(code)s.", "community", code=community)
    validator = None
    fresh: bool | None = None
    if _use_process(source, fmt, estimate, parallel):
        rows.close()
        assemble = None
        if not dry_run and writer.dialect == "sqlite" and places.no_buildings \
                and places.no_households:
            writer.lock()  # before reading the bases: nobody inserts until we commit
            fresh = session.scalar(select(Person.id).limit(1)) is None
            if fresh:
                assemble = (forms, {t: writer.next_id(t) for t in _ASSEMBLED_TABLES})
        validator = _Validator(str(source), fmt, mapping, width, codes_, today, chunk,
                               assemble, community=community)
        checked: Iterator[_Checked] | _Validator = validator
    else:
        checked = _checked_batches(rows, mapping, width, codes_, today, chunk,
                                   text_only=_fmt(source, fmt) == "csv")
    # A load allocates millions of objects and frees none of them in cycles: the cyclic
    # collector would walk the growing dictionaries again and again.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    assembler = _Assembler(places, forms)
    present = set(mapping.values())
    assembler.present = tuple(f for f in _COMPARED if f != "name" and f in present)
    assembler.blank_clears = blank_clears
    assembler.correction = correction
    if dry_run:
        assembler.diffs = []
    run = _Run(correction=correction, reason=reason, community=community,
               blank_clears=blank_clears, kernel=None if dry_run else resolve_kernel(kernel))
    try:
        _write(session, report, checked, assembler, writer, estimate, today,
               now, fresh, bus=bus, actor=actor, via=via, dry_run=dry_run, progress=progress,
               run=run)
    finally:
        writer.restore_cache()
        if validator is not None:
            validator.close()
        if gc_was_enabled:
            gc.enable()
    report.diffs = assembler.diffs if assembler.diffs is not None else assembler.conflicts
    report.diffs_capped = assembler.diffs_capped
    report.seconds = time.perf_counter() - started
    if not dry_run:  # shequ_registry_import_rows_total (/metrics); all or nothing
        from core.metrics import rows_imported

        rows_imported(0 if report.rejected else report.total, len(report.rejected_rows))
    return report


def _write(session: Session, report: ImportReport, checked: Iterable[_Checked],
           assembler: _Assembler, writer: BulkWriter, estimate: int, today: date,
           now: datetime, fresh: bool | None, *, bus: Any, actor: Any, via: str,
           dry_run: bool, progress: Progress | None, run: _Run) -> None:
    """The writing half of :func:`import_persons`: places, persons, search keys,
    residences and heads for each validated batch, all or nothing."""
    try:
        _write_batches(session, report, checked, assembler, writer, estimate, today, now,
                       fresh, bus=bus, actor=actor, via=via, dry_run=dry_run,
                       progress=progress, run=run)
    finally:
        session.info.pop(HISTORY_CONTEXT, None)


def _write_batches(session: Session, report: ImportReport, checked: Iterable[_Checked],
                   assembler: _Assembler, writer: BulkWriter, estimate: int, today: date,
                   now: datetime, fresh: bool | None, *, bus: Any, actor: Any, via: str,
                   dry_run: bool, progress: Progress | None, run: _Run) -> None:
    writing = not dry_run
    started_writing = False
    moves: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    first_id = last_id = None
    places = assembler.places
    # declarative types __table__ as FromClause; these are Tables
    person_table: Table = Person.__table__  # type: ignore[assignment]
    key_table: Table = PersonKey.__table__  # type: ignore[assignment]
    residence_table: Table = Residence.__table__  # type: ignore[assignment]

    for batch in checked:
        report.total += batch.counted
        report.rejected += batch.rejected
        if report.rejected:
            writing = False
        asm = batch.assembled
        if asm is None and not batch.valid:
            if progress:
                progress(batch.rows)
            continue
        first = writing and not started_writing
        if first:
            started_writing = True
            writer.lock()
        if fresh is None:
            # Under the write lock (or, in a dry run, as read): with no person in the
            # registry, every row is new — the unique constraint still guards that.
            fresh = session.scalar(select(Person.id).limit(1)) is None
        if first:
            report.indexes_rebuilt = writer.maybe_drop_indexes(
                max(estimate, len(batch.valid), batch.counted))
            run.begin(session, report, actor, now)
        if asm is None:
            valid = batch.valid
            existing: dict[str, Any] = {}
            if not fresh:
                numbers = [v[_V_ID_NUMBER] for v in valid]
                for i in range(0, len(numbers), 1000):
                    for row in session.execute(select(*_EXISTING).where(
                            Person.id_number.in_(numbers[i:i + 1000]))):
                        existing[row.id_number] = row
            if not places.no_households:
                places.preload_households({v[_V_HOUSEHOLD] for v in valid
                                           if v[_V_HOUSEHOLD]})
            count = len(valid) if fresh else sum(1 for v in valid
                                                 if v[_V_ID_NUMBER] not in existing)
            ids = writer.ids(person_table, count) if writing else []
            asm = assembler.assemble(valid, ids, writing=writing, existing=existing)
        report.created += asm.created
        report.updated += asm.updated
        report.unchanged += asm.unchanged
        report.new_dwellings += asm.new_dwellings
        report.new_households += asm.new_households
        report.rejected += asm.rejected
        moves += asm.moves
        if asm.closed:
            writing = False
        if writing:
            if asm.persons:
                if first_id is None:
                    first_id = asm.persons[0][0]
                last_id = asm.persons[-1][0]
            for key, table, columns in _PLACE_TABLES:
                writer.insert_rows(table, columns, asm.places[key])
            run.created(asm)
            writer.insert_rows(person_table, _PERSON_COLUMNS, asm.persons)
            writer.insert_rows(key_table, ("person_id", "key", "kind"), asm.keys)
            writer.insert_rows(residence_table,
                               ("person_id", "dwelling_id", "role", "started_on", "ended_on"),
                               asm.residences)
            _assign_heads(session, places, asm.heads, bus=bus, actor=actor, via=via,
                          run=run)
        if progress:
            progress(batch.rows)

    if writing and started_writing and not (report.created or report.updated):
        if report.indexes_rebuilt:
            writer.restore_indexes()
        run.finish(session, report)  # a re-import that changes nothing writes only its record
        report.committed = True
    elif writing and started_writing:
        if report.indexes_rebuilt:
            writer.restore_indexes()
        for pid, change, rec in moves:
            run.before(session, pid)
            if "household" in change and change["household"][1] == codes.HEAD:
                run.head_of(session, change["household"][0])
                run.before(session, run.heads.get(change["household"][0]))
            _apply_changes(session, pid, change, rec, bus=bus, actor=actor, via=via,
                           today=today)
        actor_id, actor_name = _who(actor)
        batch_id = session.execute(insert(Change).returning(Change.id), [{
            "entity": "import", "entity_id": first_id or 0, "field": "*",
            "old": None, "new": f"{report.created} created ({first_id}..{last_id}), "
                               f"{report.updated} updated from {Path(report.source).name}"
                               [:1000],
            "actor_id": actor_id, "actor_name": actor_name, "via": via[:40], "at": now,
            "import_id": report.import_id, "reason": run.reason or None,
        }]).scalar_one()
        report.batch_id = batch_id
        report.first_person_id, report.last_person_id = first_id, last_id
        bus.publish(session, "registry.import.completed", {
            "batch_id": batch_id, "created": report.created, "updated": report.updated,
            "unchanged": report.unchanged, "first_person_id": first_id,
            "last_person_id": last_id, "via": via,
        })
        session.flush()
        run.finish(session, report)
        report.committed = True
    elif report.rejected and not dry_run:
        report.import_id = None
        writer.restore_cache()
        session.rollback()
    if dry_run:
        session.rollback()



class _Run:
    """A committed import's record and undo data: the :class:`RegistryImport` row
    (created at the first write, so every history row can carry its id), the id runs of
    what it created, the heads it changed and the snapshots of the persons it updated."""

    def __init__(self, *, correction: bool, reason: str, community: str | None,
                 blank_clears: bool, kernel: Any):
        self.correction, self.reason = correction, reason
        self.community, self.blank_clears, self.kernel = community, blank_clears, kernel
        self.record: RegistryImport | None = None
        self.made: dict[str, list[list[int]]] = {"persons": [], "b": [], "u": [], "d": [],
                                                 "h": []}
        self.heads: dict[int, int | None] = {}
        self.snapshots: dict[int, dict[str, Any]] = {}

    def begin(self, session: Session, report: ImportReport, actor: Any, now: datetime
              ) -> None:
        purge_undo(session, now=now)
        actor_id, actor_name = _who(actor)
        self.record = RegistryImport(
            source=Path(report.source).name[:255], actor_id=actor_id, actor_name=actor_name,
            at=now, correction=self.correction, reason=self.reason,
            community=self.community, blank_clears=self.blank_clears, created=0, updated=0,
            unchanged=0, reverted_by_name="")
        session.add(self.record)
        session.flush()
        report.import_id = self.record.id
        # Every history row the services write from here on carries the import's id
        # (``_write`` takes it off again, whatever happens).
        session.info[HISTORY_CONTEXT] = (self.record.id, self.reason or None)

    def created(self, asm: Any) -> None:
        """Note the ids of a batch's new rows: the first and last of each list, runs only
        when they are not consecutive (no per-row work on the fast path)."""
        if asm.persons:
            rows = asm.persons
            add_run(self.made["persons"], rows[0][0], rows[-1][0], len(rows),
                    lambda: (r[0] for r in rows))
        for key, rows in asm.places.items():
            if rows:
                ids = sorted(r[0] for r in rows)
                add_run(self.made[key], ids[0], ids[-1], len(ids), lambda ids=ids: ids)

    def before(self, session: Session, pid: int | None) -> None:
        if pid is None or pid in self.snapshots:
            return
        shot = snapshot(session, pid)
        if shot is not None:
            self.snapshots[pid] = shot
            for hid in (shot["household_id"],):
                if hid is not None:
                    self.head_of(session, hid)

    def head_of(self, session: Session, hid: int) -> None:
        if hid not in self.heads and hid > 0:
            self.heads[hid] = session.scalar(select(Household.head_id)
                                             .where(Household.id == hid))

    def finish(self, session: Session, report: ImportReport) -> None:
        """Counts on the record; the undo rows (persons sealed, ids plain)."""
        record = self.record
        if record is None:
            return
        record.created, record.updated = report.created, report.updated
        record.unchanged = report.unchanged
        rows = [{"import_id": record.id, "person_id": None, "at": record.at,
                 "sealed": plain({**self.made, "heads": sorted(
                     [h, p] for h, p in self.heads.items())})}]
        if self.kernel is not None:
            session.flush()
            for pid, before in self.snapshots.items():
                session.expire_all()
                after = snapshot(session, pid)
                rows.append({"import_id": record.id, "person_id": pid, "at": record.at,
                             "sealed": seal(self.kernel, record.id, [before, after])})
        session.execute(insert(RegistryImportUndo), rows)
        session.flush()


def _assign_heads(session: Session, places: _Places, heads: list[tuple[int, int, str]], *,
                  bus: Any, actor: Any, via: str, run: _Run) -> None:
    """Make the new persons marked 户主 the heads of their households."""
    from core.registry.services import set_head

    direct = []
    for hid, pid, number in heads:
        entry = places.households.get(number)
        if entry is not None:
            run.heads.setdefault(hid, entry[1])  # a revert puts the head back
        if entry is not None and entry[1] not in (None, pid):
            run.before(session, entry[1])  # set_head changes the former head's relation
            set_head(session, hid, pid, bus=bus, actor=actor, via=via)
        else:
            direct.append({"id": hid, "head_id": pid})
        if entry is not None:
            entry[1] = pid
    # declarative types __table__ as FromClause; it is a Table
    BulkWriter(session).update(Household.__table__, direct)  # type: ignore[arg-type]


def _apply_changes(session: Session, pid: int, change: dict[str, Any], rec: dict[str, Any], *,
                   bus: Any, actor: Any, via: str, today: date) -> None:
    """Updates of existing persons go through the services: history and events."""
    from core.registry import services

    session.expire_all()
    if "fields" in change:
        services.update_person(session, pid, change["fields"],
                               expected_version=change["version"], bus=bus, actor=actor,
                               via=via)
    if "dwelling_id" in change:
        services.move_person(session, pid, to_dwelling_id=change["dwelling_id"], bus=bus,
                             role=rec["residence_role"], on=rec["moved_in"] or today,
                             actor=actor, via=via)
    if "household" in change:
        hid, relation = change["household"]
        if relation == codes.HEAD:
            person = session.get(Person, pid)
            if person is not None and person.household_id != hid:
                services.add_member(session, hid, pid, "99", bus=bus, actor=actor, via=via)
            services.set_head(session, hid, pid, bus=bus, actor=actor, via=via)
        else:
            services.add_member(session, hid, pid, relation, bus=bus, actor=actor, via=via)

