"""Who holds a vote: the electorate modes, a person's eligibility and voter key, the size
of the electorate at the close, the roll the committee sees, and the residents' group
representatives. Kept apart from the counting because it is the part that reads the
registry (docs/requirements.md, domain §5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import core.toolkit as toolkit
from core.toolkit import N_, ScopeError
from plugins.self_governance.models import (
    GroupRep,
    Vote,
    VoterRoll,
)
from plugins.self_governance.services.common import PLUGIN, reader

#: Electorate modes (docs/requirements.md, domain §5): who holds a vote, and what a "voter key" is.
ELECTORATES = ("adult", "household", "group_rep", "owner_unit")


ADULT_AGE = 18


@dataclass(frozen=True)
class Eligibility:
    key: str | None  # None: may not vote
    reason: str = ""
    weight: float = 1.0


def eligibility(session: Session, kernel: Any, vote: Vote, person_id: int | None) -> Eligibility:
    """Whether a registry person may vote now, and under which voter key:

    * ``adult`` — every active resident of the community aged 18+: key ``p:<person>``;
    * ``household`` — one vote per household, cast by any adult member: key
      ``h:<household>`` (an adult registered without a household votes as a household of
      one: ``p:<person>``);
    * ``group_rep`` — the residents' group representatives the committee designated
      (:class:`GroupRep`), still active residents: key ``p:<person>``;
    * ``owner_unit`` — one vote per dwelling (Civil Code art. 278 counts one head per
      exclusive unit): key ``d:<dwelling>``. The registry does not tell plugins who owns a
      dwelling nor its area, so an adult resident of the dwelling casts its vote and every
      dwelling weighs 1 (see docs/plugins/self_governance.md, "Owners' assembly").

    A person who moved out, died or was merged is no longer active and cannot vote."""
    if person_id is None:
        return Eligibility(None, N_("Only verified residents can vote."))
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
    if vote.electorate == "group_rep":
        rep = session.scalar(
            select(GroupRep.id).where(
                GroupRep.community == vote.community, GroupRep.person_id == person_id
            )
        )
        if rep is None:
            return Eligibility(None, N_("Only residents' group representatives vote here."))
        return Eligibility(f"p:{person_id}")
    did = person.get("dwelling_id")
    if not did:
        return Eligibility(None, N_("Only residents of a dwelling vote here."))
    return Eligibility(f"d:{did}")


def electorate_size(session: Session, kernel: Any, vote: Vote) -> dict[str, Any]:
    """How many voter keys the electorate has, from the registry now (at the close).
    ``area`` is None: the registry gives plugins no dwelling areas (the documented gap)."""
    read = reader(session, kernel, f"electorate of vote {vote.id}")
    if vote.electorate == "group_rep":
        ids = list(
            session.scalars(select(GroupRep.person_id).where(GroupRep.community == vote.community))
        )
        people = read.persons(ids)
        count = sum(
            1 for p in people if p["status"] == "active" and p["community"] == vote.community
        )
        return {"count": count, "area": None}
    keys: set[str] = set()
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
        for p in found.items:
            if vote.electorate == "adult":
                keys.add(f"p:{p['id']}")
            elif vote.electorate == "household":
                hid = p.get("household_id")
                keys.add(f"h:{hid}" if hid else f"p:{p['id']}")
            elif p.get("dwelling_id"):
                keys.add(f"d:{p['dwelling_id']}")
        if len(found.items) < 100:
            break
        page += 1
    return {"count": len(keys), "area": None}


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
