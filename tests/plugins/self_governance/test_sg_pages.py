"""Issue 16 for self-governance, the committee's side: pages for what only the CLI could
do (opening the yearly evaluation, naming residents' group representatives), pickers
instead of typed codes and ids, error messages that name their field, and times typed
and shown in ``app.timezone`` (Asia/Shanghai here), checked with a clock at 23:30 UTC."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from self_governance_kit import committee, csrf, sign_in
from sqlalchemy import select

from core.db import utcnow
from core.testing import access_count
from plugins.self_governance import services as sv
from plugins.self_governance.models import (
    EvaluationMember,
    EvaluationRound,
    GroupRep,
    Notice,
    Vote,
)


def _member(app, world, name: str):
    committee(app, name, world.c1)
    return sign_in(app, name)


# ----------------------------------------------------------------------------- evaluation


def test_the_committee_opens_the_yearly_evaluation_on_a_page(app, world):
    member = _member(app, world, "sg_round_member")
    url = "/self-governance/evaluation/new"
    form = member.get(url).get_data(as_text=True)
    assert f'value="{world.c1}"' in form and f'value="{world.c2}"' not in form
    # errors name the field and what is expected
    bad = member.post(url, data={"csrf_token": csrf(member, url), "community": world.c1,
                                 "year": "", "days": "500", "members": "| 主任"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert "Year: enter the year evaluated, such as 2026." in text
    assert "Days it stays open: enter a whole number from 1 to 90." in text
    bad = member.post(url, data={"csrf_token": csrf(member, url), "community": world.c1,
                                 "year": "2031", "days": "20", "members": "| 主任"})
    assert "Committee members to rate: line 1 has no name." in bad.get_data(as_text=True)
    resp = member.post(url, data={"csrf_token": csrf(member, url), "community": world.c1,
                                  "year": "2031", "days": "20",
                                  "members": "刘主任 | 居委会主任\n\n李委员|委员"})
    assert resp.status_code == 302
    with world.kernel.db.session_scope() as db:
        rnd = db.scalar(select(EvaluationRound).where(EvaluationRound.year == 2031))
        assert rnd.community == world.c1
        names = db.scalars(select(EvaluationMember.name).where(
            EvaluationMember.round_id == rnd.id).order_by(EvaluationMember.id)).all()
        assert names == ["刘主任", "李委员"]
        closes = rnd.closes_at if rnd.closes_at.tzinfo else rnd.closes_at.replace(tzinfo=UTC)
        assert timedelta(days=19, hours=23) < closes - utcnow() <= timedelta(days=20)
    again = member.post(url, data={"csrf_token": csrf(member, url), "community": world.c1,
                                   "year": "2031", "days": "20", "members": "王 | 委员"})
    assert again.status_code == 400
    assert "This year&#39;s evaluation exists already." in again.get_data(as_text=True)
    # another community's code posted by hand is refused, naming the field
    other = member.post(url, data={"csrf_token": csrf(member, url), "community": world.c2,
                                   "year": "2032", "days": "20", "members": "王 | 委员"})
    assert "Community: choose one of the communities listed." in other.get_data(as_text=True)


# ----------------------------------------------------------------------------- group reps


def test_the_committee_names_group_representatives_by_picking_them(app, world):
    member = _member(app, world, "sg_rep_member")
    url = "/self-governance/group-reps/"
    page = member.get(url, query_string={"q": "赵"}).get_data(as_text=True)
    # the picker finds adults of the member's community by name: 赵强 (C1), never 赵四 (C2)
    assert "赵强" in page and "赵四" not in page
    assert f'name="person_id" value="{world.ids.h2_head}"' in page
    assert access_count(app, world.ids.h2_head) >= 1  # being shown is in their log
    minor = member.get(url, query_string={"q": "王小明"}).get_data(as_text=True)
    assert f'value="{world.ids.son}"' not in minor  # 17: not offered
    token = csrf(member, url)
    no_group = member.post(url, data={"csrf_token": token, "person_id": world.ids.h2_head,
                                      "group_name": ""})
    assert no_group.status_code == 400
    assert "Residents&#39; group: enter the group&#39;s name" in no_group.get_data(as_text=True)
    outsider = member.post(url, data={"csrf_token": token, "person_id": world.ids.other,
                                      "group_name": "第一组"})
    assert outsider.status_code == 400
    assert "Resident: choose a resident of this community" in outsider.get_data(as_text=True)
    minor = member.post(url, data={"csrf_token": token, "person_id": world.ids.son,
                                   "group_name": "第一组"})
    assert minor.status_code == 400
    resp = member.post(url, data={"csrf_token": token, "person_id": world.ids.h2_head,
                                  "group_name": "第一组"})
    assert resp.status_code == 302
    listed = member.get(url).get_data(as_text=True)
    assert re.search(r"<strong>赵强</strong> · 第一组", listed)
    with world.kernel.db.session_scope() as db:
        rep = db.scalar(select(GroupRep).where(GroupRep.person_id == world.ids.h2_head))
        assert (rep.community, rep.group_name) == (world.c1, "第一组")
        rep_id = rep.id
    # a member of another community cannot see or remove it
    committee(app, "sg_rep_c2", world.c2)
    c2 = sign_in(app, "sg_rep_c2")
    assert c2.get(url, query_string={"community": world.c1}).status_code == 404
    gone = c2.post(f"/self-governance/group-reps/{rep_id}/remove",
                   data={"csrf_token": csrf(c2, url)})
    assert gone.status_code == 404
    removed = member.post(f"/self-governance/group-reps/{rep_id}/remove",
                          data={"csrf_token": token})
    assert removed.status_code == 302
    with world.kernel.db.session_scope() as db:
        assert db.get(GroupRep, rep_id) is None


# ----------------------------------------------------------------------------- pickers


def test_the_notice_form_offers_communities_and_buildings_by_name(app, world):
    member = _member(app, world, "sg_notice_member")
    url = "/self-governance/notices/new"
    form = member.get(url).get_data(as_text=True)
    assert '<select id="community" name="community"' in form
    assert f'value="{world.c1}"' in form and f'value="{world.c2}"' not in form
    assert 'name="community" type="text"' not in form
    assert re.search(r'<select [^>]*id="building" name="building"', form)
    with world.kernel.db.session_scope() as db:
        buildings = sv.community_buildings(db, world.kernel, world.c1)
    bid = next(iter(buildings))
    assert f'value="{bid}"' in form
    empty = member.post(url, data={"csrf_token": csrf(member, url), "community": world.c1})
    assert re.search(r"Title: enter the notice(&#39;|')s title\.", empty.get_data(as_text=True))
    resp = member.post(url, data={"csrf_token": csrf(member, url), "title": "停水",
                                  "community": world.c1, "building": str(bid),
                                  "expires_at": "2099-01-01T07:30"})
    assert resp.status_code == 302
    with world.kernel.db.session_scope() as db:
        notice = db.scalar(select(Notice).where(Notice.title == "停水"))
        assert notice.building_id == bid
        expires = notice.expires_at.replace(tzinfo=None) if notice.expires_at.tzinfo \
            else notice.expires_at
        # typed in Beijing time: 07:30 on 1 January is 23:30 UTC on 31 December
        assert expires == datetime(2098, 12, 31, 23, 30)


def test_a_vote_form_is_in_local_time(app, world):
    member = _member(app, world, "sg_vote_form_member")
    url = "/self-governance/votes/new"
    form = member.get(url).get_data(as_text=True)
    assert f'value="{world.c1}"' in form and "(UTC)" not in form
    resp = member.post(url, data={
        "csrf_token": csrf(member, url), "title": "Local time", "community": world.c1,
        "kind": "motion", "electorate": "adult", "quorum": "half", "pass_rule": "half",
        "secret": "y", "seats": "1",
        "opens_at": "2099-03-10T07:30", "closes_at": "2099-03-17T20:00",
    })
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    with world.kernel.db.session_scope() as db:
        vote = db.scalar(select(Vote).where(Vote.title == "Local time"))
        opens = vote.opens_at.astimezone(UTC) if vote.opens_at.tzinfo \
            else vote.opens_at.replace(tzinfo=UTC)
        assert opens == datetime(2099, 3, 9, 23, 30, tzinfo=UTC)
    page = member.get(f"/self-governance/votes/{vote.id}").get_data(as_text=True)
    assert re.search(r"<dd>3/10/99, 7:30\W+AM</dd>", page)  # shown in Beijing time too
    assert "11:30" not in page


def test_statements_are_on_time_by_the_local_day(app, world):
    """Due on the 15th: published at 23:30 UTC on the 15th is the 16th in Beijing."""
    with world.kernel.db.session_scope() as db:
        stmt = sv.publish_statement(db, community=world.c1, period="2031-05", title="May",
                                    items=[], author_id=None)
        assert stmt.due_on == date(2031, 6, 15)
        stmt.published_at = datetime(2031, 6, 15, 23, 30, tzinfo=UTC)
        db.flush()
        from zoneinfo import ZoneInfo

        local = sv.supervision(db, None, tz=ZoneInfo("Asia/Shanghai"))
        utc = sv.supervision(db, None, tz=UTC)
        assert utc["statements_on_time"] == local["statements_on_time"] + 1
        db.rollback()


def test_the_electorate_check_lists_a_page_and_logs_only_that_page(app, world):
    """Thousands of adults must not land on one phone page, nor every one of them in
    their access log for a look at the first fifty."""
    from core.identity.models import User

    committee(app, "sg_pages_electorate", world.c1)
    i = world.ids
    adults = (i.head, i.spouse, i.daughter, i.h2_head, i.h2_wife, i.lodger)
    with world.kernel.db.session_scope() as db:
        now = utcnow()
        vote_id = sv.create_vote(db, community=world.c1, title="Pages", electorate="adult",
                                 opens_at=now + timedelta(days=1),
                                 closes_at=now + timedelta(days=2)).id
    before = {p: access_count(app, p) for p in adults}
    with world.kernel.db.session_scope() as db:
        member = db.scalar(select(User).where(User.username == "sg_pages_electorate"))
        second = sv.electorate_preview(db, world.kernel, db.get(Vote, vote_id), actor=member,
                                       page=2, per_page=4)
        assert (second["page"], second["pages"], len(second["entries"])) == (2, 2, 2)
    logged = [p for p in adults if access_count(app, p) > before[p]]
    assert len(logged) == 2  # the two shown, not the four of page 1
    with world.kernel.db.session_scope() as db:
        member = db.scalar(select(User).where(User.username == "sg_pages_electorate"))
        beyond = sv.electorate_preview(db, world.kernel, db.get(Vote, vote_id), actor=member,
                                       page=9, per_page=4)
        assert beyond["page"] == 2  # past the end: the last page
        everyone = sv.electorate_preview(db, world.kernel, db.get(Vote, vote_id), actor=member)
        assert everyone["pages"] == 1 and len(everyone["entries"]) == 6
    page = sign_in(app, "sg_pages_electorate").get(
        f"/self-governance/votes/{vote_id}/electorate", query_string={"page": "1"})
    assert page.status_code == 200 and 'id="electorate-list"' in page.get_data(as_text=True)


def test_a_vote_set_up_to_open_now_is_frozen_at_once(app, world):
    from zoneinfo import ZoneInfo

    member = _member(app, world, "sg_vote_now_member")
    url = "/self-governance/votes/new"
    local_now = utcnow().astimezone(ZoneInfo("Asia/Shanghai"))
    resp = member.post(url, data={
        "csrf_token": csrf(member, url), "title": "Open now", "community": world.c1,
        "kind": "motion", "electorate": "adult", "quorum": "half", "pass_rule": "half",
        "secret": "y", "seats": "1",
        "opens_at": (local_now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"),
        "closes_at": (local_now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
    })
    assert resp.status_code == 302
    page = member.get(resp.headers["Location"]).get_data(as_text=True)
    assert "The vote is open now; its electorate is frozen." in page and 'id="frozen"' in page
    with world.kernel.db.session_scope() as db:
        vote = db.scalar(select(Vote).where(Vote.title == "Open now"))
        assert vote.frozen_at is not None and vote.electorate_count == 6


def test_form_errors_name_their_field(app, world):
    from self_governance_kit import resident

    resident(app, "sg_pages_proposer", world.ids.lodger)
    proposer = sign_in(app, "sg_pages_proposer")
    url = "/self-governance/proposals/new"
    resp = proposer.post(url, data={"csrf_token": csrf(proposer, url)})
    text = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "Title: say in a few words what you propose." in text
    assert "What do you propose, and why: describe it for your neighbours." in text
    assert "This field is required." not in text
    with world.kernel.db.session_scope() as db:
        pid = sv.create_proposal(db, community=world.c1, author_id=None, title="Lamps",
                                 body="More lamps", threshold=5, support_days=5).id
    member = _member(app, world, "sg_pages_answerer")
    page = f"/self-governance/proposals/{pid}"
    member.post(f"{page}/answer", data={"csrf_token": csrf(member, page),
                                        "answer": "accepted", "reason": ""})
    assert "Reasons: explain the answer; the resident reads them." in member.get(
        page).get_data(as_text=True)
