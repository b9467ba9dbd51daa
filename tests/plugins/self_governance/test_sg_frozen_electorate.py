"""Electorates are frozen when a vote opens: a snapshot of who may vote (with the registry
state marker it came from), shown to the committee before opening (count, area, masked
names, access-logged); later registry changes — a voter moving out, an owner selling —
do not move it, and a newcomer is not in it."""

from __future__ import annotations

from datetime import timedelta

from self_governance_kit import committee, csrf, sign_in, years_ago
from sqlalchemy import func, select, update

from core.db import utcnow
from core.registry import services as rs
from core.registry.models import Change
from core.registry.ownership import add_owner, end_ownership
from core.testing import access_log
from plugins.self_governance import services as sv
from plugins.self_governance.models import ElectorateEntry, Vote


def new_vote(db, world, *, upcoming=False, **kw):
    now = utcnow()
    start = now + timedelta(days=1) if upcoming else now - timedelta(hours=1)
    args = dict(community=world.c1, title="冻结选民测试", electorate="adult", secret=True,
                opens_at=start, closes_at=start + timedelta(days=2))
    args.update(kw)
    return sv.create_vote(db, **args)


def test_a_voter_who_moves_out_after_opening_stays_in_the_electorate(app, world):
    kernel = world.kernel
    with kernel.db.session_scope() as db:
        leaver = rs.register_person(db, {"name": "吴将走", "birth_date": years_ago(40)},
                                    bus=kernel.bus, dwelling_id=world.ids.d1)
        vote = new_vote(db, world)
        household = new_vote(db, world, electorate="household")
        sv.cast_ballot(db, kernel, vote, person_id=world.ids.head, user_id=None,
                       selection=["yes"])  # the first cast after the opening freezes
        sv.freeze_open_votes(db, kernel)  # the job freezes the other one
        marker = db.scalar(select(func.max(Change.id)))
        assert vote.frozen_at is not None and vote.registry_marker == marker
        size = sv.electorate_size(db, kernel, vote)
        assert size == {"count": 7, "area": None}  # C1's 6 adults + the leaver
        vote_id, household_id = vote.id, household.id
    with kernel.db.session_scope() as db:  # after the opening: moves, a newcomer
        rs.move_person(db, leaver.id, to_dwelling_id=None, bus=kernel.bus)
        newcomer = rs.register_person(db, {"name": "郑新来", "birth_date": years_ago(30)},
                                      bus=kernel.bus, dwelling_id=world.ids.d2)
    with kernel.db.session_scope() as db:
        vote = db.get(Vote, vote_id)
        assert vote.registry_marker < db.scalar(select(func.max(Change.id)))
        assert sv.electorate_size(db, kernel, vote)["count"] == 7
        assert sv.eligibility(db, kernel, vote, leaver.id).key == f"p:{leaver.id}"
        refused = sv.eligibility(db, kernel, vote, newcomer.id)
        assert refused.key is None and refused.reason
        sv.cast_ballot(db, kernel, vote, person_id=leaver.id, user_id=None, selection=["no"])
        # the live registry would say otherwise: 6 adults + the newcomer, not the leaver
        live = sv.compute_electorate(db, kernel, vote)
        assert f"p:{leaver.id}" not in live and f"p:{newcomer.id}" in live
        household = db.get(Vote, household_id)
        assert sv.eligibility(db, kernel, household, newcomer.id).key is None
        db.execute(update(Vote).where(Vote.id == vote_id)
                   .values(closes_at=utcnow() - timedelta(seconds=1)))
        db.refresh(vote)
        result = sv.close_vote(db, kernel, kernel.bus, vote)
        assert (result["electorate"], result["turnout"]) == (7, 2)
        rows = db.scalar(select(func.count()).select_from(ElectorateEntry)
                         .where(ElectorateEntry.vote_id == vote_id))
        assert rows == 7


def test_an_owner_who_sells_after_opening_still_votes(app, world):
    kernel = world.kernel
    with kernel.db.session_scope() as db:
        own = add_owner(db, dwelling_id=world.ids.d1, person_id=world.ids.head)
        db.commit()
        vote = new_vote(db, world, electorate="owner_unit", matter="other_major")
        sv.ensure_frozen(db, kernel, vote)
        assert vote.electorate_count == 1
        end_ownership(db, own.id)
        add_owner(db, dwelling_id=world.ids.d1, person_id=world.ids.spouse)
        assert sv.eligibility(db, kernel, vote, world.ids.head).key == f"d:{world.ids.d1}"
        assert sv.eligibility(db, kernel, vote, world.ids.spouse).key is None
        db.rollback()


def test_the_committee_checks_the_electorate_before_opening(app, world):
    with world.kernel.db.session_scope() as db:
        vote_id = new_vote(db, world, upcoming=True).id
    committee(app, "sg-freeze-cm", world.c1)
    client = sign_in(app, "sg-freeze-cm")
    page = client.get(f"/self-governance/votes/{vote_id}/electorate")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="not-frozen"' in html and 'id="electorate-count">' in html
    assert "王**" in html and "王建国" not in html  # masked names
    entries = [e for e in access_log(app, world.ids.head, via="self_governance",
                                     actor="sg-freeze-cm")
               if e["purpose"] == f"electorate of vote {vote_id}"]
    assert entries and entries[0]["masked"] is True
    with world.kernel.db.session_scope() as db:
        assert db.get(Vote, vote_id).frozen_at is None  # looking does not freeze
    token = csrf(client, f"/self-governance/votes/{vote_id}/electorate")
    resp = client.post(f"/self-governance/votes/{vote_id}/open", data={"csrf_token": token})
    assert resp.status_code == 302
    html = client.get(f"/self-governance/votes/{vote_id}/electorate").get_data(as_text=True)
    assert 'id="frozen"' in html and "open-now" not in html
    with world.kernel.db.session_scope() as db:
        vote = db.get(Vote, vote_id)
        assert vote.frozen_at is not None and sv.vote_state(vote) == "open"
        assert vote.electorate_count == sv.electorate_size(db, world.kernel, vote)["count"]
    # without a CSRF token nothing is opened
    with world.kernel.db.session_scope() as db:
        later = new_vote(db, world, upcoming=True).id
    client.post(f"/self-governance/votes/{later}/open")
    with world.kernel.db.session_scope() as db:
        assert db.get(Vote, later).frozen_at is None

def test_a_member_of_another_community_may_not_see_it(app, world):
    with world.kernel.db.session_scope() as db:
        vote_id = new_vote(db, world, upcoming=True).id
    committee(app, "sg-freeze-c2", world.c2)
    client = sign_in(app, "sg-freeze-c2")
    assert client.get(f"/self-governance/votes/{vote_id}/electorate").status_code in (403, 404)
