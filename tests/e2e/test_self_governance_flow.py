"""Community affairs in headless Chromium (360 px phone, Chinese): a verified resident
reads a notice, supports a proposal, votes, is refused a second vote (a second tab still
showing the ballot submits it again), and sees the result once the vote has closed.
Pages are checked for accessibility and sideways scrolling and photographed into
``test-results/self_governance/`` (``SHEQU_SCREENSHOTS`` overrides)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from a11y import assert_accessible, horizontal_overflow
from playwright.sync_api import expect
from sqlalchemy import select, update

from core.testing import TEST_PASSWORD, app_today, ensure_user
from core.web.i18n import compile_catalogues

pytestmark = [pytest.mark.e2e, pytest.mark.with_plugins("self_governance")]

SHOTS = Path(
    os.environ.get("SHEQU_SCREENSHOTS")
    or Path(__file__).resolve().parents[2] / "test-results" / "self_governance"
)


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    compile_catalogues()


def check_page(page: Any, name: str) -> None:
    assert horizontal_overflow(page) == 0, f"{page.url} scrolls sideways"
    assert_accessible(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def page(browser_page: Any) -> Iterator[Any]:
    errors: list[str] = []
    browser_page.on(
        "console",
        lambda m: (
            m.type == "error"
            and not m.text.startswith("Failed to load resource")
            and errors.append(m.text)
        ),
    )
    browser_page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield browser_page
    assert not errors, f"console errors (a CSP violation?): {errors}"


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    """Community C1: a household of two adults; the resident is bound to its head."""
    from core.db import utcnow
    from core.identity.models import User
    from core.identity.services import bind_person
    from core.registry import services as rs
    from core.registry.testing import ensure_registry, make_places
    from plugins.self_governance import services as sv

    kernel = ensure_registry(app)
    user = ensure_user(app, "resident", username="sg_e2e")
    adult = (app_today() - timedelta(days=40 * 366)).isoformat()
    with kernel.db.session_scope() as db:
        places = make_places(db)
        head = rs.register_person(
            db, {"name": "王大伯", "birth_date": adult}, bus=kernel.bus, dwelling_id=places.d1.id
        )
        wife = rs.register_person(
            db, {"name": "李大妈", "birth_date": adult}, bus=kernel.bus, dwelling_id=places.d1.id
        )
        household = rs.create_household(db, head_id=head.id, bus=kernel.bus)
        rs.add_member(db, household.id, wife.id, "10", bus=kernel.bus)
        bind_person(db, db.get(User, user.id), head.id, method="in_person", by=None)
        notice = sv.publish_notice(
            db,
            title="本周六清洗二次供水水箱",
            body="上午8点至12点停水，请提前储水。",
            community=places.c1.code,
            pinned=True,
        )
        proposal = sv.create_proposal(
            db,
            community=places.c1.code,
            author_id=None,
            title="在3号楼前增设休息座椅",
            body="方便老人休息。",
            threshold=5,
            support_days=30,
        )
        now = utcnow()
        vote = sv.create_vote(
            db,
            community=places.c1.code,
            title="是否同意垃圾分类定时投放",
            electorate="household",
            quorum="half",
            pass_rule="half",
            opens_at=now - timedelta(hours=1),
            closes_at=now + timedelta(days=1),
        )
        ids = {"notice": notice.id, "proposal": proposal.id, "vote": vote.id}
    return {"kernel": kernel, **ids}


def sign_in(page: Any, username: str) -> None:
    page.goto("/account/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.locator("main").get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/$"))


def test_resident_reads_supports_votes_once_and_sees_the_result(page, app, world):
    from plugins.self_governance.models import Vote

    sign_in(page, "sg_e2e")
    page.goto("/self-governance/")
    check_page(page, "01-start")
    page.get_by_role("link", name="本周六清洗二次供水水箱").first.click()
    main = page.locator("main")
    assert "停水" in main.inner_text() and "1 人已读" in main.inner_text()
    check_page(page, "02-notice")

    page.goto("/self-governance/proposals/")
    page.get_by_role("link", name="在3号楼前增设休息座椅").click()
    page.get_by_role("button", name="支持这条建议").click()
    expect(page.locator("#supported")).to_be_visible()  # waits for the redirect
    assert page.locator("#support-count").inner_text() == "1"
    check_page(page, "03-proposal-supported")

    vote_url = f"/self-governance/votes/{world['vote']}"
    second = page.context.new_page()  # an old tab that still shows the ballot
    second.goto(vote_url)
    page.goto(vote_url)
    check_page(page, "04-ballot")
    page.get_by_label("赞成").check()
    page.get_by_role("button", name="继续").click()  # the confirmation step
    page.get_by_role("button", name="提交我的投票").click()
    page.goto(vote_url)  # from the receipt back to the vote
    assert page.locator("#voted").is_visible()
    assert "您已投票" in page.locator("#voted").inner_text()
    assert page.get_by_role("button", name="继续").count() == 0
    check_page(page, "05-voted")

    second.get_by_label("反对").check()
    second.get_by_role("button", name="继续").click()
    assert "已经投过票" in second.locator("#vote-error").inner_text()
    second.close()

    kernel = world["kernel"]
    from core.db import utcnow

    with kernel.db.session_scope() as db:  # the vote's time runs out
        db.execute(
            update(Vote)
            .where(Vote.id == world["vote"])
            .values(closes_at=utcnow() - timedelta(seconds=1))
        )
    page.goto(vote_url)
    outcome = page.locator("#vote-outcome").inner_text()
    assert "通过" in outcome and "未通过" not in outcome  # 1 of 1 household, 1 yes
    assert page.locator("#turnout").inner_text().startswith("1 中的 1")
    check_page(page, "06-result")


def test_committee_and_forum_pages_are_accessible(page, app, world):
    """The committee desk and its forms, a statement with a question, the forum with a
    post, moderation, evaluation and supervision: accessible and no sideways scrolling."""
    from core.db import utcnow
    from core.identity.models import User, UserScope
    from plugins.self_governance import services as sv
    from plugins.self_governance.models import Board

    kernel = world["kernel"]
    member = ensure_user(app, "committee_member", username="sg_e2e_committee")
    with kernel.db.session_scope() as db:
        u = db.get(User, member.id)  # deny by default: the member acts for C1
        if not u.scopes:
            u.scopes.append(UserScope(kind="community", code="110105001001"))
        sv.ensure_default_boards(db)
        st = sv.publish_statement(
            db,
            community="110105001001",
            period="2026-10",
            title="十月收支",
            items=[
                {"kind": "income", "description": "拨款", "amount": 100},
                {"kind": "expense", "description": "灯泡", "amount": 20, "voucher": "V1"},
            ],
        )
        sv.ask_question(db, st, asker_id=None, text="灯泡买了几个？")
        sv.create_round(
            db,
            community="110105001001",
            year=2026,
            members=[("刘主任", "主任")],
            closes_at=utcnow() + timedelta(days=3),
        )
        resident = db.scalar(select(User).where(User.username == "sg_e2e"))
        board = db.scalar(select(Board).where(Board.slug == "general"))
        thread = sv.start_thread(
            db, board, resident, title="健步走", body="**周六**见", settings={"new_user_days": 0}
        )
        ids = {"statement": st.id, "thread": thread.id, "board": board.slug}
    sign_in(page, "sg_e2e_committee")
    for n, path in enumerate(
        [
            "/self-governance/committee/",
            "/self-governance/notices/new",
            "/self-governance/votes/new",
            f"/self-governance/finances/{ids['statement']}",
            f"/self-governance/forum/{ids['board']}",
            f"/self-governance/threads/{ids['thread']}",
            "/self-governance/moderation/",
            "/self-governance/evaluation/",
            "/self-governance/supervision/",
            f"/self-governance/votes/{world['vote']}/roll",
        ]
    ):
        page.goto(path)
        assert page.locator("h1").count() == 1, path
        check_page(page, f"10-committee-{n:02d}")
