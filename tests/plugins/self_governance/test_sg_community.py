"""Notices and disclosure, events from other plugins, proposals, the forum (XSS,
reports, moderation, limits) and the democratic evaluation."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from self_governance_kit import committee, csrf, resident, sign_in, user_id
from sqlalchemy import func, select, update

from core.db import utcnow
from core.events import Event, OutboxEvent
from core.testing import ensure_user
from plugins.self_governance import services as sv
from plugins.self_governance.models import (
    Board,
    EvaluationMember,
    EvaluationRound,
    ModerationLog,
    Notice,
    Post,
    Proposal,
    Question,
    Rating,
    SealedRating,
    Thread,
)

XSS = [
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">a</a>',
    "**<svg onload=alert(1)>**",
    '"><script>alert(1)</script>',
    '[x](https://ok.example/" onmouseover="alert(1))',
]


class Tags(HTMLParser):
    """Every real tag and attribute in a rendered post (text, even ``&lt;img``, is not)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()
        self.bad: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.seen.add(tag)
        for name, value in attrs:
            if name.startswith("on") or (
                name in ("href", "src")
                and value
                and not value.startswith(("https://", "http://", "#"))
            ):
                self.bad.append((tag, name, value))


def committee_client(app, world):
    committee(app, "sg_committee", world.c1)
    return sign_in(app, "sg_committee")


# ----------------------------------------------------------------------------- notices


def test_notices_pinned_expiring_and_read_counts(app, world):
    kernel = world.kernel
    with kernel.db.session_scope() as db:
        old = sv.publish_notice(db, title="旧通知", body="", community=world.c1)
        pinned = sv.publish_notice(
            db, title="置顶通知", body="停水", community=world.c1, pinned=True
        )
        other = sv.publish_notice(db, title="安康社区通知", body="", community=world.c2)
        gone = sv.publish_notice(
            db,
            title="过期通知",
            body="",
            community=None,
            expires_at=utcnow() + timedelta(seconds=30),
        )
        db.flush()
        db.execute(
            update(Notice)
            .where(Notice.id == gone.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        shown = [n.title for n in sv.visible_notices(db, world.c1)]
        assert shown[0] == "置顶通知" and "旧通知" in shown
        assert "安康社区通知" not in shown and "过期通知" not in shown
        ids = (old.id, pinned.id, other.id)
    resident(app, "sg_reader", world.ids.spouse)
    reader = sign_in(app, "sg_reader")
    for _ in range(2):
        assert reader.get(f"/self-governance/notices/{ids[1]}").status_code == 200
    anonymous = app.test_client()
    page = anonymous.get(f"/self-governance/notices/{ids[1]}").get_data(as_text=True)
    assert "停水" in page
    with kernel.db.session_scope() as db:
        assert sv.read_counts(db, [ids[1]]) == {ids[1]: 1}  # counted once


def test_committee_publishes_and_residents_cannot(app, world):
    committee = committee_client(app, world)
    url = "/self-governance/notices/new"
    resp = committee.post(url, data={"csrf_token": csrf(committee, url), "title": "", "body": "x"})
    assert resp.status_code == 400 and "error-summary" in resp.get_data(as_text=True)
    resp = committee.post(
        url,
        data={
            "csrf_token": csrf(committee, url),
            "title": "电梯检修",
            "body": "明天",
            "community": world.c1,
            "pinned": "y",
        },
    )
    assert resp.status_code == 302
    resident(app, "sg_plain", None)
    plain = sign_in(app, "sg_plain")
    assert plain.get(url).status_code == 403


def test_public_events_post_one_notice_each(app, world):
    kernel = world.kernel
    alert = Event(
        id=1,
        name="surveillance.public_alert.published",
        created_at=utcnow(),
        payload={
            "alert_id": 7,
            "community_id": None,
            "title": "Scam warning",
            "title_zh": "防诈骗提醒",
            "body": "不要向陌生人转账。",
            "severity": "high",
        },
    )
    works = Event(
        id=2,
        name="commerce.public_works.completed",
        created_at=utcnow(),
        payload={
            "ticket_id": 9,
            "community_id": None,
            "title": "Lift repaired",
            "title_zh": "3栋电梯修好了",
            "body": "已恢复运行。",
        },
    )
    subs = kernel.bus.subscribers
    alert_sub = subs["self_governance:public_alert_notice"]
    works_sub = subs["self_governance:public_works_notice"]
    assert alert_sub.matches("surveillance.public_alert.published")
    assert works_sub.matches("commerce.public_works.completed")
    # handlers run inside the app context, as the delivery loop runs them
    with app.app_context(), kernel.db.session_scope() as db:
        from core.registry.models import Community

        alert.payload["community_id"] = db.scalar(
            select(Community.id).where(Community.code == world.c1)
        )
        for _ in range(2):  # at-least-once delivery: a redelivery changes nothing
            alert_sub.handler(alert, db)
            works_sub.handler(works, db)
            db.flush()
        rows = db.scalars(
            select(Notice).where(Notice.source.in_(["surveillance", "commerce"]))
        ).all()
        assert sorted(n.title for n in rows) == ["3栋电梯修好了", "防诈骗提醒"]
        by = {n.source: n for n in rows}
        assert by["surveillance"].community == world.c1 and by["surveillance"].pinned
        assert by["commerce"].community is None


@pytest.mark.parametrize("period", ["0000-01", "9999-12", "1899-12", "2026-13", "2026-1"])
def test_a_period_the_due_day_cannot_follow_is_refused(app, world, period):
    """Year 0 and 9999-12 once passed the YYYY-MM check and made the due day (a month
    later) an impossible date: a 500 the fuzzer found."""
    with world.kernel.db.session_scope() as db, pytest.raises(sv.GovernanceError):
        sv.publish_statement(db, community=world.c1, period=period, title="x", items=[])


def test_statement_questions_must_be_answered(app, world):
    kernel = world.kernel
    with kernel.db.session_scope() as db:
        st = sv.publish_statement(
            db,
            community=world.c1,
            period="2026-09",
            title="九月收支",
            items=[
                {"kind": "income", "description": "拨款", "amount": 1000},
                {"kind": "expense", "description": "修路灯", "amount": 250.5, "voucher": "V-9"},
            ],
        )
        assert sv.statement_totals(db, st) == {"income": 1000.0, "expense": 250.5, "balance": 749.5}
        with pytest.raises(sv.GovernanceError):
            sv.publish_statement(db, community=world.c1, period="2026-09", title="again", items=[])
        sid = st.id
    resident(app, "sg_asker", world.ids.h2_head)
    asker = sign_in(app, "sg_asker")
    url = f"/self-governance/finances/{sid}"
    resp = asker.post(
        f"{url}/ask", data={"csrf_token": csrf(asker, url), "text": "修路灯为何这么贵？"}
    )
    assert resp.status_code == 302
    with kernel.db.session_scope() as db:
        qid = db.scalar(select(Question.id).where(Question.statement_id == sid))
        assert sv.unanswered_questions(db) >= 1
    committee = committee_client(app, world)
    assert "修路灯为何这么贵" in committee.get("/self-governance/committee/").get_data(as_text=True)
    committee.post(
        f"/self-governance/questions/{qid}/answer",
        data={"csrf_token": csrf(committee, url), "answer": "含两年质保。"},
    )
    assert "含两年质保" in app.test_client().get(url).get_data(as_text=True)


# ----------------------------------------------------------------------------- proposals


def test_proposal_support_agenda_answer_and_implementation(app, world, events):
    kernel = world.kernel
    i = world.ids
    with kernel.db.session_scope() as db:
        p = sv.create_proposal(
            db,
            community=world.c1,
            author_id=None,
            title="增设座椅",
            body="在3号楼前",
            threshold=2,
            support_days=30,
        )
        sv.support_proposal(db, p, person_id=i.head, community=world.c1)
        with pytest.raises(sv.GovernanceError):
            sv.support_proposal(db, p, person_id=i.head, community=world.c1)  # once
        with pytest.raises(sv.GovernanceError):
            sv.support_proposal(db, p, person_id=i.other, community=world.c2)  # elsewhere
        assert p.status == "collecting"
        sv.support_proposal(db, p, person_id=i.spouse, community=world.c1)
        assert p.status == "agenda" and p.support_count == 2
        with pytest.raises(sv.GovernanceError):
            sv.answer_proposal(db, kernel.bus, p, answer="accepted", reason=" ", by_id=None)
        sv.answer_proposal(db, kernel.bus, p, answer="accepted", reason="预算已落实", by_id=None)
        sv.update_implementation(db, p, status="done", note="已安装", by_id=None)
        pid = p.id
        statuses = [u.status for u in sv.proposal_timeline(db, pid)]
        assert statuses == ["draft", "collecting", "agenda", "accepted", "done"]
    assert (
        "self_governance.proposal.answered",
        {"proposal_id": pid, "community": world.c1, "answer": "accepted"},
    ) in events.published
    page = app.test_client().get("/self-governance/supervision/").get_data(as_text=True)
    assert "Implemented" in page or "已落实" in page or "1" in page


def test_proposal_deadline_expires(app, world):
    with world.kernel.db.session_scope() as db:
        p = sv.create_proposal(
            db,
            community=world.c1,
            author_id=None,
            title="过期提议",
            body="x",
            threshold=50,
            support_days=1,
        )
        db.execute(
            update(Proposal)
            .where(Proposal.id == p.id)
            .values(deadline=utcnow() - timedelta(seconds=1))
        )
        db.refresh(p)
        with pytest.raises(sv.GovernanceError):
            sv.support_proposal(db, p, person_id=world.ids.head, community=world.c1)
        assert sv.expire_proposals(db) >= 1
        db.refresh(p)
        assert p.status == "expired"


def test_proposal_api(app, world, client):
    from core.identity.models import User
    from core.identity.services import create_token, resolve_permissions

    resident(app, "sg_api", world.ids.daughter)
    with world.kernel.db.session_scope() as db:
        u = db.scalar(select(User).where(User.username == "sg_api"))
        _, tok = create_token(
            db,
            u,
            name="t",
            permissions=None,
            expires_days=None,
            granted=set(resolve_permissions(u.role_names, world.kernel.roles)),
        )
    headers = {"Authorization": f"Bearer {tok}"}
    api = "/api/v1/self-governance/proposals"
    assert client.post(api, json={"title": ""}, headers=headers).status_code == 422
    made = client.post(api, json={"title": "API提议", "body": "内容"}, headers=headers)
    assert made.status_code == 201, made.json
    assert made.json["status"] == "collecting" and made.json["community"] == world.c1
    first = client.post(f"{api}/{made.json['id']}/support", headers=headers)
    assert first.status_code == 200 and first.json["support_count"] == 1
    assert client.post(f"{api}/{made.json['id']}/support", headers=headers).status_code == 409
    assert client.post(f"{api}/999999/support", headers=headers).status_code == 404


# ----------------------------------------------------------------------------- forum


@pytest.fixture(scope="module")
def board(app, world):
    with world.kernel.db.session_scope() as db:
        sv.ensure_default_boards(db)
        return db.scalar(select(Board.slug).where(Board.slug == "general"))


@pytest.mark.parametrize("attack", XSS)
def test_xss_in_posts_is_inert(app, world, board, attack):
    from core.identity.models import User

    user = resident(app, "sg_poster", world.ids.head)
    with world.kernel.db.session_scope() as db:  # an established account: no new-user limit
        db.execute(
            update(User).where(User.id == user.id).values(created_at=utcnow() - timedelta(days=60))
        )
    poster = sign_in(app, "sg_poster")
    url = f"/self-governance/forum/{board}"
    resp = poster.post(
        f"{url}/new",
        data={"csrf_token": csrf(poster, url), "title": f"t {attack}", "body": f"hi {attack}"},
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    page = poster.get(resp.headers["Location"]).get_data(as_text=True)
    body = page.split('class="note-body post-body">', 1)[1].split("</div>", 1)[0]
    tags = Tags()
    tags.feed(body)
    assert tags.seen and tags.seen <= {"p", "br", "strong", "em", "a"}, tags.seen
    assert not tags.bad, tags.bad  # no event handler, no script URL, anywhere
    assert "hi" in body
    assert "<script>alert" not in page  # nor in the title


def test_only_verified_residents_post_and_new_users_are_limited(app, world, board):
    resident(app, "sg_unverified", None)
    client = sign_in(app, "sg_unverified")
    url = f"/self-governance/forum/{board}"
    resp = client.post(
        f"{url}/new", data={"csrf_token": csrf(client, url), "title": "hi", "body": "hello"}
    )
    assert resp.status_code == 400 and "Only verified residents can post" in resp.get_data(
        as_text=True
    )
    with world.kernel.db.session_scope() as db:
        user = db.get(
            __import__("core.identity.models", fromlist=["User"]).User,
            user_id(app, "sg_unverified"),
        )
        b = db.scalar(select(Board).where(Board.slug == board))
        limits = {"verified_only_posting": False, "new_user_days": 7, "new_user_posts_per_hour": 2}
        thread = sv.start_thread(db, b, user, title="新人", body="一", settings=limits)
        sv.reply(db, thread, user, body="二", settings=limits)
        with pytest.raises(sv.GovernanceError, match="New accounts"):
            sv.reply(db, thread, user, body="三", settings=limits)
        db.rollback()


def test_reports_hide_then_moderators_restore_lock_and_mute(app, world, board, events):
    kernel = world.kernel
    author = resident(app, "sg_author", world.ids.h2_wife)
    reporters = [ensure_user(app, "resident", username=f"sg_rep{n}").id for n in range(3)]
    with app.app_context(), kernel.db.session_scope() as db:  # the recipient's language
        b = db.scalar(select(Board).where(Board.slug == board))
        from core.identity.models import User

        thread = sv.start_thread(
            db,
            b,
            db.get(User, author.id),
            title="广告",
            body="卖房@sg_rep0",
            settings={"new_user_days": 0},
        )
        post = db.scalar(select(Post).where(Post.thread_id == thread.id))
        for n, rid in enumerate(reporters):
            sv.report_post(db, kernel.bus, post, reporter_id=rid, reason="广告", hide_after=3)
            assert post.hidden is (n == 2)
        with pytest.raises(sv.GovernanceError):
            sv.report_post(db, kernel.bus, post, reporter_id=reporters[0], reason="x", hide_after=3)
        assert post.pending_review
        ids = (thread.id, post.id)
    assert any(
        name == "self_governance.post.hidden" and p["post_id"] == ids[1]
        for name, p in events.published
    )
    anonymous = app.test_client().get(f"/self-governance/threads/{ids[0]}").get_data(as_text=True)
    assert "卖房" not in anonymous
    committee = committee_client(app, world)
    queue = committee.get("/self-governance/moderation/").get_data(as_text=True)
    assert 'id="pending-count">1<' in queue or 'id="pending-count">' in queue
    # the moderator acts from the post and the thread themselves: no ids to type
    assert f'action="/self-governance/posts/{ids[1]}/moderate"' in queue
    url = "/self-governance/moderation/"
    tok = csrf(committee, url)
    no_reason = committee.post(
        f"/self-governance/posts/{ids[1]}/moderate",
        data={"csrf_token": tok, "action": "restore", "reason": "", "back": "queue"},
    )
    assert no_reason.status_code == 302 and no_reason.headers["Location"].endswith(url)
    assert "Reason: write why" in committee.get(url).get_data(as_text=True)
    for path in (f"/self-governance/posts/{ids[1]}/moderate",
                 f"/self-governance/threads/{ids[0]}/moderate"):
        action = "restore" if "/posts/" in path else "lock"
        resp = committee.post(path, data={"csrf_token": tok, "action": action, "reason": "已核实"})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    resp = committee.post(
        f"/self-governance/posts/{ids[1]}/mute",
        data={"csrf_token": tok, "days": 3, "reason": "发广告"},
    )
    assert resp.status_code == 302
    with kernel.db.session_scope() as db:
        assert not db.get(Post, ids[1]).hidden
        thread = db.get(Thread, ids[0])
        assert thread.locked
        actions = db.scalars(select(ModerationLog.action).order_by(ModerationLog.id)).all()
        assert actions[-4:] == ["auto_hide", "restore", "lock", "mute"]
        from core.identity.models import User

        with pytest.raises(sv.GovernanceError, match="muted"):
            sv.start_thread(
                db,
                db.get(Board, thread.board_id),
                db.get(User, author.id),
                title="再来",
                body="x",
                settings={"new_user_days": 0},
            )
        with pytest.raises(sv.GovernanceError, match="locked"):
            sv.reply(db, thread, db.get(User, author.id), body="x", settings={})
        # the mention of @sg_rep0 was recorded
        from plugins.self_governance.models import Mention

        assert db.scalar(select(func.count()).select_from(Mention)) >= 1
        from core.identity.models import Notification

        titles = db.scalars(
            select(Notification.title).where(Notification.user_id == reporters[0])
        ).all()
        assert any("提到了您" in t for t in titles)  # the mentioned resident is told


# ----------------------------------------------------------------------------- evaluation


def test_evaluation_is_anonymous_and_aggregated(app, world):
    i = world.ids
    with world.kernel.db.session_scope() as db:
        rnd = sv.create_round(
            db,
            community=world.c1,
            year=2025,
            members=[("刘主任", "主任"), ("李委员", "委员")],
            closes_at=utcnow() + timedelta(days=1),
        )
        mids = db.scalars(
            select(EvaluationMember.id)
            .where(EvaluationMember.round_id == rnd.id)
            .order_by(EvaluationMember.id)
        ).all()
        sv.submit_ratings(
            db,
            rnd,
            person_id=i.head,
            community=world.c1,
            grades={mids[0]: "competent", mids[1]: "basic"},
            kernel=world.kernel,
        )
        sv.submit_ratings(
            db,
            rnd,
            person_id=i.spouse,
            community=world.c1,
            grades={mids[0]: "competent", mids[1]: "incompetent"},
            kernel=world.kernel,
        )
        with pytest.raises(sv.GovernanceError):  # once per resident
            sv.submit_ratings(
                db,
                rnd,
                person_id=i.head,
                community=world.c1,
                grades={mids[0]: "competent", mids[1]: "basic"},
                kernel=world.kernel,
            )
        with pytest.raises(sv.GovernanceError):  # residents of the community only
            sv.submit_ratings(
                db,
                rnd,
                person_id=i.other,
                community=world.c2,
                grades={mids[0]: "competent", mids[1]: "basic"},
                kernel=world.kernel,
            )
        with pytest.raises(sv.GovernanceError):  # every member rated
            sv.submit_ratings(
                db,
                rnd,
                person_id=i.daughter,
                community=world.c1,
                grades={mids[0]: "competent"},
                kernel=world.kernel,
            )
        # while the round is open the sheets are sealed: no rating, no result yet
        assert sv.evaluation_results(db, rnd)[0]["total"] == 0
        assert sv.open_due_rounds(db, world.kernel) == []
        # a rating names no rater and no time
        assert {c.name for c in Rating.__table__.columns} == {"id", "member_id", "grade"}
        db.execute(
            update(EvaluationRound)
            .where(EvaluationRound.id == rnd.id)
            .values(closes_at=utcnow() - timedelta(seconds=1))
        )
    page = app.test_client().get("/self-governance/evaluation/").get_data(as_text=True)
    with world.kernel.db.session_scope() as db:
        results = sv.evaluation_results(db, db.get(EvaluationRound, rnd.id))
        assert results[0]["counts"] == {"competent": 2, "basic": 0, "incompetent": 0}
        assert results[1]["counts"] == {"competent": 0, "basic": 1, "incompetent": 1}
        assert results[1]["competent_pct"] == 0
        assert db.scalar(select(func.count()).select_from(SealedRating)) == 0  # opened
    assert "刘主任" in page and "100.0%" in page


def test_outbox_has_only_declared_events(app, world):
    with world.kernel.db.session_scope() as db:
        names = set(db.scalars(select(OutboxEvent.name)).all())
    assert {n for n in names if n.startswith("self_governance.")} <= {
        "self_governance.proposal.answered",
        "self_governance.vote.closed",
        "self_governance.post.hidden",
    }


def test_a_committee_member_acts_only_for_their_communities(app, world):
    from core.identity.models import User, UserScope

    member = ensure_user(app, "committee_member", username="sg_c2_member")
    with world.kernel.db.session_scope() as db:
        u = db.get(User, member.id)
        u.scopes.append(UserScope(kind="community", code=world.c2))
        p = sv.create_proposal(
            db,
            community=world.c1,
            author_id=None,
            title="C1的建议",
            body="x",
            threshold=1,
            support_days=5,
        )
        pid = p.id
    client = sign_in(app, "sg_c2_member")
    url = "/self-governance/notices/new"
    resp = client.post(
        url, data={"csrf_token": csrf(client, url), "title": "越权公告", "community": world.c1}
    )
    assert resp.status_code == 400 and (
        "Community: choose one of the communities listed." in resp.get_data(as_text=True))
    # the form offers the member's own communities by name, never a typed code
    form = client.get(url).get_data(as_text=True)
    assert f'<option selected value="{world.c2}">' in form or f'value="{world.c2}"' in form
    assert f'value="{world.c1}"' not in form and 'name="community" type="text"' not in form
    page = f"/self-governance/proposals/{pid}"
    resp = client.post(
        f"{page}/answer",
        data={"csrf_token": csrf(client, page), "answer": "rejected", "reason": "不行"},
    )
    assert resp.status_code == 404
    ok = client.post(
        url, data={"csrf_token": csrf(client, url), "title": "安康公告", "community": world.c2}
    )
    assert ok.status_code == 302


def test_supervision_counts_disclosure_on_time(app, world):
    assert sv.disclosure_due("2026-12").isoformat() == "2027-01-15"
    with world.kernel.db.session_scope() as db:
        before = sv.supervision(db, None)
        sv.publish_statement(
            db, community=world.c2, period=f"{utcnow():%Y-%m}", title="本月", items=[]
        )  # due next month: on time
        late = sv.publish_statement(
            db, community=world.c2, period="2020-01", title="迟报", items=[]
        )
        assert late.due_on.isoformat() == "2020-02-15"
        after = sv.supervision(db, None)
        assert after["statements"] == before["statements"] + 2
        assert after["statements_on_time"] == before["statements_on_time"] + 1


def test_a_building_notice_reaches_only_that_building(app, world):
    from core.registry.models import Dwelling, Unit

    with world.kernel.db.session_scope() as db:
        b1 = db.scalar(
            select(Unit.building_id)
            .join(Dwelling, Dwelling.unit_id == Unit.id)
            .where(Dwelling.id == world.ids.d1)
        )
        b3 = db.scalar(
            select(Unit.building_id)
            .join(Dwelling, Dwelling.unit_id == Unit.id)
            .where(Dwelling.id == world.ids.d3)
        )
    committee = committee_client(app, world)
    url = "/self-governance/notices/new"
    wrong = committee.post(
        url,
        data={
            "csrf_token": csrf(committee, url),
            "title": "错楼",
            "community": world.c1,
            "building": b3,
        },
    )
    assert wrong.status_code == 400  # building 3 is in the other community
    resp = committee.post(
        url,
        data={
            "csrf_token": csrf(committee, url),
            "title": "3栋电梯停运",
            "community": world.c1,
            "building": b1,
        },
    )
    assert resp.status_code == 302
    notice_url = resp.headers["Location"]
    resident(app, "sg_b1", world.ids.lodger)  # lives in d2, same building as d1
    resident(app, "sg_b3", world.ids.other)  # lives in d3
    inside, outside = sign_in(app, "sg_b1"), sign_in(app, "sg_b3")
    assert "3栋电梯停运" in inside.get("/self-governance/notices/").get_data(as_text=True)
    assert "3栋电梯停运" not in outside.get("/self-governance/notices/").get_data(as_text=True)
    assert inside.get(notice_url).status_code == 200
    assert outside.get(notice_url).status_code == 404
    assert app.test_client().get(notice_url).status_code == 404
