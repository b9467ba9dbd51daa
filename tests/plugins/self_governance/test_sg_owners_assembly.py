"""The owners' assembly (Civil Code art. 278) counted by exclusive area and by head, on a
hand-computed example; owners only (tenants and residents who own nothing are refused).

The example, community C1 (areas are 专有部分面积, m²):

=========  ======  ======================================  ============================
dwelling   area    owners                                  voter key (one head each)
=========  ======  ======================================  ============================
d1         100     A (王建国, lives there) 1/1             A: 100
d2          80     B (赵强) 1/2 + C (孙丽) 1/2              B+C: 80 (co-owners: one head)
d4, d5     60+60   D (赵四, lives in C2) 1/1 each           D: 120 (several units: one head)
d6          50     organisation O (legal rep E)            O: 50, cast by E
d7          70     F 1/1                                   F: 70
d8          40     nobody recorded                         not in the electorate
=========  ======  ======================================  ============================

Electorate: 5 owners (heads), 420 m². The tenant 周租客 at d2 and A's wife at d1 own
nothing and may not vote.

* Vote 1, matter (4) hiring the property manager (> 1/2 of both), ballots A yes, B yes,
  D no, F yes (O abstains from taking part):
  participation 4/5 heads = 80.00 % >= 2/3 and 370/420 m² = 88.10 % >= 2/3: quorum met;
  in favour 3/4 heads = 75.00 % > 1/2 and 250/370 m² = 67.57 % > 1/2: PASSED.
* Vote 2, matter (6) raising the maintenance fund (>= 3/4 of both), same ballots:
  3/4 heads = 75.00 % >= 3/4, but 250/370 m² = 67.57 % < 3/4: NOT passed (area decides).
* Vote 3, matter (9) other major matters, ballots A yes, D yes, F yes:
  participation 290/420 m² = 69.05 % >= 2/3, but 3/5 heads = 60.00 % < 2/3: quorum NOT
  met, so not passed although everyone voting was in favour.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from self_governance_kit import committee, sign_in, years_ago
from sqlalchemy import update

from core.db import utcnow
from core.registry import services as rs
from core.registry.models import Dwelling
from core.registry.ownership import add_owner
from core.registry.testing import make_credit_code
from plugins.self_governance import services as sv
from plugins.self_governance.models import Vote


@pytest.fixture(scope="module")
def owners(app, world):
    i = world.ids
    kernel = world.kernel
    with kernel.db.session_scope() as db:
        def dwelling(room):
            return rs.ensure_dwelling(db, community=world.c1, estate="和平小区", building="3栋",
                                      unit="2单元", room=room, road="和平路88号")

        d4, d5, d6, d7, d8 = (dwelling(r) for r in ("1701", "1702", "1801", "1802", "1901"))
        areas = {i.d1: 100, i.d2: 80, d4.id: 60, d5.id: 60, d6.id: 50, d7.id: 70, d8.id: 40}
        for did, area in areas.items():
            db.get(Dwelling, did).area_m2 = area
        e = rs.register_person(db, {"name": "钱法人", "birth_date": years_ago(50)},
                               bus=kernel.bus, dwelling_id=i.d3)
        f = rs.register_person(db, {"name": "孙业主", "birth_date": years_ago(35)},
                               bus=kernel.bus, dwelling_id=d7.id, role="owner")
        org = rs.register_organisation(db, {"name": "和平商贸有限公司", "credit_code":
                                            make_credit_code("91110105600037349"),
                                            "community": world.c1, "legal_rep_id": e.id},
                                       bus=kernel.bus)
        add_owner(db, dwelling_id=i.d1, person_id=i.head)
        add_owner(db, dwelling_id=i.d2, person_id=i.h2_head, share="1/2")
        add_owner(db, dwelling_id=i.d2, person_id=i.h2_wife, share="1/2")
        add_owner(db, dwelling_id=d4.id, person_id=i.other)
        add_owner(db, dwelling_id=d5.id, person_id=i.other)
        add_owner(db, dwelling_id=d6.id, organisation_id=org.id)
        add_owner(db, dwelling_id=d7.id, person_id=f.id)
        return SimpleNamespace(a=i.head, b=i.h2_head, c=i.h2_wife, d=i.other, e=e.id, f=f.id,
                               tenant=i.lodger, wife=i.spouse, d4=d4.id, d6=d6.id)


def assembly_vote(db, world, matter, *, secret=True):
    now = utcnow()
    return sv.create_vote(db, community=world.c1, title=f"业主大会 {matter}",
                          electorate="owner_unit", matter=matter, secret=secret,
                          opens_at=now - timedelta(hours=1), closes_at=now + timedelta(days=1))


def cast(db, world, vote, person, choice="yes"):
    sv.cast_ballot(db, world.kernel, vote, person_id=person, user_id=None, selection=[choice])


def close(db, world, vote):
    db.execute(update(Vote).where(Vote.id == vote.id)
               .values(closes_at=utcnow() - timedelta(seconds=1)))
    db.refresh(vote)
    return sv.close_vote(db, world.kernel, world.kernel.bus, vote)


def test_the_matter_sets_the_civil_code_thresholds(app, world, owners):
    with world.kernel.db.session_scope() as db:
        with pytest.raises(sv.GovernanceError) as err:
            assembly_vote(db, world, None)
        assert err.value.field == "matter"
        fund = assembly_vote(db, world, "fund_raise")
        manager = assembly_vote(db, world, "property_manager")
        assert (fund.quorum, fund.pass_rule) == ("two_thirds", "three_quarters")
        assert (manager.quorum, manager.pass_rule) == ("two_thirds", "half")
        assert {m for m, rule in sv.MATTERS.items() if rule == "three_quarters"} == {
            "fund_raise", "rebuild", "common_use"}
        db.rollback()


def test_hand_computed_example(app, world, owners):
    o = owners
    with world.kernel.db.session_scope() as db:
        ballots = [(o.a, "yes"), (o.b, "yes"), (o.d, "no"), (o.f, "yes")]
        results = {}
        for matter, secret in (("property_manager", True), ("fund_raise", False)):
            vote = assembly_vote(db, world, matter, secret=secret)
            for person, choice in ballots:
                cast(db, world, vote, person, choice)
            results[matter] = close(db, world, vote)
        r = results["property_manager"]
        a = r["assembly"]
        assert (r["electorate"], r["turnout"]) == (5, 4)
        assert (a["owners_total"], a["area_total"], a["area_participating"]) == (5, 420.0, 370.0)
        assert (a["participation_owners_pct"], a["participation_area_pct"]) == (80.0, 88.1)
        assert a["quorum_met"] is True and r["quorum_met"] is True
        yes = next(c for c in a["choices"] if c["code"] == "yes")
        assert (yes["owners"], yes["area"], yes["owners_pct"], yes["area_pct"]) == (
            3, 250.0, 75.0, 67.57)
        no = next(c for c in a["choices"] if c["code"] == "no")
        assert (no["owners"], no["area"]) == (1, 120.0)
        assert r["passed"] is True and a["threshold"] == "half" and a["item"] == 4
        assert "278" in a["rule"] and r["area_available"] is True

        r = results["fund_raise"]
        assert r["quorum_met"] is True and r["passed"] is False  # 67.57 % of area < 3/4
        assert r["assembly"]["item"] == 6 and r["assembly"]["threshold"] == "three_quarters"

        vote = assembly_vote(db, world, "other_major")
        for person in (o.a, o.d, o.f):
            cast(db, world, vote, person)
        r = close(db, world, vote)
        a = r["assembly"]
        assert (a["participation_owners_pct"], a["participation_area_pct"]) == (60.0, 69.05)
        assert r["quorum_met"] is False and r["passed"] is False
        db.rollback()


def test_only_owners_vote_and_co_owners_count_once(app, world, owners):
    o = owners
    with world.kernel.db.session_scope() as db:
        vote = assembly_vote(db, world, "committee", secret=False)
        for outsider in (o.tenant, o.wife):  # live at d2 / d1 but own nothing
            with pytest.raises(sv.GovernanceError) as err:
                cast(db, world, vote, outsider)
            assert err.value.field == "vote"
            assert "electorate" in str(err.value) or "owners" in str(err.value)
        cast(db, world, vote, o.b)
        with pytest.raises(sv.AlreadyVoted):
            cast(db, world, vote, o.c)  # the co-owner of d2: one head for both
        cast(db, world, vote, o.d)  # d4 and d5: one key, 120 m²
        with pytest.raises(sv.AlreadyVoted):
            cast(db, world, vote, o.d)
        cast(db, world, vote, o.e)  # the organisation's legal representative
        keys = {e.key: e for e in sv.compute_electorate(db, world.kernel, vote).values()}
        assert keys[f"d:{o.d4}"].weight == 120.0 and len(keys[f"d:{o.d4}"].dwellings) == 2
        assert keys[f"d:{o.d6}"].persons == [o.e]
        assert sv.voter_status(db, world.kernel, vote, o.c)["voted"] is True
        db.rollback()


def test_result_page_shows_area_and_head(app, world, owners):
    o = owners
    with world.kernel.db.session_scope() as db:
        vote = assembly_vote(db, world, "property_manager")
        for person, choice in [(o.a, "yes"), (o.b, "yes"), (o.d, "no"), (o.f, "yes")]:
            cast(db, world, vote, person, choice)
        close(db, world, vote)
        vote_id = vote.id
    committee(app, "sg-assembly-cm", world.c1)
    client = sign_in(app, "sg-assembly-cm")
    page = client.get(f"/self-governance/votes/{vote_id}").get_data(as_text=True)
    assert 'id="assembly"' in page and "88.1" in page and "67.57" in page
    assert "370.0 of 420.0" in page and "4 of 5 (80.0%)" in page
    assert "Civil Code art. 278" in page and "(4)" in page
