"""Finding 1 (the ballot part) and finding 10.

* Casting a ballot and rating the committee are personal acts: a worker acting for a
  resident in the assisted channel is refused (403) on the pages and the API, and the
  resident's page says why instead of offering the ballot.
* Deny by default: a committee member with no place assignment acts for no community.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from self_governance_kit import committee, csrf, resident, sign_in
from sqlalchemy import func, select

from core.db import utcnow
from core.testing import ensure_user
from core.toolkit import AccountView
from plugins.self_governance import services as sv
from plugins.self_governance.models import EvaluationMember, EvaluationRoll, Vote, VoterRoll


def open_vote(world, **kw) -> int:
    now = utcnow()
    args = dict(
        community=world.c1,
        title="加装电梯",
        opens_at=now - timedelta(hours=1),
        closes_at=now + timedelta(days=1),
    )
    args.update(kw)
    with world.kernel.db.session_scope() as db:
        return sv.create_vote(db, **args).id


def assisting(app, username: str):
    """A hotline operator's client, acting for ``username`` (the assisted channel)."""
    ensure_user(app, "hotline_operator", username="sg_operator")
    client = sign_in(app, "sg_operator")
    resp = client.post(
        "/account/assist",
        data={
            "csrf_token": csrf(client, "/account/assist"),
            "resident": username,
            "reason": "老人来电，请求代为投票",
            "minutes": "20",
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return client


def refused(resp) -> None:
    """How core refuses a personal act in the assisted channel on a page: 403, or back
    to the account page with a word of explanation (never the act's own redirect)."""
    assert resp.status_code in (302, 403), resp.status_code
    if resp.status_code == 302:
        assert resp.headers["Location"].rstrip("/").endswith("/account"), resp.headers


def roll_size(world, vote_id: int) -> int:
    with world.kernel.db.session_scope() as db:
        return db.scalar(
            select(func.count()).select_from(VoterRoll).where(VoterRoll.vote_id == vote_id)
        )


# ----------------------------------------------------------------------------- finding 1


def test_the_assisted_channel_cannot_cast_a_residents_ballot(app, world):
    resident(app, "sg_assisted_voter", world.ids.h2_wife)
    vote_id = open_vote(world)
    url = f"/self-governance/votes/{vote_id}"
    agent = assisting(app, "sg_assisted_voter")
    page = agent.get(url).get_data(as_text=True)
    assert 'id="personal-only"' in page and 'name="choice"' not in page
    token = csrf(agent, url)
    resp = agent.post(f"{url}/ballot", data={"csrf_token": token, "choice": "yes"})
    refused(resp)
    api = agent.post(
        f"/api/v1/self-governance/votes/{vote_id}/ballot",
        json={"choice": ["yes"]},
        headers={"X-CSRFToken": token},
    )
    assert api.status_code == 403 and api.json["error"]
    assert roll_size(world, vote_id) == 0
    # the resident themselves, signed in, votes (the refusal is about the channel)
    own = sign_in(app, "sg_assisted_voter")
    resp = own.post(f"{url}/ballot", data={"csrf_token": csrf(own, url), "choice": "yes"})
    assert resp.status_code == 200 and roll_size(world, vote_id) == 0  # the check page
    resp = own.post(f"{url}/ballot", data={"csrf_token": csrf(own, url), "choice": "yes",
                                           "confirmed": "1"})
    assert resp.status_code == 302
    assert roll_size(world, vote_id) == 1


def test_the_assisted_channel_cannot_rate_the_committee(app, world):
    resident(app, "sg_assisted_rater", world.ids.lodger)
    with world.kernel.db.session_scope() as db:
        rnd = sv.create_round(
            db,
            community=world.c1,
            year=2031,
            members=[("刘主任", "主任")],
            closes_at=utcnow() + timedelta(days=3),
        )
        rid = rnd.id
        mid = db.scalar(select(EvaluationMember.id).where(EvaluationMember.round_id == rid))
    agent = assisting(app, "sg_assisted_rater")
    page = agent.get("/self-governance/evaluation/").get_data(as_text=True)
    assert 'id="personal-only"' in page
    resp = agent.post(
        f"/self-governance/evaluation/{rid}/rate",
        data={"csrf_token": csrf(agent, "/self-governance/evaluation/"), f"m{mid}": "competent"},
    )
    refused(resp)
    with world.kernel.db.session_scope() as db:
        taken = db.scalar(
            select(func.count()).select_from(EvaluationRoll).where(EvaluationRoll.round_id == rid)
        )
    assert taken == 0


# ----------------------------------------------------------------------------- finding 10


def account(*scopes: tuple[str, str]) -> AccountView:
    return AccountView(
        id=1,
        username="m",
        display_name="",
        kind="staff",
        roles=("committee_member",),
        person_id=None,
        locale="zh",
        is_active=True,
        is_verified=False,
        scopes=tuple(scopes),
    )


@pytest.mark.parametrize(
    "scopes, community, allowed",
    [
        ((), "110105001001", False),  # no assignment: no community (it used to be all)
        ((), None, False),
        ((("community", "110105001001"),), "110105001001", True),
        ((("community", "110105001001"),), "110105001002", False),
        ((("community", "110105001001"),), None, False),  # "every community" needs all
        ((("all", ""),), None, True),
        ((("all", ""),), "110105001002", True),
    ],
)
def test_acts_for_denies_by_default(scopes, community, allowed):
    assert sv.acts_for(account(*scopes), community) is allowed


def test_an_unassigned_committee_member_acts_for_no_community(app, world):
    ensure_user(app, "committee_member", username="sg_unassigned")
    client = sign_in(app, "sg_unassigned")
    url = "/self-governance/notices/new"
    resp = client.post(
        url,
        data={"csrf_token": csrf(client, url), "title": "停电", "body": "", "community": world.c1},
    )
    assert resp.status_code == 400
    assert "Community: you act for no community yet." in resp.get_data(as_text=True)
    with world.kernel.db.session_scope() as db:
        p = sv.create_proposal(
            db,
            community=world.c1,
            author_id=None,
            title="装路灯",
            body="x",
            threshold=1,
            support_days=5,
        )
        pid = p.id
    vote_id = open_vote(world)
    tok = csrf(client, "/self-governance/")
    answer = client.post(
        f"/self-governance/proposals/{pid}/answer",
        data={"csrf_token": tok, "answer": "accepted", "reason": "好"},
    )
    assert answer.status_code == 404
    assert client.get(f"/self-governance/votes/{vote_id}/roll").status_code == 404
    assert (
        client.post(f"/self-governance/votes/{vote_id}/close", data={"csrf_token": tok}).status_code
        == 404
    )
    # once assigned, the same member acts for that community
    committee(app, "sg_unassigned", world.c1)
    client = sign_in(app, "sg_unassigned")
    assert client.get(f"/self-governance/votes/{vote_id}/roll").status_code == 200
    with world.kernel.db.session_scope() as db:
        assert db.get(Vote, vote_id).closed_at is None
