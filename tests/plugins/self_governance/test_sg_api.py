"""The API for every page action: object checks (resident A never acts on B's things;
a committee member only within their communities), 409 for a rule refused in the current
state and 422 for a malformed request, through the same services as the pages; and the
residents told when a vote opens to them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from self_governance_kit import committee, resident, user_id
from sqlalchemy import select, update

from core.db import utcnow
from core.identity.models import Notification, User
from plugins.self_governance import services as sv
from plugins.self_governance.models import EvaluationRound, Post, Question, Vote

API = "/api/v1/self-governance"


def bearer(app, username: str) -> dict[str, str]:
    from core.identity.services import create_token, resolve_permissions

    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as db:
        u = db.scalar(select(User).where(User.username == username))
        _, tok = create_token(db, u, name="t", permissions=None, expires_days=None,
                              granted=set(resolve_permissions(u.role_names, kernel.roles)))
    return {"Authorization": f"Bearer {tok}", "Accept-Language": "en"}


@pytest.fixture(scope="module")
def people(app, world):
    """Tokens: residents A (C1, head) and B (C1, spouse), C (C2), an unverified account,
    a committee member of C1 and one of C2."""
    resident(app, "api_a", world.ids.head)
    resident(app, "api_b", world.ids.spouse)
    resident(app, "api_c", world.ids.other)
    resident(app, "api_unverified", None)
    committee(app, "api_m1", world.c1)
    committee(app, "api_m2", world.c2)
    return {name: bearer(app, f"api_{name}") for name in
            ("a", "b", "c", "unverified", "m1", "m2")}


def error(resp) -> dict:
    return resp.json["error"]


# ----------------------------------------------------------------------------- finances


def test_statements_questions_and_answers(app, world, people, client):
    m1, m2, a = people["m1"], people["m2"], people["a"]
    body = {"community": world.c1, "period": "2026-09", "title": "九月财务",
            "items": [{"kind": "income", "description": "租金", "amount": 1200.5},
                      {"kind": "expense", "description": "路灯", "amount": 300,
                       "voucher": "V-1"}]}
    assert client.post(f"{API}/statements", json={**body, "community": world.c2},
                       headers=m1).status_code == 403  # not one of m1's communities
    made = client.post(f"{API}/statements", json=body, headers=m1)
    assert made.status_code == 201, made.json
    assert made.json["totals"] == {"income": 1200.5, "expense": 300.0, "balance": 900.5}
    again = client.post(f"{API}/statements", json=body, headers=m1)
    assert again.status_code == 409 and "period" in error(again)["fields"]
    bad = client.post(f"{API}/statements", json={**body, "period": "2026-13"}, headers=m1)
    assert bad.status_code == 422 and "period" in error(bad)["fields"]
    sid = made.json["id"]

    url = f"{API}/statements/{sid}/questions"
    assert client.post(url, json={"text": "路灯为何这么贵？"},
                       headers=people["unverified"]).status_code == 403
    assert client.post(url, json={"text": ""}, headers=a).status_code == 422
    asked = client.post(url, json={"text": "路灯为何这么贵？"}, headers=a)
    assert asked.status_code == 201 and asked.json["state"] == "open"
    qid = asked.json["id"]
    with world.kernel.db.session_scope() as db:  # fixed at the asking, working days
        q = db.get(Question, qid)
        assert q.due_on is not None and q.due_on == sv.question_due(world.kernel, q.asked_at)
        assert (q.due_on - utcnow().date()).days >= 10  # 10 working days: two weeks

    # the C2 member neither sees it in their list nor may answer it
    assert qid not in [q["id"] for q in client.get(f"{API}/questions", headers=m2).json]
    assert qid in [q["id"] for q in client.get(f"{API}/questions", headers=m1).json]
    answer = f"{API}/questions/{qid}/answer"
    assert client.post(answer, json={"answer": "按合同"}, headers=m2).status_code == 404
    assert client.post(answer, json={"answer": "按合同"}, headers=a).status_code == 403
    done = client.post(answer, json={"answer": "按合同价格"}, headers=m1)
    assert done.status_code == 200 and done.json["state"] == "on_time"
    twice = client.post(answer, json={"answer": "再答"}, headers=m1)
    assert twice.status_code == 409 and error(twice)["fields"] == {
        "answer": ["This question is answered already."]}
    public = client.get(f"{API}/statements/{sid}").json
    assert public["questions"][0]["answer"] == "按合同价格" and len(public["lines"]) == 2


def test_question_states_read_the_local_day():
    """Answered at 23:30 UTC on the due day is the next day in Beijing: late."""
    from types import SimpleNamespace

    class Plugins:
        @staticmethod
        def settings(_id):
            return {"question_answer_days": 1}

    kernel = SimpleNamespace(config=SimpleNamespace(app={"timezone": "Asia/Shanghai"}),
                             plugins=Plugins())
    asked = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)  # Thursday 10:00 in Beijing
    q = Question(statement_id=1, text="?", asked_at=asked, due_on=None,
                 answered_at=datetime(2026, 12, 4, 15, 30, tzinfo=UTC))  # Fri 23:30 local
    assert sv.question_state(kernel, q) == "on_time"
    q.answered_at = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)  # Sat 00:30 local
    assert sv.question_state(kernel, q) == "late"
    q.answered_at = None
    assert sv.question_state(kernel, q, today=datetime(2026, 12, 7).date()) == "overdue"


# ----------------------------------------------------------------------------- proposals


def test_proposal_progress_and_drafts(app, world, people, client):
    a, b, m1, m2 = people["a"], people["b"], people["m1"], people["m2"]
    made = client.post(f"{API}/proposals", json={"title": "加装扶手", "body": "楼道"}, headers=a)
    assert made.status_code == 201
    pid = made.json["id"]
    progress = f"{API}/proposals/{pid}/progress"
    assert client.post(progress, json={"status": "done"}, headers=m1).status_code == 409
    assert client.post(progress, json={"status": "finished"}, headers=m1).status_code == 422
    ans = {"answer": "accepted", "reason": "预算已列"}
    assert client.post(f"{API}/proposals/{pid}/answer", json=ans, headers=m2).status_code == 404
    assert client.post(f"{API}/proposals/{pid}/answer", json=ans, headers=m1).status_code == 200
    assert client.post(progress, json={"status": "done"}, headers=m2).status_code == 404
    step = client.post(progress, json={"status": "in_progress", "note": "已采购"}, headers=m1)
    assert step.status_code == 201 and step.json["implementation"] == "in_progress"
    steps = client.get(f"{API}/proposals/{pid}/updates").json
    assert [s["status"] for s in steps][-2:] == ["accepted", "in_progress"]
    assert steps[-1]["note"] == "已采购"
    # A's draft is A's alone
    with world.kernel.db.session_scope() as db:
        draft = sv.create_proposal(db, community=world.c1, author_id=user_id(app, "api_a"),
                                   title="草稿", body="未提交", threshold=5, support_days=5,
                                   submit=False)
        did = draft.id
    assert client.get(f"{API}/proposals/{did}", headers=b).status_code == 404
    assert client.get(f"{API}/proposals/{did}").status_code == 404
    assert client.get(f"{API}/proposals/{did}", headers=a).json["status"] == "draft"


# ----------------------------------------------------------------------------- votes


def _notes(app, username: str, link: str) -> list[Notification]:
    with app.extensions["shequ"].db.session_scope() as db:
        uid = db.scalar(select(User.id).where(User.username == username))
        return list(db.scalars(select(Notification).where(
            Notification.user_id == uid, Notification.link == link)))


def test_vote_management_receipts_and_checks(app, world, people, client):
    a, b, m1, m2 = people["a"], people["b"], people["m1"], people["m2"]
    now = utcnow().replace(microsecond=0)
    body = {"community": world.c1, "title": "API表决", "electorate": "adult",
            "opens_at": (now + timedelta(hours=2)).isoformat(),
            "closes_at": (now + timedelta(days=2)).isoformat()}
    assert client.post(f"{API}/votes", json={**body, "community": world.c2},
                       headers=m1).status_code == 403
    wrong = client.post(f"{API}/votes", json={**body, "closes_at": now.isoformat()}, headers=m1)
    assert wrong.status_code == 409 and "closes_at" in error(wrong)["fields"]
    naive = client.post(f"{API}/votes", json={**body, "opens_at": "2026-12-01T08:00:00"},
                        headers=m1)
    assert naive.status_code == 422  # a time without its zone is ambiguous
    made = client.post(f"{API}/votes", json=body, headers=m1)
    assert made.status_code == 201 and made.json["state"] == "upcoming"
    vid = made.json["id"]
    link = f"/self-governance/votes/{vid}"
    assert _notes(app, "api_a", link) == []  # not open yet: nobody told

    assert client.get(f"{API}/votes/{vid}/electorate", headers=m2).status_code == 404
    preview = client.get(f"{API}/votes/{vid}/electorate", headers=m1).json
    assert preview["count"] == 6 and preview["frozen_at"] is None
    assert client.post(f"{API}/votes/{vid}/open", headers=m2).status_code == 404
    opened = client.post(f"{API}/votes/{vid}/open", headers=m1)
    assert opened.status_code == 200 and opened.json["state"] == "open"
    assert client.post(f"{API}/votes/{vid}/open", headers=m1).status_code == 409
    assert len(_notes(app, "api_a", link)) == 1 and len(_notes(app, "api_b", link)) == 1
    assert _notes(app, "api_c", link) == []  # C2's resident is not in the electorate

    assert client.get(f"{API}/votes/{vid}/receipt", headers=a).status_code == 404
    cast = client.post(f"{API}/votes/{vid}/ballot", json={"choice": ["yes"]}, headers=a)
    assert cast.status_code == 201
    mine = client.get(f"{API}/votes/{vid}/receipt", headers=a)
    assert mine.status_code == 200 and mine.json["public_choice"] == []  # secret
    assert client.get(f"{API}/votes/{vid}/receipt", headers=b).status_code == 404  # B's own
    code = mine.json["receipt"]
    check = client.get(f"{API}/votes/{vid}/check", query_string={"receipt": code})
    assert check.status_code == 200 and check.json == {
        "receipt": code, "voted_at": check.json["voted_at"], "closed": False,
        "counted": False, "turnout": None}
    assert client.get(f"{API}/votes/{vid}/check",
                      query_string={"receipt": "AAAAA-AAAAA"}).status_code == 404
    assert client.get(f"{API}/votes/{vid}/check",
                      query_string={"receipt": "x"}).status_code == 422
    assert client.post(f"{API}/votes/{vid}/close", headers=m1).status_code == 409  # still open
    roll = client.get(f"{API}/votes/{vid}/roll", headers=m1)
    assert roll.status_code == 200 and [r["person_id"] for r in roll.json] == [world.ids.head]
    assert client.get(f"{API}/votes/{vid}/roll", headers=m2).status_code == 404
    with world.kernel.db.session_scope() as db:
        db.execute(update(Vote).where(Vote.id == vid)
                   .values(closes_at=utcnow() - timedelta(seconds=1)))
    closed = client.post(f"{API}/votes/{vid}/close", headers=m1)
    assert closed.status_code == 200 and closed.json["result"]["turnout"] == 1
    assert len(_notes(app, "api_a", link)) == 1  # the count did not tell the opening again


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_a_vote_opening_tells_each_eligible_resident_once_in_their_language(
        app, world, locale):
    voter = resident(app, f"api_open_{locale}", world.ids.daughter if locale == "zh"
                     else world.ids.lodger)
    minor = resident(app, "api_minor", world.ids.son)  # 17: not eligible
    kernel = world.kernel
    with kernel.db.session_scope() as db:
        db.get(User, voter.id).locale = locale
    with app.app_context(), kernel.db.session_scope() as db:
        now = utcnow()
        vote = sv.create_vote(db, community=world.c1, title=f"开放 {locale}",
                              opens_at=now + timedelta(hours=1), closes_at=now + timedelta(days=1))
        sv.open_vote_now(db, kernel, vote)
        vid = vote.id
    with app.app_context(), kernel.db.session_scope() as db:  # every later path: no repeat
        vote = db.get(Vote, vid)
        sv.ensure_frozen(db, kernel, vote)
        sv.freeze_electorate(db, kernel, vote)
        sv.close_due_votes(db, kernel, kernel.bus)
    link = f"/self-governance/votes/{vid}"
    notes = _notes(app, f"api_open_{locale}", link)
    assert len(notes) == 1
    if locale == "zh":
        assert notes[0].title == f"您可以参加投票了：“开放 {locale}”"
        assert "不得代投" in notes[0].body
    else:
        assert notes[0].title == f"A vote is open to you: “开放 {locale}”"
        assert notes[0].body.startswith("You may vote until ")
    assert _notes(app, minor.username, link) == []


# ----------------------------------------------------------------------------- forum


def test_forum_and_moderation(app, world, people, client):
    a, b, m1 = people["a"], people["b"], people["m1"]
    with world.kernel.db.session_scope() as db:
        sv.ensure_default_boards(db)
    boards = client.get(f"{API}/forum/boards").json
    assert "general" in [x["slug"] for x in boards]
    assert client.post(f"{API}/forum/boards/general/threads",
                       json={"title": "x", "body": "y"}).status_code == 401
    assert client.post(f"{API}/forum/boards/nowhere/threads", json={"title": "x", "body": "y"},
                       headers=a).status_code == 404
    started = client.post(f"{API}/forum/boards/general/threads",
                          json={"title": "停车问题", "body": "**晚上**车多"}, headers=a)
    assert started.status_code == 201 and "<strong>" in started.json["posts"][0]["html"]
    tid, pid = started.json["id"], started.json["posts"][0]["id"]
    assert started.json["following"] is True  # the author follows their thread
    unverified = client.post(f"{API}/threads/{tid}/replies", json={"body": "+1"},
                             headers=people["unverified"])
    assert unverified.status_code == 409 and "body" in error(unverified)["fields"]
    assert client.post(f"{API}/threads/{tid}/replies", json={"body": "同感"},
                       headers=b).status_code == 201
    assert client.post(f"{API}/threads/{tid}/follow", headers=b).json["following"] is True
    assert client.delete(f"{API}/threads/{tid}/follow", headers=b).json["following"] is False

    own = client.post(f"{API}/posts/{pid}/reports", json={"reason": "x"}, headers=a)
    assert own.status_code == 409 and "reason" in error(own)["fields"]
    assert client.post(f"{API}/posts/{pid}/reports", json={"reason": "广告"},
                       headers=b).status_code == 201
    assert client.post(f"{API}/posts/{pid}/reports", json={}, headers=b).status_code == 409
    assert client.get(f"{API}/moderation/queue", headers=a).status_code == 403
    queue = client.get(f"{API}/moderation/queue", headers=m1).json
    assert pid in [p["id"] for p in queue["posts"]] and queue["reported"] >= 1

    mod = f"{API}/posts/{pid}/moderation"
    assert client.post(mod, json={"action": "hide"}, headers=m1).status_code == 422
    assert client.post(mod, json={"action": "lock", "reason": "x"}, headers=m1).status_code == 422
    hidden = client.post(mod, json={"action": "hide", "reason": "广告内容"}, headers=m1)
    assert hidden.status_code == 200 and hidden.json["hidden"] is True
    seen = client.get(f"{API}/threads/{tid}").json["posts"][0]
    assert seen["hidden"] is True and seen["html"] is None  # the text for moderators only
    assert client.get(f"{API}/threads/{tid}", headers=m1).json["posts"][0]["html"]
    log = client.get(f"{API}/moderation/log", headers=m1).json
    assert log[0]["action"] == "hide" and log[0]["reason"] == "广告内容"

    move = client.post(f"{API}/threads/{tid}/moderation",
                       json={"action": "move", "reason": "归类", "board": "nowhere"}, headers=m1)
    assert move.status_code == 409 and "board" in error(move)["fields"]
    moved = client.post(f"{API}/threads/{tid}/moderation",
                        json={"action": "move", "reason": "归类", "board": "suggestions"},
                        headers=m1)
    assert moved.status_code == 200 and moved.json["board"] == "suggestions"
    locked = client.post(f"{API}/threads/{tid}/moderation",
                         json={"action": "lock", "reason": "讨论结束"}, headers=m1)
    assert locked.json["locked"] is True
    assert client.post(f"{API}/threads/{tid}/replies", json={"body": "再说"},
                       headers=b).status_code == 409
    assert client.post(f"{API}/posts/{pid}/mute", json={"days": 0, "reason": "x"},
                       headers=m1).status_code == 422
    muted = client.post(f"{API}/posts/{pid}/mute", json={"days": 3, "reason": "刷屏"},
                        headers=m1)
    assert muted.status_code == 201
    again = client.post(f"{API}/forum/boards/general/threads",
                        json={"title": "又来", "body": "内容"}, headers=a)
    assert again.status_code == 409  # muted


# ----------------------------------------------------------------------------- evaluation


def test_evaluation_rounds_ratings_and_group_reps(app, world, people, client):
    a, c, m1, m2 = people["a"], people["c"], people["m1"], people["m2"]
    body = {"community": world.c1, "year": 2031, "days": 5,
            "members": [{"name": "刘敏", "post": "主任"}, {"name": "陈刚"}]}
    assert client.post(f"{API}/evaluation/rounds", json={**body, "community": world.c2},
                       headers=m1).status_code == 403
    made = client.post(f"{API}/evaluation/rounds", json=body, headers=m1)
    assert made.status_code == 201 and made.json["results"] is None
    again = client.post(f"{API}/evaluation/rounds", json=body, headers=m1)
    assert again.status_code == 409 and "year" in error(again)["fields"]
    rid = made.json["id"]
    members = [m["id"] for m in made.json["members"]]
    rate = f"{API}/evaluation/rounds/{rid}/ratings"
    partial = {"ratings": [{"member_id": members[0], "grade": "competent"}]}
    assert client.post(rate, json=partial, headers=a).status_code == 409
    full = {"ratings": [{"member_id": m, "grade": "basic"} for m in members]}
    assert client.post(rate, json=full, headers=c).status_code == 409  # C2 resident
    rated = client.post(rate, json=full, headers=a)
    assert rated.status_code == 201 and rated.json["rated"] is True
    assert client.post(rate, json=full, headers=a).status_code == 409  # once
    assert client.get(f"{API}/evaluation/rounds/{rid}/results").status_code == 409
    with world.kernel.db.session_scope() as db:
        db.execute(update(EvaluationRound).where(EvaluationRound.id == rid)
                   .values(closes_at=utcnow() - timedelta(seconds=1)))
    results = client.get(f"{API}/evaluation/rounds/{rid}/results").json
    assert [r["counts"]["basic"] for r in results] == [1, 1]

    assert client.get(f"{API}/group-reps", query_string={"community": world.c1},
                      headers=m2).status_code == 404
    found = client.get(f"{API}/group-reps/candidates",
                       query_string={"community": world.c1, "q": "赵强"}, headers=m1).json
    assert [p["person_id"] for p in found] == [world.ids.h2_head]
    named = client.post(f"{API}/group-reps", json={
        "community": world.c1, "person_id": world.ids.h2_head, "group_name": "第二组"},
        headers=m1)
    assert named.status_code == 201 and named.json["group_name"] == "第二组"
    minor = client.post(f"{API}/group-reps", json={
        "community": world.c1, "person_id": world.ids.son, "group_name": "第二组"}, headers=m1)
    assert minor.status_code == 409 and "person_id" in error(minor)["fields"]
    reps = client.get(f"{API}/group-reps", query_string={"community": world.c1},
                      headers=m1).json
    assert [r["person_id"] for r in reps] == [world.ids.h2_head]
    assert client.delete(f"{API}/group-reps/{named.json['id']}", headers=m2).status_code == 404
    assert client.delete(f"{API}/group-reps/{named.json['id']}", headers=m1).status_code == 204


# ----------------------------------------------------------------------------- statistics


def test_statistics_count_local_months(app, world, people, client):
    with world.kernel.db.session_scope() as db:
        sv.ensure_default_boards(db)
        from plugins.self_governance.models import Board

        board = db.scalar(select(Board).where(Board.slug == "market"))
        author = db.get(User, user_id(app, "api_b"))
        thread = sv.start_thread(db, board, author, title="月末", body="23:30 UTC",
                                 settings={"verified_only_posting": False, "new_user_days": 0})
        post = db.scalar(select(Post).where(Post.thread_id == thread.id))
        post.created_at = datetime(2026, 10, 31, 17, 0, tzinfo=UTC)  # 1 Nov, 01:00 Beijing
        db.flush()
        months = sv.participation(db, tz=ZoneInfo("Asia/Shanghai"),
                                  now=datetime(2026, 11, 15, tzinfo=UTC), months=2)
        utc = sv.participation(db, tz=UTC, now=datetime(2026, 11, 15, tzinfo=UTC), months=2)
    assert [m["month"] for m in months] == ["2026-10", "2026-11"]
    assert months[1]["posts"] - utc[1]["posts"] == 1  # November in Beijing, October in UTC

    stats = client.get(f"{API}/statistics", query_string={"community": world.c1})
    assert stats.status_code == 200 and len(stats.json["participation"]) == 12
    assert set(stats.json["questions"]) == {"on_time", "late", "open", "overdue"}
    assert client.get(f"{API}/statistics", query_string={"community": "x"}).status_code == 422
    for lang, words in (("zh", "每月论坛发帖数"), ("en", "Forum posts per month")):
        client.set_cookie("shequ_lang", lang)
        page = client.get("/self-governance/statistics/")
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and words in text
        assert 'id="chart-posts"' in text and 'id="chart-questions"' in text
    assert client.get("/self-governance/statistics/?community=999999999999").status_code == 404
