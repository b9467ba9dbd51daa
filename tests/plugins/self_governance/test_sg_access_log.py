"""The access-log walk for self_governance: every staff view that shows a named person
writes that person's access log (finding: personal data only through the scoped, logged
reader), and the staff views that show no person show no registry data.

The plugin keeps person references only (the roll, supports, group representatives);
the one staff view with names is the committee's vote roll: names read through the
scoped reader under the member's own place scope, the participation record logged by the
plugin. Forum pages show the display name a member chose for their account, never
registry data.
"""

from __future__ import annotations

from datetime import timedelta

from self_governance_kit import committee, csrf, resident, sign_in
from sqlalchemy import select

from core.db import utcnow
from core.testing import access_log
from plugins.self_governance import services as sv
from plugins.self_governance.models import Vote

#: Registry names of C1's residents (self_governance_kit.build_world): no staff page but the roll
#: may show them.
C1_NAMES = ("王建国", "李芳", "王小丽", "王小明", "赵强", "孙丽", "周租客")


def vote_with_ballots(world, *, secret: bool) -> int:
    now = utcnow()
    with world.kernel.db.session_scope() as db:
        vote = sv.create_vote(
            db,
            community=world.c1,
            title="小区停车收费",
            secret=secret,
            opens_at=now - timedelta(hours=1),
            closes_at=now + timedelta(days=1),
        )
        for person, choice in ((world.ids.head, "yes"), (world.ids.spouse, "no")):
            sv.cast_ballot(
                db, world.kernel, vote, person_id=person, user_id=None, selection=[choice]
            )
        return vote.id


def roll_entries(app, person_id: int, actor: str, vote_id: int) -> list[dict]:
    """The plugin's own entries for the roll (the reader may add its own for the names)."""
    return [
        e
        for e in access_log(app, person_id, via="self_governance", actor=actor)
        if e["purpose"] == f"vote roll of vote {vote_id}" and "vote_participation" in e["fields"]
    ]


def test_the_vote_roll_is_in_each_voters_access_log(app, world):
    committee(app, "sg_roll_member", world.c1)
    vote_id = vote_with_ballots(world, secret=True)
    client = sign_in(app, "sg_roll_member")
    page = client.get(f"/self-governance/votes/{vote_id}/roll")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "王建国" in html and "李芳" in html and "赵强" not in html  # only who voted
    assert "In favour" not in html and ">yes<" not in html  # a secret roll: no choice
    for person in (world.ids.head, world.ids.spouse):
        entries = roll_entries(app, person, "sg_roll_member", vote_id)
        assert entries, f"no access-log entry for person {person}"
        assert entries[0]["fields"] == ["vote_participation"]
        assert entries[0]["masked"] is False
    assert roll_entries(app, world.ids.h2_head, "sg_roll_member", vote_id) == []
    # a second look the same day is the same entry, counted
    client.get(f"/self-governance/votes/{vote_id}/roll")
    assert roll_entries(app, world.ids.head, "sg_roll_member", vote_id)[0]["count"] >= 2


def test_an_open_votes_roll_logs_the_public_choice_too(app, world):
    committee(app, "sg_roll_member", world.c1)
    vote_id = vote_with_ballots(world, secret=False)
    client = sign_in(app, "sg_roll_member")
    html = client.get(f"/self-governance/votes/{vote_id}/roll").get_data(as_text=True)
    assert "王建国" in html and ">yes<" in html
    entry = roll_entries(app, world.ids.head, "sg_roll_member", vote_id)[0]
    assert entry["fields"] == ["vote_participation", "vote_public_choice"]


def test_a_member_of_another_community_sees_no_roll_and_logs_nothing(app, world):
    committee(app, "sg_roll_c2", world.c2)
    vote_id = vote_with_ballots(world, secret=True)
    client = sign_in(app, "sg_roll_c2")
    assert client.get(f"/self-governance/votes/{vote_id}/roll").status_code == 404
    assert roll_entries(app, world.ids.head, "sg_roll_c2", vote_id) == []


def test_the_roll_link_is_for_the_members_who_act_there(app, world):
    committee(app, "sg_roll_member", world.c1)
    committee(app, "sg_roll_c2", world.c2)
    with world.kernel.db.session_scope() as db:
        vote_id = db.scalar(select(Vote.id).where(Vote.community == world.c1).limit(1))
    if vote_id is None:
        vote_id = vote_with_ballots(world, secret=True)
    url = f"/self-governance/votes/{vote_id}"
    assert 'id="roll-link"' in sign_in(app, "sg_roll_member").get(url).get_data(as_text=True)
    assert 'id="roll-link"' not in sign_in(app, "sg_roll_c2").get(url).get_data(as_text=True)


def test_staff_pages_without_persons_show_no_registry_data(app, world):
    """The committee desk, moderation, statements with questions, proposals and the forum
    show account display names at most: no registry name of any resident."""
    committee(app, "sg_walk_member", world.c1)
    resident(app, "sg_walk_resident", world.ids.daughter)
    with world.kernel.db.session_scope() as db:
        statement = sv.publish_statement(
            db,
            community=world.c1,
            period="2030-01",
            title="一月收支",
            items=[{"kind": "income", "description": "拨款", "amount": 10}],
        )
        sid = statement.id
        sv.ask_question(db, statement, asker_id=None, text="为什么？")
        sv.create_proposal(
            db,
            community=world.c1,
            author_id=None,
            title="修车棚",
            body="x",
            threshold=5,
            support_days=5,
        )
        sv.ensure_default_boards(db)
    board = "/self-governance/forum/general"
    writer = sign_in(app, "sg_walk_resident")
    writer.post(
        f"{board}/new", data={"csrf_token": csrf(writer, board), "title": "你好", "body": "好"}
    )
    member = sign_in(app, "sg_walk_member")
    for path in (
        "/self-governance/committee/",
        "/self-governance/moderation/",
        f"/self-governance/finances/{sid}",
        "/self-governance/proposals/",
        "/self-governance/forum/",
        board,
        "/self-governance/supervision/",
    ):
        resp = member.get(path)
        assert resp.status_code == 200, path
        html = resp.get_data(as_text=True)
        shown = [n for n in C1_NAMES if n in html]
        assert not shown, f"{path} shows registry names {shown}"
