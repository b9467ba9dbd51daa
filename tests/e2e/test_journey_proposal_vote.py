"""Journey "proposal and vote" with the demo as shipped, on a 360 px phone, in Chinese and
in English: the resident (张大爷) makes a proposal; the demo committee member (李委员)
finds it on the committee desk and answers it; the resident is told and reads the
answer. The committee sets up a vote (open at once); the resident casts a ballot through
the confirmation step ("提交后不能更改") and gets a receipt code, which checks out on the
vote page without revealing the choice; when the vote's time is up the committee's look
counts it, and the resident is told the result and reads it.

Screenshots: ``test-results/journeys/proposal-vote-<locale>/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from journey_kit import Journey, journey_fixtures
from sqlalchemy import update

pytestmark = pytest.mark.e2e

WORDS = {
    "zh": {"make": "提出建议", "submit": "提交", "publish_answer": "公布答复",
           "answered": "已答复", "accepted": "采纳", "continue": "继续",
           "favour": "赞成", "final": "提交后不能更改", "cast": "提交我的投票",
           "recorded": "您的投票已记录", "on_roll": "已登记在投票名册上",
           "check": "核验投票回执", "check_button": "核验回执",
           "result": "结果已公布", "passed": "通过", "set_up": "发起投票",
           "to_answer": "待答复的建议"},
    "en": {"make": "Make a proposal", "submit": "Submit", "publish_answer": "Publish the answer",
           "answered": "is answered", "accepted": "accepted", "continue": "Continue",
           "favour": "In favour", "final": "You cannot change it after submitting",
           "cast": "Submit my vote", "recorded": "Your vote is recorded",
           "on_roll": "is on the roll", "check": "Check a ballot receipt",
           "check_button": "Check the receipt", "result": "is published",
           "passed": "Passed", "set_up": "Set up a vote", "to_answer": "Proposals to answer"},
}
TITLE = {"zh": "在小区南门增设快递柜", "en": "A parcel locker at the south gate"}
VOTE = {"zh": "是否同意在南门增设快递柜", "en": "Parcel locker at the south gate?"}


locale, app, journey, _catalogues = journey_fixtures("proposal-vote")


def test_proposal_answered_and_vote_counted(journey: Journey, app: Any, locale: str) -> None:
    w, title, vote_title = WORDS[locale], TITLE[locale], VOTE[locale]
    # 1. the resident makes a proposal
    resident = journey.sign_in("resident")
    resident.goto("/self-governance/proposals/")
    resident.locator("main").get_by_role("link", name=w["make"]).click()
    resident.locator("input[name=title]").fill(title)
    resident.locator("textarea[name=body]").fill(
        "快递经常堆在门卫室，老人取件不方便。" if locale == "zh"
        else "Parcels pile up at the gatehouse; older residents struggle to collect them.")
    journey.shot(resident, "proposal-form")
    resident.locator("main form button[type=submit]").click()
    resident.wait_for_url(re.compile(r"/self-governance/proposals/\d+$"))
    proposal_url = resident.url
    journey.shot(resident, "proposal-made")

    # 2. the committee member finds it on the desk and answers it
    committee = journey.sign_in("committee_member")
    committee.goto("/self-governance/committee/")
    assert w["to_answer"] in committee.locator("main").inner_text()
    journey.shot(committee, "desk")
    committee.locator("main").get_by_role("link", name=title).click()
    committee.locator("select[name=answer]").select_option("accepted")
    committee.locator("textarea[name=reason]").fill(
        "街道同意出资，12月底前安装。" if locale == "zh"
        else "The street office pays; installed by the end of December.")
    committee.get_by_role("button", name=w["publish_answer"]).click()
    committee.wait_for_load_state("load")
    assert committee.locator("#official-answer").count() == 1
    journey.shot(committee, "answered")

    # 3. the resident is told, in their language, and reads the answer
    note = journey.expect_notification(resident, w["answered"])
    assert w["accepted"] in note.inner_text()
    journey.shot(resident, "answer-notification")
    note.get_by_role("link").first.click()
    resident.wait_for_url(proposal_url)
    assert resident.locator("#official-answer").count() == 1
    journey.shot(resident, "answer-read")
    resident.goto("/account/notifications")  # opening the page read the notification
    assert resident.locator("main li.item-unread").filter(has_text=title).count() == 0

    # 4. the committee sets up a vote, open at once for every adult
    committee.goto("/self-governance/committee/")
    committee.locator("main").get_by_role("link", name=w["set_up"]).click()
    committee.locator("input[name=title]").fill(vote_title)
    committee.locator("select[name=electorate]").select_option("adult")
    journey.shot(committee, "vote-form")
    committee.locator("main form button[type=submit]").click()
    committee.wait_for_url(re.compile(r"/self-governance/votes/\d+/electorate$"))
    vote_id = int(committee.url.rsplit("/", 2)[1])
    journey.shot(committee, "vote-electorate")

    # 5. the resident votes: choice, confirmation, receipt
    resident.goto("/self-governance/votes/")
    resident.locator("main").get_by_role("link", name=vote_title).click()
    resident.get_by_label(w["favour"], exact=True).check()
    journey.shot(resident, "ballot")
    resident.get_by_role("button", name=w["continue"]).click()
    resident.wait_for_url(re.compile(rf"/self-governance/votes/{vote_id}/ballot$"))
    assert w["final"] in resident.locator("#final-warning").inner_text()
    assert w["favour"] in resident.locator("#confirm-choice").inner_text()
    journey.shot(resident, "confirm")
    resident.get_by_role("button", name=w["cast"]).click()
    resident.wait_for_url(re.compile(rf"/self-governance/votes/{vote_id}/receipt$"))
    assert w["recorded"] in resident.locator("#receipt").inner_text()
    code = resident.locator("#receipt-code").inner_text().strip()
    assert re.fullmatch(r"[2-9A-Z]{5}-[2-9A-Z]{5}", code)
    assert w["favour"] not in resident.locator("main").inner_text()  # secret: no choice
    journey.shot(resident, "receipt")
    # the receipt checks out on the vote page
    resident.goto(f"/self-governance/votes/{vote_id}")
    resident.locator("#check-receipt summary").click()
    resident.locator("#receipt").fill(code)
    resident.get_by_role("button", name=w["check_button"]).click()
    assert w["on_roll"] in resident.locator("#check-result").inner_text()
    journey.shot(resident, "receipt-checked")

    # 6. the vote's time runs out; the committee's look counts it
    from core.db import utcnow
    from plugins.self_governance.models import Vote

    with app.extensions["shequ"].db.session_scope() as db:
        db.execute(update(Vote).where(Vote.id == vote_id)
                   .values(closes_at=utcnow() - timedelta(seconds=1)))
    committee.goto(f"/self-governance/votes/{vote_id}")
    assert committee.locator("#vote-outcome").count() == 1
    journey.shot(committee, "counted")

    # 7. the resident is told the result and reads it
    note = journey.expect_notification(resident, w["result"])
    journey.shot(resident, "result-notification")
    note.get_by_role("link").first.click()
    resident.wait_for_url(re.compile(rf"/self-governance/votes/{vote_id}$"))
    assert resident.locator("#vote-outcome").count() == 1
    journey.shot(resident, "result")
    resident.goto("/account/notifications")
    assert resident.locator("main li.item-unread").filter(has_text=vote_title).count() == 0


COMMITTEE_WORDS = {
    "zh": {"open_round": "发起年度民主评议", "year_error": "年度：请填写评议的年份",
           "round_open": "年度民主评议已发起", "reps": "居民小组代表", "search": "查找",
           "name_rep": "指定为代表", "named": "已指定代表", "moderate": "管理这条帖子",
           "apply": "执行", "hidden": "管理员隐藏了您在", "reason": "管理员的理由"},
    "en": {"open_round": "Open the yearly evaluation", "year_error": "Year: enter the year",
           "round_open": "is open for 2 members", "reps": "Residents' group representatives",
           "search": "Find", "name_rep": "Name as representative",
           "named": "The representative is named", "moderate": "Moderate this post",
           "apply": "Apply", "hidden": "A moderator hid your post",
           "reason": "The moderator's reason"},
}


@pytest.fixture
def desk(chromium: Any, live_server: Any, locale: str) -> Iterator[Journey]:
    j = Journey(chromium, live_server.url, "committee-pages", locale=locale)
    yield j
    j.close()


def test_committee_pages_for_what_the_cli_did(desk: Journey, locale: str) -> None:
    """The committee opens the yearly evaluation and names a group representative on
    pages (no CLI), and hides a resident's forum post from the post itself; the resident
    is told why, in their language."""
    w = COMMITTEE_WORDS[locale]
    committee = desk.sign_in("committee_member")
    committee.goto("/self-governance/committee/")
    committee.locator("main").get_by_role("link", name=w["open_round"]).click()
    committee.locator("input[name=year]").fill("")
    committee.locator("textarea[name=members]").fill("刘敏 | 居委会主任\n李强 | 委员")
    committee.locator("main form button[type=submit]").click()
    assert w["year_error"] in committee.locator(".error-summary").inner_text()
    desk.shot(committee, "round-errors")
    committee.locator("input[name=year]").fill("2027")
    committee.locator("main form button[type=submit]").click()
    committee.wait_for_url(re.compile(r"/self-governance/evaluation/$"))
    assert w["round_open"] in committee.locator("main").inner_text()
    desk.shot(committee, "round-open")

    committee.goto("/self-governance/committee/")
    committee.locator("main").get_by_role("link", name=w["reps"]).click()
    committee.locator("#q").fill("王")
    committee.get_by_role("button", name=w["search"]).click()
    first = committee.locator("#found li").first
    name = first.locator("strong").inner_text()
    first.locator("input[name=group_name]").fill("第三居民小组")
    desk.shot(committee, "rep-search")
    first.get_by_role("button", name=w["name_rep"]).click()
    assert w["named"] in committee.locator("main").inner_text()
    assert name in committee.locator("#reps").inner_text()
    desk.shot(committee, "reps")

    # the demo resident's forum post, hidden by the moderator from the post itself
    resident = desk.sign_in("resident")
    committee.goto("/self-governance/forum/general")
    committee.locator("main a[href*='/self-governance/threads/']").first.click()
    post = committee.locator("main li[id^=post-]").first
    post.locator("summary").filter(has_text=w["moderate"]).click()
    post.locator("select[name=action]").select_option("hide")
    post.locator("input[name=reason][id^=mod-reason]").fill("含有邻居的电话号码")
    desk.shot(committee, "moderate")
    post.get_by_role("button", name=w["apply"]).click()
    committee.wait_for_load_state("load")
    desk.shot(committee, "moderated")
    note = desk.expect_notification(resident, w["hidden"])
    assert f"{w['reason']}" in note.inner_text() and "含有邻居的电话号码" in note.inner_text()
    desk.shot(resident, "moderation-notification")
