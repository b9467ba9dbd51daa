"""Issue 16 for self-governance: residents are told what concerns them (their proposal
answered and carried out, the result of a vote they took part in, a moderator's action on
their post or account, mentions and replies) in THEIR language, linking to the page; a
ballot is cast only after a confirmation page, and the voter gets a receipt code they can
check without it revealing a secret choice."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from self_governance_kit import committee, csrf, resident, sign_in
from sqlalchemy import select, update

from core.db import utcnow
from core.identity.models import Notification, User
from core.testing import deliver_events
from plugins.self_governance import services as sv
from plugins.self_governance.models import Board, Post, Proposal, Vote, VoterRoll

SETTINGS = {"verified_only_posting": False, "new_user_days": 0, "new_user_posts_per_hour": 50}


def _locale(app, user_id: int, locale: str) -> None:
    with app.extensions["shequ"].db.session_scope() as db:
        db.get(User, user_id).locale = locale


def _notes(app, user_id: int, link: str) -> list[tuple[str, str]]:
    with app.extensions["shequ"].db.session_scope() as db:
        rows = db.scalars(
            select(Notification).where(Notification.user_id == user_id,
                                       Notification.link == link).order_by(Notification.id)
        ).all()
        return [(n.title, n.body) for n in rows]


def _proposal(app, world, author_id: int, title: str) -> int:
    with world.kernel.db.session_scope() as db:
        return sv.create_proposal(db, community=world.c1, author_id=author_id, title=title,
                                  body="Benches by building 3.", threshold=10,
                                  support_days=30).id


# ----------------------------------------------------------------------------- proposals


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_author_is_told_the_answer_and_progress_in_their_language(app, world, locale):
    person = world.ids.h2_head if locale == "zh" else world.ids.h2_wife
    author = resident(app, f"sg_author_{locale}", person)
    _locale(app, author.id, locale)
    committee(app, "sg_out_committee", world.c1)
    pid = _proposal(app, world, author.id, f"Benches {locale}")
    member = sign_in(app, "sg_out_committee")  # the member works on an English page
    url = f"/self-governance/proposals/{pid}"
    resp = member.post(f"{url}/answer", data={"csrf_token": csrf(member, url),
                                              "answer": "accepted", "reason": "Budget found."})
    assert resp.status_code == 302
    deliver_events(app)
    deliver_events(app)  # a second run tells nobody twice
    notes = _notes(app, author.id, url)
    assert len(notes) == 1
    title, body = notes[0]
    if locale == "zh":
        assert "已答复" in title and "采纳" in title and "Budget found." in body
        assert not re.search(r"[A-Za-z]{4,}", title.replace(f"Benches {locale}", ""))
    else:
        assert title == f"Your proposal “Benches {locale}” is answered: accepted"
        assert body == "The committee's reasons: Budget found."
    resp = member.post(f"{url}/progress", data={"csrf_token": csrf(member, url),
                                                "status": "done", "note": "Two benches set."})
    assert resp.status_code == 302
    notes = _notes(app, author.id, url)
    assert len(notes) == 2 and notes[1][1] == "Two benches set."
    assert ("已完成" if locale == "zh" else "Done") in notes[1][0]
    # opening the page the notifications link to reads them
    assert _unread(app, author.id, url) == 2
    assert sign_in(app, f"sg_author_{locale}").get(url).status_code == 200
    assert _unread(app, author.id, url) == 0


def _unread(app, user_id: int, link: str) -> int:
    with app.extensions["shequ"].db.session_scope() as db:
        return len(db.scalars(select(Notification.id).where(
            Notification.user_id == user_id, Notification.link == link,
            Notification.read_at.is_(None))).all())


# ----------------------------------------------------------------------------- votes


def _open_vote(world, title: str, **kw) -> int:
    now = utcnow()
    with world.kernel.db.session_scope() as db:
        return sv.create_vote(db, community=world.c1, title=title, electorate="adult",
                              quorum="half", pass_rule="half", secret=True,
                              opens_at=now - timedelta(hours=1),
                              closes_at=now + timedelta(days=1), **kw).id


def _end(world, vote_id: int) -> None:
    with world.kernel.db.session_scope() as db:
        db.execute(update(Vote).where(Vote.id == vote_id)
                   .values(closes_at=utcnow() - timedelta(seconds=1)))


def test_a_ballot_is_cast_only_after_the_confirmation_page(app, world):
    resident(app, "sg_confirm_voter", world.ids.daughter)
    vid = _open_vote(world, "Confirm first")
    voter = sign_in(app, "sg_confirm_voter")
    url = f"/self-governance/votes/{vid}"
    page = voter.get(url).get_data(as_text=True)
    assert 'id="continue-vote"' in page
    # nothing chosen: the vote page again, the error naming what to choose
    resp = voter.post(f"{url}/ballot", data={"csrf_token": csrf(voter, url)})
    assert resp.status_code == 400
    assert "Choose one option: in favour, against or abstain." in resp.get_data(as_text=True)
    # a choice: the confirmation page, nothing cast yet
    resp = voter.post(f"{url}/ballot", data={"csrf_token": csrf(voter, url), "choice": "no"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "You cannot change it after submitting." in page and "Against" in page
    assert 'name="confirmed" value="1"' in page and 'value="no"' in page
    with world.kernel.db.session_scope() as db:
        assert db.scalar(select(VoterRoll.id).where(VoterRoll.vote_id == vid)) is None
    # confirmed: cast, and the receipt
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = voter.post(f"{url}/ballot", data={"csrf_token": token, "choice": "no",
                                             "confirmed": "1"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"{url}/receipt")
    receipt_page = voter.get(f"{url}/receipt").get_data(as_text=True)
    code = re.search(r'id="receipt-code">([A-Z0-9-]+)<', receipt_page).group(1)
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{5}-[2-9A-HJKMNP-Z]{5}", code)
    # a secret ballot's receipt says nothing of the choice
    body = receipt_page.split("<main", 1)[1]
    assert "Against" not in body and "In favour" not in body
    assert f"Your receipt: <code>{code}</code>" in voter.get(url).get_data(as_text=True)
    # a second confirmation (an old tab) is refused: one vote per voter
    resp = voter.post(f"{url}/ballot", data={"csrf_token": csrf(voter, url), "choice": "yes",
                                             "confirmed": "1"})
    assert resp.status_code == 409


def test_a_receipt_is_checked_without_revealing_voter_or_choice(app, world, client):
    resident(app, "sg_receipt_voter", world.ids.lodger)
    vid = _open_vote(world, "Receipts")
    with world.kernel.db.session_scope() as db:
        vote = db.get(Vote, vid)
        user = db.scalar(select(User).where(User.username == "sg_receipt_voter"))
        row = sv.cast_ballot(db, world.kernel, vote, person_id=world.ids.lodger,
                             user_id=user.id, selection=["yes"])
        code = row.receipt
    url = f"/self-governance/votes/{vid}/check"
    client.set_cookie("shequ_lang", "en")
    open_page = client.get(url, query_string={"receipt": code.lower().replace("-", "")})
    text = open_page.get_data(as_text=True)
    assert open_page.status_code == 200
    assert f"Receipt <code>{code}</code> is on the roll." in text and "still open" in text
    assert "周租客" not in text and "In favour" not in text
    _end(world, vid)
    client.get(f"/self-governance/votes/{vid}")  # counted on the way
    text = client.get(url, query_string={"receipt": code}).get_data(as_text=True)
    assert "It is in the count: the 1 ballots counted match the 1 names on the roll." in text
    wrong = client.get(url, query_string={"receipt": "AAAAA-AAAAA"})
    assert wrong.status_code == 400
    assert "No ballot of this vote has the receipt AAAAA-AAAAA" in wrong.get_data(as_text=True)
    empty = client.get(url, query_string={"receipt": ""})
    assert empty.status_code == 400 and "Enter the receipt code" in empty.get_data(as_text=True)


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_voters_are_told_the_result_in_their_language(app, world, locale):
    person = world.ids.spouse if locale == "zh" else world.ids.head
    voter = resident(app, f"sg_result_{locale}", person)
    _locale(app, voter.id, locale)
    vid = _open_vote(world, f"Result {locale}")
    with world.kernel.db.session_scope() as db:
        sv.cast_ballot(db, world.kernel, db.get(Vote, vid), person_id=person,
                       user_id=voter.id, selection=["yes"])
    _end(world, vid)
    with world.kernel.db.session_scope() as db:
        sv.close_due_votes(db, world.kernel, world.kernel.bus)
    deliver_events(app)
    notes = _notes(app, voter.id, f"/self-governance/votes/{vid}")
    assert len(notes) == 2  # the vote opened to them (at the first cast), then the result
    title, body = notes[1]
    if locale == "zh":
        assert "结果已公布" in title and "未通过" in title and "投票人数" in body
    else:  # 1 of 6 adults: no quorum, not passed
        assert title == f"The result of “Result {locale}” is published: not passed"
        assert body == "Turnout 1 of 6; quorum not met."


# ----------------------------------------------------------------------------- forum


def _post(app, world, username: str, title: str) -> tuple[int, int]:
    with world.kernel.db.session_scope() as db:
        sv.ensure_default_boards(db)
        board = db.scalar(select(Board).where(Board.slug == "general"))
        user = db.scalar(select(User).where(User.username == username))
        thread = sv.start_thread(db, board, user, title=title, body="Hello neighbours",
                                 settings=SETTINGS)
        post = db.scalar(select(Post).where(Post.thread_id == thread.id))
        return thread.id, post.id


def test_the_author_is_told_of_moderation_in_their_language(app, world):
    author = resident(app, "sg_forum_author", None)
    _locale(app, author.id, "zh")
    committee(app, "sg_out_moderator", world.c1)
    tid, pid = _post(app, world, "sg_forum_author", "Lost cat")
    link = f"/self-governance/threads/{tid}"
    mod = sign_in(app, "sg_out_moderator")  # English page
    thread_url = f"/self-governance/threads/{tid}"
    resp = mod.post(f"/self-governance/posts/{pid}/moderate",
                    data={"csrf_token": csrf(mod, thread_url), "action": "hide",
                          "reason": "Phone number of a neighbour"})
    assert resp.status_code == 302
    deliver_events(app)
    resp = mod.post(f"/self-governance/posts/{pid}/moderate",
                    data={"csrf_token": csrf(mod, thread_url), "action": "restore",
                          "reason": "Number removed"})
    assert resp.status_code == 302
    notes = _notes(app, author.id, link)
    assert [t for t, _b in notes] == ["管理员隐藏了您在“Lost cat”中的帖子",
                                      "您在“Lost cat”中的帖子已恢复显示"]
    assert notes[0][1] == "管理员的理由：Phone number of a neighbour"
    assert notes[1][1] == "管理员的理由：Number removed"


def test_mentions_and_replies_are_in_the_recipients_language(app, world):
    zh_user = resident(app, "sg_mention_zh", None)
    en_user = resident(app, "sg_follow_en", None)
    _locale(app, zh_user.id, "zh")
    _locale(app, en_user.id, "en")
    tid, _pid = _post(app, world, "sg_follow_en", "Park walk")
    with app.app_context(), world.kernel.db.session_scope() as db:
        from plugins.self_governance.models import Thread

        other = resident(app, "sg_mention_writer", None)
        sv.reply(db, db.get(Thread, tid), db.get(User, other.id),
                 body="@sg_mention_zh come along", settings=SETTINGS)
    with world.kernel.db.session_scope() as db:
        titles = {n.user_id: n.title for n in db.scalars(
            select(Notification).where(Notification.link == f"/self-governance/threads/{tid}")
        )}
    assert titles[zh_user.id] == "有人在“Park walk”中提到了您"
    assert titles[en_user.id] == "New reply in “Park walk”, which you follow"


def test_answered_proposal_event_without_a_proposal_tells_nobody(app, world):
    """A subscriber that finds nothing to tell (the row is gone) does nothing."""
    from types import SimpleNamespace

    from plugins.self_governance.services import outcomes

    with world.kernel.db.session_scope() as db:
        before = db.scalar(select(Notification.id).order_by(Notification.id.desc()).limit(1))
        outcomes.on_proposal_answered(SimpleNamespace(payload={"proposal_id": 987654}), db)
        after = db.scalar(select(Notification.id).order_by(Notification.id.desc()).limit(1))
        assert before == after
        assert db.get(Proposal, 987654) is None
