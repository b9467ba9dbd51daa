"""Reverting an import as a whole, by its id, and the undo data that makes it possible.

Why undo data at all: the change history stores ID numbers and phones *masked* (it must
not become a second copy of every number a person had), so it cannot say what to put
back. A committed import therefore keeps, per person it changed, the full values before
and after in ``registry_import_undo`` — *sealed*: AES-256-GCM under a key derived
(HKDF-SHA256, like ``core.toolkit.derive_key``) from the app's secret key and the import
id, so a copy of the database alone does not reveal them — plus one plain row with the id
ranges of what it created (persons, buildings, units, dwellings, households) and the heads
of the households it touched.

Retention: undo data lives :data:`UNDO_RETENTION_DAYS` days (purged at the start of every
committed import and by :func:`purge_undo`); after that an import cannot be reverted.

A revert writes through the services where they fit (``update_person``: history and
``registry.person.updated``) and directly otherwise (a residence reopened, a membership
restored), always with history rows (``via="revert"``, reason "revert import N") and the
events the services publish (``registry.person.moved``, ``registry.household.changed``).
It refuses (409, field ``import``) an import reverted already, one whose undo data has
expired, and — unless ``force`` — one where a person it touched changed since; with
``force`` those persons are left as they are now (listed in the report) and everything
else is reverted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit.services import access_row, log_accesses
from core.db import local_today, utcnow
from core.registry.errors import RegistryError, ScopeError
from core.registry.models import (
    Building,
    Change,
    Dwelling,
    Household,
    Person,
    PersonKey,
    RegistryImport,
    RegistryImportUndo,
    Residence,
    Unit,
)
from core.rules import N_

#: Days an import's undo data is kept (and so how long it can be reverted).
UNDO_RETENTION_DAYS = 30
#: The person columns a snapshot keeps (besides the open residence).
_PLACE = ("dwelling_id", "grid_id", "community_id", "status")
_MEMBER = ("household_id", "relation")
_NONCE = 12


# ------------------------------------------------------------------------------ sealing


def _key(kernel: Any, import_id: int) -> bytes:
    """HKDF-SHA256 of the secret key for this import (the same construction as
    ``core.toolkit.derive_key``, which core may not import)."""
    from core.config import ensure_secret_key

    secret = ensure_secret_key(kernel.config).encode("utf-8")
    prk = hmac.new(b"shequ.toolkit.derive_key", secret, hashlib.sha256).digest()
    info = f"registry.import_undo:{import_id}".encode()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def seal(kernel: Any, import_id: int, content: Any) -> str:
    """``content`` (JSON-able) sealed for import ``import_id``, as text."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(_NONCE)
    data = json.dumps(content, separators=(",", ":"), default=_json).encode()
    box = AESGCM(_key(kernel, import_id)).encrypt(nonce, data, f"{import_id}".encode())
    return "s1:" + base64.b64encode(nonce + box).decode("ascii")


def unseal(kernel: Any, import_id: int, text: str) -> Any:
    """The content of :func:`seal` (or of a plain ``p1:`` row)."""
    if text.startswith("p1:"):
        return json.loads(text[3:])
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    raw = base64.b64decode(text[3:])
    try:
        data = AESGCM(_key(kernel, import_id)).decrypt(raw[:_NONCE], raw[_NONCE:],
                                                       f"{import_id}".encode())
    except (InvalidTag, ValueError):
        raise RegistryError(N_("The undo data of this import cannot be opened (the secret "
                               "key changed?)."), "import") from None
    return json.loads(data)


def plain(content: Any) -> str:
    """``content`` as a plain (unsealed) undo row: the id ranges, nothing secret."""
    return "p1:" + json.dumps(content, separators=(",", ":"), default=_json)


def _json(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def resolve_kernel(kernel: Any) -> Any:
    """``kernel``, else the current app's, else None (no app context: no sealing)."""
    if kernel is not None:
        return kernel
    from flask import has_app_context

    if has_app_context():
        from core.current import current_kernel

        return current_kernel()
    return None


def purge_undo(session: Session, *, now: datetime | None = None) -> int:
    """Delete undo data older than :data:`UNDO_RETENTION_DAYS`; returns rows deleted."""
    cutoff = (now or utcnow()) - timedelta(days=UNDO_RETENTION_DAYS)
    result = session.execute(delete(RegistryImportUndo).where(RegistryImportUndo.at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # DML gives a CursorResult; Session.execute is typed Result


# ------------------------------------------------------------------------------ snapshots


def snapshot(session: Session, pid: int) -> dict[str, Any] | None:
    """A person's values as a revert restores them: the person fields, place,
    membership, version and open residence."""
    from core.registry.services import PERSON_FIELDS

    person = session.get(Person, pid)
    if person is None:
        return None
    res = session.scalar(select(Residence.id).where(
        Residence.person_id == pid, Residence.ended_on.is_(None)).order_by(
        Residence.id.desc()).limit(1))
    out = {f: getattr(person, f) for f in (*PERSON_FIELDS, *_PLACE, *_MEMBER)}
    if out["birth_date"] is not None:
        out["birth_date"] = out["birth_date"].isoformat()
    out["version"] = person.version
    out["residence_id"] = res
    return out


def runs(ids: list[int]) -> list[list[int]]:
    """Sorted ids as ``[[first, last], ...]`` runs of consecutive ids."""
    out: list[list[int]] = []
    for i in sorted(ids):
        if out and out[-1][1] + 1 == i:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def add_run(target: list[list[int]], first: int, last: int, count: int,
            ids: Any = None) -> None:
    """Append the ids ``first..last`` (``count`` of them; when they are not consecutive,
    ``ids()`` gives them all)."""
    if count == 0:
        return
    if last - first + 1 == count:
        if target and target[-1][1] + 1 == first:
            target[-1][1] = last
        else:
            target.append([first, last])
    else:
        target.extend(runs(list(ids())))


# ------------------------------------------------------------------------------ listing


@dataclass
class RevertReport:
    """What :func:`revert_import` did."""

    import_id: int
    restored: int = 0
    deleted_persons: int = 0
    deleted_households: int = 0
    deleted_dwellings: int = 0
    #: Persons changed since the import (masked "no. N 王*"): refused, or with ``force``
    #: left as they are.
    changed_since: list[str] = field(default_factory=list)
    forced: bool = False


def list_imports(session: Session, *, limit: int = 50) -> list[RegistryImport]:
    """The newest committed imports first (for the pages and ``shequ registry imports``)."""
    return list(session.scalars(select(RegistryImport).order_by(RegistryImport.id.desc())
                                .limit(limit)))


def import_within(session: Session, record: RegistryImport, actor: Any) -> bool:
    """Whether every person import ``record`` touched (updated, or created and not yet
    deleted) lies within ``actor``'s places — what a staff member must satisfy to see an
    import in the list and to revert it, since a revert changes and deletes those
    persons. District staff (scope ``all``) and the command line (``actor`` None) see
    every import. An import whose undo data is gone (reverted, expired) no longer names
    its persons: it stays visible to whoever made it."""
    from core.registry.search import place_filter

    staff = place_filter(session, actor)
    if staff is None:
        return True
    rows = list(session.execute(select(RegistryImportUndo.person_id, RegistryImportUndo.sealed)
                                .where(RegistryImportUndo.import_id == record.id)))
    created = next((sealed for pid, sealed in rows if pid is None), None)
    if created is None:
        return record.actor_id is not None and record.actor_id == getattr(actor, "id", None)
    touched = [Person.id.in_([pid for pid, _sealed in rows if pid is not None])]
    if created.startswith("p1:"):
        touched += [Person.id.between(first, last)
                    for first, last in json.loads(created[3:]).get("persons", [])]
    outside = session.scalar(select(Person.id).where(or_(*touched), ~staff).limit(1))
    return outside is None


# ------------------------------------------------------------------------------ revert


def revert_import(session: Session, import_id: int, *, bus: Any, actor: Any,
                  force: bool = False, kernel: Any = None) -> RevertReport:
    """Undo import ``import_id`` as a whole: every field it changed back to its value
    before, the persons it created deleted, and the households, dwellings, units and
    buildings it created when nothing else uses them. The caller commits. Refuses
    (:class:`RegistryError` 409, field ``import``) when reverted already, when its undo
    data has expired (:data:`UNDO_RETENTION_DAYS`), or when a person it touched has
    changed since — ``force`` then reverts all but those persons."""
    from core.registry import services
    from core.registry.present import mask_name
    from core.registry.services.common import PERSON_FIELDS, history_context, record_change

    record = session.get(RegistryImport, import_id)
    if record is None:
        raise RegistryError(N_("No such import."), "import")
    if actor is not None and not import_within(session, record, actor):
        # it changes and deletes persons outside the actor's places: as if absent
        raise ScopeError("no such import within your scope")
    if record.reverted_at is not None:
        _refuse(N_("Import %(id)s was reverted already."), id=import_id)
    rows = list(session.scalars(select(RegistryImportUndo).where(
        RegistryImportUndo.import_id == import_id).order_by(RegistryImportUndo.id)))
    created_row = next((r for r in rows if r.person_id is None), None)
    if created_row is None:
        _refuse(N_("The undo data of import %(id)s has expired (kept %(days)s days): it "
                   "cannot be reverted."), id=import_id, days=UNDO_RETENTION_DAYS)
    made = unseal(kernel, import_id, created_row.sealed)
    persons = [r for r in rows if r.person_id is not None]
    if persons or record.updated:
        kernel = resolve_kernel(kernel)
        if kernel is None or len(persons) < record.updated:
            _refuse(N_("Import %(id)s has no undo data for the persons it updated."),
                    id=import_id)
    undo = {int(r.person_id or 0): unseal(kernel, import_id, r.sealed) for r in persons}

    report = RevertReport(import_id, forced=force)
    skip: set[int] = set()
    for pid, (_before, after) in undo.items():
        now = session.get(Person, pid)
        if now is None or now.version != after["version"]:
            skip.add(pid)
    created_ids = made.get("persons", [])
    for first, last in created_ids:
        for pid, in session.execute(select(Person.id).where(
                Person.id.between(first, last), Person.version != 1)):
            skip.add(pid)
    skip |= in_use_since(session, created_ids, record.at)
    if skip:
        names = dict(session.execute(select(Person.id, Person.name).where(
            Person.id.in_(sorted(skip)))).all())
        report.changed_since = [f"no. {pid} {mask_name(names.get(pid, ''))}"
                                for pid in sorted(skip)]
        # the refusal names them (masked) to whoever asked: that is a display
        log_accesses(session, [access_row(
            actor=actor, person_id=pid, fields=["name"], masked=True, via="core",
            purpose=f"revert of import {import_id}: changed or in use since") for pid in skip])
        if not force:
            _refuse(N_("These persons changed after import %(id)s, so it is not reverted "
                       "(force it to revert all others): %(persons)s."), id=import_id,
                    persons=", ".join(report.changed_since[:20]))

    via = "revert"
    reason = f"revert import {import_id}"
    with history_context(session, import_id=None, reason=reason):
        # 1. Persons the import updated (and former heads it demoted): values before.
        for pid, (before, after) in undo.items():
            if pid in skip:
                continue
            person = session.get(Person, pid)
            assert person is not None
            fields = {f: before[f] for f in PERSON_FIELDS
                      if _stored(f, getattr(person, f)) != before[f]}
            if fields:
                services.update_person(session, pid, fields, expected_version=person.version,
                                       bus=bus, actor=actor, via=via)
                person = session.get(Person, pid)
                assert person is not None
            _restore_place(session, person, before, after, bus=bus, actor=actor, via=via)
            _restore_member(session, person, before, bus=bus, actor=actor, via=via)
            report.restored += 1
        session.flush()
        # 2. Heads of the households the import touched.
        for hid, head in made.get("heads", []):
            household = session.get(Household, hid)
            if household is None or household.head_id == head:
                continue
            if head is not None and session.get(Person, head) is None:
                head = None
            record_change(session, "household", hid, {"head_id": (household.head_id, head)},
                          actor=actor, via=via)
            household.head_id = head
        session.flush()
        # 3. Persons the import created (those changed since stay, with force).
        report.deleted_persons = _delete_created(session, created_ids, skip)
        # 4. Places and households it created, when nothing uses them any more.
        report.deleted_households = _delete_unused(session, Household, made.get("h", []), [
            select(Person.id).where(Person.household_id == Household.id)])
        report.deleted_dwellings = _delete_unused(session, Dwelling, made.get("d", []), [
            select(Person.id).where(Person.dwelling_id == Dwelling.id),
            select(Residence.id).where(Residence.dwelling_id == Dwelling.id),
            select(Household.id).where(Household.dwelling_id == Dwelling.id)])
        _delete_unused(session, Unit, made.get("u", []), [
            select(Dwelling.id).where(Dwelling.unit_id == Unit.id)])
        _delete_unused(session, Building, made.get("b", []), [
            select(Unit.id).where(Unit.building_id == Building.id)])
        from core.registry.services import _who

        actor_id, actor_name = _who(actor)
        session.add(Change(
            entity="import", entity_id=import_id, field="*", old=None,
            new=(f"reverted: {report.restored} restored, {report.deleted_persons} persons "
                 f"deleted" + (f", {len(skip)} changed since left as they are"
                               if skip else "")),
            actor_id=actor_id, actor_name=actor_name, via=via, at=utcnow(), reason=reason))
    record.reverted_at = utcnow()
    record.reverted_by_id, record.reverted_by_name = actor_id, actor_name
    session.execute(delete(RegistryImportUndo).where(RegistryImportUndo.import_id == import_id))
    if "registry.import.reverted" in getattr(bus, "types", {}):
        bus.publish(session, "registry.import.reverted", {
            "import_id": import_id, "restored": report.restored,
            "deleted_persons": report.deleted_persons, "via": via})
    session.flush()
    return report


#: The ``via`` of core's own displays (its pages, API, CLI, exports, notice reports):
#: they do not make a created person "in use". Every other ``via`` is a plugin's id or
#: ``exchange`` (another department's system).
CORE_VIAS = ("core", "cli", "export", "notices", "import", "revert", "correction", "test")


def in_use_since(session: Session, created: list[list[int]], since: datetime) -> set[int]:
    """Persons the import created that something now relies on, so deleting them would
    leave references pointing nowhere: an account bound to them (a resident verified
    against the new record), or a display by a plugin or another department's system
    since the import (plugins — enabled or not: a disabled plugin keeps its tables — read
    through the scoped reader, which logs with their id as ``via``; a plugin that keeps a
    reference — an application, a ticket, a ballot — read the person first). Core's own
    displays (:data:`CORE_VIAS`) do not count: the importer checking a new record is no
    reason to keep it."""
    from core.audit.models import AccessEntry
    from core.identity.models import User

    found: set[int | None] = set()
    for first, last in created:
        found.update(session.scalars(select(User.person_id).where(
            User.person_id.between(first, last))))
        found.update(session.scalars(select(AccessEntry.subject_person_id).where(
            AccessEntry.subject_person_id.between(first, last),
            AccessEntry.last_at >= since, AccessEntry.via.not_in(CORE_VIAS)).distinct()))
    return {int(pid) for pid in found if pid is not None}


def _refuse(message: str, **params: Any) -> NoReturn:
    error = RegistryError(message, "import", **params)
    error.status = 409
    raise error


def _stored(f: str, value: Any) -> Any:
    """A person's value as a snapshot holds it (dates as ISO text)."""
    return value.isoformat() if isinstance(value, date) else value


def _restore_place(session: Session, person: Person, before: dict[str, Any],
                   after: dict[str, Any], *, bus: Any, actor: Any, via: str) -> None:
    """Put the person back where they lived: the residence the import opened removed, the
    one it ended reopened, the place columns as before; ``registry.person.moved``."""
    from core.registry.services import _place_codes, record_change

    old = {f: getattr(person, f) for f in _PLACE}
    if old == {f: before[f] for f in _PLACE} and after["residence_id"] == before[
            "residence_id"]:
        return
    from_community = _place_codes(session, person.community_id, None)[0]
    if after["residence_id"] and after["residence_id"] != before["residence_id"]:
        session.execute(delete(Residence).where(Residence.id == after["residence_id"]))
    if before["residence_id"]:
        session.execute(update(Residence).where(Residence.id == before["residence_id"])
                        .values(ended_on=None))
    for f in _PLACE:
        setattr(person, f, before[f])
    record_change(session, "person", person.id,
                  {f: (old[f], before[f]) for f in _PLACE if old[f] != before[f]},
                  actor=actor, via=via)
    session.flush()
    bus.publish(session, "registry.person.moved", {
        "person_id": person.id, "from_community": from_community,
        "to_community": _place_codes(session, person.community_id, None)[0]
        if person.status == "active" else None,
        "from_dwelling_id": old["dwelling_id"], "to_dwelling_id": person.dwelling_id,
        "on": local_today().isoformat(), "via": via,
    })


def _restore_member(session: Session, person: Person, before: dict[str, Any], *, bus: Any,
                    actor: Any, via: str) -> None:
    """The household membership and relation as before; ``registry.household.changed``
    for the household left and the one rejoined."""
    from core.registry.services import _household_event, record_change

    old = {f: getattr(person, f) for f in _MEMBER}
    if old == {f: before[f] for f in _MEMBER}:
        return
    record_change(session, "person", person.id,
                  {f: (old[f], before[f]) for f in _MEMBER}, actor=actor, via=via)
    person.household_id, person.relation = before["household_id"], before["relation"]
    session.flush()
    if old["household_id"] is not None and old["household_id"] != before["household_id"]:
        _household_event(session, bus, old["household_id"], "member_removed", person.id,
                         None, via)
    if before["household_id"] is not None:
        _household_event(session, bus, before["household_id"], "member_added", person.id,
                         before["relation"], via)


def _delete_created(session: Session, created: list[list[int]], keep: set[int]) -> int:
    """Delete the persons in ``created`` (id runs) but ``keep``: their search keys,
    residences and head marks first. Refuses when something else refers to them."""
    total = 0
    try:
        with session.begin_nested():
            for first, last in created:
                span = and_(Person.id.between(first, last), Person.id.not_in(keep)) \
                    if keep else Person.id.between(first, last)
                ids = select(Person.id).where(span).scalar_subquery()
                session.execute(delete(PersonKey).where(PersonKey.person_id.in_(ids)))
                session.execute(delete(Residence).where(Residence.person_id.in_(ids)))
                session.execute(update(Household).where(Household.head_id.in_(ids))
                                .values(head_id=None))
                result = session.execute(delete(Person).where(span))
                total += int(result.rowcount or 0)  # type: ignore[attr-defined]  # DML gives a CursorResult; Session.execute is typed Result
    except IntegrityError:
        _refuse(N_("Persons this import created are referred to by other records now; it "
                   "cannot be reverted."))
    return total


def _delete_unused(session: Session, model: Any, created: list[list[int]],
                   users: list[Any]) -> int:
    """Delete the rows of ``model`` in ``created`` (id runs) that none of ``users``
    (correlated selects) refers to; a row another table refers to is left."""
    total = 0
    unused = [~exists(u) for u in users]
    for first, last in created:
        try:
            with session.begin_nested():
                result = session.execute(delete(model).where(
                    model.id.between(first, last), *unused))
                total += int(result.rowcount or 0)  # type: ignore[attr-defined]  # DML gives a CursorResult; Session.execute is typed Result
        except IntegrityError:
            continue
    return total
