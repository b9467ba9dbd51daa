"""Who holds a vote: the electorate modes, the electorate frozen when a vote opens (and
its preview for the committee), a person's eligibility, voter key and weight, the roll
the committee sees, and the residents' group representatives. Kept apart from the
counting because it is the part that reads the registry (docs/requirements.md, domain §5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

import core.toolkit as toolkit
from core.toolkit import N_, RegistryError, ScopeError, utcnow
from plugins.self_governance.models import (
    ElectorateEntry,
    GroupRep,
    Vote,
    VoterRoll,
)
from plugins.self_governance.services.common import PLUGIN, GovernanceError, aware, reader
from plugins.self_governance.services.outcomes import tell_vote_opened

#: Electorate modes (docs/requirements.md, domain §5): who holds a vote, and what a "voter key" is.
ELECTORATES = ("adult", "household", "group_rep", "owner_unit")


ADULT_AGE = 18


@dataclass(frozen=True)
class Eligibility:
    key: str | None  # None: may not vote
    reason: str = ""
    weight: float = 1.0


@dataclass
class Entry:
    """One voter key of an electorate: who may cast for it, the dwellings behind it and
    its weight (exclusive area in an owners' assembly, 1 otherwise)."""

    key: str
    persons: list[int] = field(default_factory=list)
    dwellings: list[int] = field(default_factory=list)
    weight: float = 1.0


def _adults(session: Session, kernel: Any, vote: Vote) -> list[dict[str, Any]]:
    read = reader(session, kernel, f"electorate of vote {vote.id}")
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        found = read.search(
            community=vote.community,
            age_min=ADULT_AGE,
            status="active",
            page=page,
            per_page=100,
            with_total=False,
        )
        out.extend(found.items)
        if len(found.items) < 100:
            return out
        page += 1


def _owner_entries(session: Session, kernel: Any, vote: Vote) -> dict[str, Entry]:
    """The owners' assembly electorate, by the judicial interpretation of art. 278
    (法释〔2009〕7号 arts. 8-9): area is each dwelling's exclusive area; heads are one per
    dwelling, except that dwellings held by the same owner(s) count as one head. So the
    dwellings of a community are grouped by their set of current owners; each group is
    one voter key (``d:<lowest dwelling id>``) weighing the sum of its areas, which any
    of its owners may cast — a person who is not deceased or merged and is 18 or over,
    or an organisation's legal representative. Tenants and other residents are not
    owners and are not in it. A dwelling with no area recorded weighs 0."""
    read = reader(session, kernel, f"owners' assembly electorate of vote {vote.id}")
    groups: dict[frozenset[tuple[str, int]], Entry] = {}
    for dwelling in read.community_owners(vote.community)["dwellings"]:
        owners = frozenset(
            ("p", o["person_id"]) if o["person_id"] else ("o", o["organisation_id"])
            for o in dwelling["owners"]
        )
        entry = groups.get(owners)
        if entry is None:
            entry = groups[owners] = Entry(key=f"d:{dwelling['dwelling_id']}", weight=0.0)
            casters: set[int] = set()
            for o in dwelling["owners"]:
                pid = o["person_id"] or o.get("legal_rep_id")
                if pid:
                    casters.add(pid)
            for pid in sorted(casters):
                try:
                    person = read.person(pid)
                except ScopeError:
                    continue
                age = read.age(pid)
                if person["status"] in ("active", "moved_out") and (age or 0) >= ADULT_AGE:
                    entry.persons.append(pid)
        entry.dwellings.append(dwelling["dwelling_id"])
        entry.weight = float(
            Decimal(str(entry.weight)) + Decimal(str(dwelling["area_m2"] or 0))
        )
    return {e.key: e for e in groups.values()}


def compute_electorate(session: Session, kernel: Any, vote: Vote) -> dict[str, Entry]:
    """Who may vote, from the registry as it is now (the preview before opening, and
    the snapshot :func:`freeze_electorate` writes):

    * ``adult`` — every active resident of the community aged 18+: key ``p:<person>``;
    * ``household`` — one vote per household, cast by any adult member: key
      ``h:<household>`` (an adult registered without a household votes as a household of
      one: ``p:<person>``);
    * ``group_rep`` — the residents' group representatives the committee designated
      (:class:`GroupRep`), still active adult residents: key ``p:<person>``;
    * ``owner_unit`` — the owners' assembly (:func:`_owner_entries`): owners only,
      weighted by exclusive area."""
    if vote.electorate == "owner_unit":
        return _owner_entries(session, kernel, vote)
    entries: dict[str, Entry] = {}
    if vote.electorate == "group_rep":
        read = reader(session, kernel, f"electorate of vote {vote.id}")
        ids = list(
            session.scalars(select(GroupRep.person_id).where(GroupRep.community == vote.community))
        )
        for p in read.persons(ids):
            if (
                p["status"] == "active"
                and p["community"] == vote.community
                and (read.age(p["id"]) or 0) >= ADULT_AGE
            ):
                entries[f"p:{p['id']}"] = Entry(f"p:{p['id']}", [p["id"]])
        return entries
    for p in _adults(session, kernel, vote):
        if vote.electorate == "household" and p.get("household_id"):
            key = f"h:{p['household_id']}"
        else:
            key = f"p:{p['id']}"
        entry = entries.setdefault(key, Entry(key))
        entry.persons.append(p["id"])
        if p.get("dwelling_id") and p["dwelling_id"] not in entry.dwellings:
            entry.dwellings.append(p["dwelling_id"])
    return entries


def freeze_electorate(
    session: Session, kernel: Any, vote: Vote, *, now: datetime | None = None
) -> bool:
    """Snapshot the electorate (:class:`ElectorateEntry` rows, with the time, the size,
    the total area and the registry state marker on the vote). Done once, when the vote
    opens — at the first cast, page or job run after ``opens_at``, or by the committee's
    "open now" — and never again: later registry changes do not move it. The vote row is
    claimed with a conditional UPDATE so two concurrent freezers write one snapshot.
    Returns whether this call froze it."""
    if vote.frozen_at is not None:
        return False
    now = now or utcnow()
    read = reader(session, kernel, f"electorate of vote {vote.id}")
    marker = read.state_marker()
    entries = compute_electorate(session, kernel, vote)
    area = sum((Decimal(str(e.weight)) for e in entries.values()), Decimal(0))
    claimed = session.execute(
        update(Vote)
        .where(Vote.id == vote.id, Vote.frozen_at.is_(None))
        .values(
            frozen_at=now,
            registry_marker=marker,
            electorate_count=len(entries),
            electorate_area=float(area) if vote.electorate == "owner_unit" else None,
        )
    )
    if claimed.rowcount == 0:
        session.refresh(vote)
        return False
    for entry in entries.values():
        dwellings = ",".join(str(d) for d in entry.dwellings)[:200]
        for pid in entry.persons or [None]:
            session.add(
                ElectorateEntry(
                    vote_id=vote.id,
                    voter_key=entry.key,
                    person_id=pid,
                    dwellings=dwellings,
                    weight=entry.weight,
                )
            )
    session.flush()
    session.refresh(vote)
    if now < aware(vote.closes_at):  # opened (not frozen late, at the count): tell them
        tell_vote_opened(session, vote, (p for e in entries.values() for p in e.persons))
    return True


def ensure_frozen(session: Session, kernel: Any, vote: Vote) -> None:
    """Freeze the electorate of a vote that has opened (or passed its close) and is not
    frozen yet; an upcoming vote is left alone."""
    if vote.frozen_at is None and aware(vote.opens_at) <= utcnow():
        freeze_electorate(session, kernel, vote)


def freeze_open_votes(session: Session, kernel: Any) -> list[int]:
    """Freeze every vote that has opened without a snapshot (the periodic job)."""
    now = utcnow()
    due = session.scalars(
        select(Vote).where(Vote.frozen_at.is_(None), Vote.opens_at <= now)
    ).all()
    return [v.id for v in due if freeze_electorate(session, kernel, v, now=now)]


def _frozen_keys(session: Session, vote: Vote, person_id: int) -> list[tuple[str, float]]:
    return [
        (key, float(weight or 0))
        for key, weight in session.execute(
            select(ElectorateEntry.voter_key, ElectorateEntry.weight)
            .where(ElectorateEntry.vote_id == vote.id, ElectorateEntry.person_id == person_id)
            .order_by(ElectorateEntry.id)
        )
    ]


def eligibility(session: Session, kernel: Any, vote: Vote, person_id: int | None) -> Eligibility:
    """Whether a registry person may vote, under which voter key and with which weight.

    Once the vote's electorate is frozen (:func:`freeze_electorate`) the snapshot alone
    decides: a voter who moved out or whose flat was sold after the opening still votes,
    a newcomer does not. Before (an upcoming vote) the answer comes from the registry now,
    by the rules of :func:`compute_electorate`. A person who may cast for several keys
    (the owner of two groups of dwellings) casts for the first not yet cast."""
    if person_id is None:
        return Eligibility(None, N_("Only verified residents can vote."))
    if vote.frozen_at is not None:
        keys = _frozen_keys(session, vote, person_id)
        if not keys:  # say why, in the registry's terms when it has a reason
            live = _live_eligibility(session, kernel, vote, person_id)
            return Eligibility(None, live.reason if live.key is None else _refusal(vote))
        for key, weight in keys:
            if not _on_roll(session, vote, key):
                return Eligibility(key, weight=weight)
        return Eligibility(keys[0][0], weight=keys[0][1])
    return _live_eligibility(session, kernel, vote, person_id)


def _live_eligibility(
    session: Session, kernel: Any, vote: Vote, person_id: int
) -> Eligibility:
    """:func:`eligibility` from the registry as it is now."""
    if vote.electorate == "owner_unit":
        for entry in _owner_entries(session, kernel, vote).values():
            if person_id in entry.persons:
                return Eligibility(entry.key, weight=entry.weight)
        return Eligibility(None, N_("Only owners of a dwelling in this community vote here."))
    read = reader(session, kernel, f"eligibility for vote {vote.id}")
    try:
        person = read.person(person_id)
    except ScopeError:
        return Eligibility(None, N_("You are not in the registry."))
    if person["status"] != "active" or person["community"] != vote.community:
        return Eligibility(None, N_("You are not a resident of this community."))
    age = read.age(person_id)
    if age is None or age < ADULT_AGE:
        return Eligibility(None, N_("Only residents aged 18 or over can vote."))
    if vote.electorate == "adult":
        return Eligibility(f"p:{person_id}")
    if vote.electorate == "household":
        hid = person.get("household_id")
        return Eligibility(f"h:{hid}" if hid else f"p:{person_id}")
    rep = session.scalar(
        select(GroupRep.id).where(
            GroupRep.community == vote.community, GroupRep.person_id == person_id
        )
    )
    if rep is None:
        return Eligibility(None, N_("Only residents' group representatives vote here."))
    return Eligibility(f"p:{person_id}")


def _refusal(vote: Vote) -> str:
    return N_("You were not in the electorate when this vote opened.")


def _on_roll(session: Session, vote: Vote, key: str) -> bool:
    return (
        session.scalar(
            select(VoterRoll.id).where(VoterRoll.vote_id == vote.id, VoterRoll.voter_key == key)
        )
        is not None
    )


def electorate_size(session: Session, kernel: Any, vote: Vote) -> dict[str, Any]:
    """How many voter keys the electorate has and (owners' assembly) their total
    exclusive area: the frozen figures once frozen, else the registry's now."""
    if vote.frozen_at is not None:
        return {
            "count": int(vote.electorate_count or 0),
            "area": vote.electorate_area if vote.electorate == "owner_unit" else None,
        }
    entries = compute_electorate(session, kernel, vote)
    area = None
    if vote.electorate == "owner_unit":
        area = float(sum((Decimal(str(e.weight)) for e in entries.values()), Decimal(0)))
    return {"count": len(entries), "area": area}


#: Voter keys listed per page of the electorate check (a community's adults run into
#: thousands: a phone must not get them all, nor their access logs a look at each).
ELECTORATE_PAGE = 50


def electorate_preview(
    session: Session, kernel: Any, vote: Vote, *, actor: Any, page: int = 1,
    per_page: int = ELECTORATE_PAGE,
) -> dict[str, Any]:
    """What the committee sees of the electorate before (and after) opening: its size,
    total area, whether and when it was frozen (and from which registry state), and the
    list — names masked, the dwellings as masked addresses — of those the ``actor``'s
    places cover. Every person listed gets an access-log entry (through the reader,
    under the actor's own place scope)."""
    purpose = f"electorate of vote {vote.id}"
    if vote.frozen_at is not None:
        rows = session.execute(
            select(ElectorateEntry.voter_key, ElectorateEntry.person_id,
                   ElectorateEntry.dwellings, ElectorateEntry.weight)
            .where(ElectorateEntry.vote_id == vote.id)
            .order_by(ElectorateEntry.id)
        ).all()
        entries: dict[str, Entry] = {}
        for key, pid, dwellings, weight in rows:
            entry = entries.setdefault(
                key,
                Entry(key, [], [int(d) for d in dwellings.split(",") if d], float(weight or 0)),
            )
            if pid:
                entry.persons.append(pid)
    else:
        entries = compute_electorate(session, kernel, vote)
    size = electorate_size(session, kernel, vote)
    ordered = sorted(entries.values(), key=lambda e: e.key)
    pages = max(1, -(-len(ordered) // per_page))
    page = min(max(page, 1), pages)
    shown = ordered[(page - 1) * per_page: page * per_page]  # only these are read and logged
    person_ids = sorted({p for e in shown for p in e.persons})
    people = {
        p["id"]: p
        for p in toolkit.registry_reader(
            session, PLUGIN, actor=actor, purpose=purpose, kernel=kernel
        ).persons(person_ids)
    }
    listed = []
    hidden = 0
    for entry in shown:
        names = [toolkit.mask_name(people[p]["name"]) for p in entry.persons if p in people]
        if entry.persons and not names:
            hidden += 1  # outside the actor's places
            continue
        listed.append(
            {
                "key": entry.key,
                "kind": ROLL_KEY_KINDS.get(entry.key.split(":", 1)[0], ""),
                "names": names,
                "dwellings": len(entry.dwellings),
                "weight": entry.weight,
            }
        )
    unowned = None
    if vote.electorate == "owner_unit":
        unowned = reader(session, kernel, purpose).community_owners(vote.community)["unowned"]
    session.flush()
    return {
        "count": size["count"],
        "area": size["area"],
        "frozen_at": vote.frozen_at,
        "registry_marker": vote.registry_marker,
        "entries": listed,
        "hidden": hidden,
        "page": page,
        "pages": pages,
        "no_area": sum(1 for e in entries.values() if vote.electorate == "owner_unit"
                       and not e.weight),
        "unowned": unowned,
    }


ROLL_KEY_KINDS = {"p": N_("In person"), "h": N_("For the household"), "d": N_("For the dwelling")}


def vote_roll(session: Session, kernel: Any, vote: Vote, *, actor: Any) -> list[dict[str, Any]]:
    """Who has voted, for the committee: one row per roll entry the ``actor`` may see —
    the voter's name read through the scoped reader under the actor's own place scope
    (a person outside it is left out), how they voted (in person, for the household,
    for the dwelling), when, and for an open vote the public choice. Each person shown
    gets an entry in their access log (the reader logs the registry read; this logs the
    plugin's own record of their participation)."""
    purpose = f"vote roll of vote {vote.id}"
    roll = list(
        session.scalars(
            select(VoterRoll)
            .where(VoterRoll.vote_id == vote.id)
            .order_by(VoterRoll.voted_at, VoterRoll.id)
        )
    )
    people = {
        p["id"]: p
        for p in toolkit.registry_reader(
            session, PLUGIN, actor=actor, purpose=purpose, kernel=kernel
        ).persons(sorted({r.person_id for r in roll}))
    }
    fields = ["vote_participation"] + ([] if vote.secret else ["vote_public_choice"])
    out = []
    for row in roll:
        person = people.get(row.person_id)
        if person is None:
            continue  # outside the actor's places
        toolkit.log_person_access(
            session,
            person_id=row.person_id,
            fields=fields,
            purpose=purpose,
            plugin=PLUGIN,
            actor=actor,
            masked=False,
        )
        out.append(
            {
                "person_id": row.person_id,
                "name": person["name"],
                "kind": ROLL_KEY_KINDS.get(row.voter_key.split(":", 1)[0], ""),
                "voted_at": row.voted_at,
                "public_choice": None if vote.secret else row.public_choice,
            }
        )
    session.flush()
    return out


def set_group_rep(
    session: Session, *, community: str, person_id: int, group_name: str = ""
) -> GroupRep:
    rep = session.scalar(
        select(GroupRep).where(GroupRep.community == community, GroupRep.person_id == person_id)
    )
    if rep is None:
        rep = GroupRep(community=community, person_id=person_id, group_name=group_name)
        session.add(rep)
    rep.group_name = group_name
    session.flush()
    return rep


REP_PURPOSE = "residents' group representatives"


def name_group_rep(session: Session, kernel: Any, *, community: str, person_id: int,
                   group_name: str, actor: Any) -> GroupRep:
    """Name a registry person the representative of a residents' group (the committee's
    page; the CLI calls :func:`set_group_rep`). The person must be an active adult
    resident of ``community`` and within the member's own places (read through the
    scoped reader, so the look is in their access log)."""
    group_name = (group_name or "").strip()
    if not group_name:
        raise GovernanceError(
            N_("Residents' group: enter the group's name, such as Group 3."), "group_name")
    try:
        person = toolkit.registry_reader(
            session, PLUGIN, actor=actor, purpose=REP_PURPOSE, kernel=kernel
        ).person(person_id)
    except (ScopeError, RegistryError):
        person = None
    if person is None or person["community"] != community or person["status"] != "active":
        raise GovernanceError(
            N_("Resident: choose a resident of this community from the search results."),
            "person_id")
    age = reader(session, kernel, "a representative is an adult").age(person_id)
    if age is None or age < ADULT_AGE:
        raise GovernanceError(
            N_("Resident: a representative must be %(n)s or older."), "person_id", n=ADULT_AGE)
    return set_group_rep(session, community=community, person_id=person_id,
                         group_name=group_name[:60])


def group_reps(session: Session, kernel: Any, community: str, *, actor: Any
               ) -> list[dict[str, Any]]:
    """The community's representatives, named, for the committee: each person shown is
    read through the scoped reader under the member's places (and so in their log)."""
    rows = list(session.scalars(
        select(GroupRep).where(GroupRep.community == community)
        .order_by(GroupRep.group_name, GroupRep.id)
    ))
    people = {p["id"]: p for p in toolkit.registry_reader(
        session, PLUGIN, actor=actor, purpose=REP_PURPOSE, kernel=kernel
    ).persons(sorted({r.person_id for r in rows}))}
    return [{"id": r.id, "group_name": r.group_name, "person_id": r.person_id,
             "name": people[r.person_id]["name"]}
            for r in rows if r.person_id in people]


def remove_group_rep(session: Session, rep: GroupRep) -> None:
    """A representative steps down (votes already frozen keep their electorate)."""
    session.delete(rep)
    session.flush()


def find_residents(session: Session, kernel: Any, community: str, query: str, *,
                   actor: Any) -> list[dict[str, Any]]:
    """Adults of ``community`` matching ``query`` (name, pinyin or initials), for the
    representative picker; the search logs each person shown."""
    query = (query or "").strip()
    if not query:
        return []
    page = toolkit.registry_reader(
        session, PLUGIN, actor=actor, purpose=REP_PURPOSE, kernel=kernel
    ).search(query, community=community, age_min=ADULT_AGE, per_page=10, with_total=False)
    return list(page.items)
