"""Telling residents what became of what concerns them: their proposal answered and its
implementation moved on, the result of a vote they took part in, a moderator's action on
their post (hidden, shown again, dismissed reports) or on their account (muted), and the
forum's mentions and replies to threads they follow.

The plugin's own events (``self_governance.proposal.answered``, ``.vote.closed``,
``.post.hidden``) are told by subscribers, so every path that causes them — the pages,
the API, the periodic count — tells the resident the same way, once the step is
committed; the steps without an event of their own (implementation progress, restoring a
post, a mute, a mention) are told in the step's own transaction. Every notification goes
through the toolkit's one ``notify`` as a ``Message``, told in the language the RECIPIENT
reads it in (not in that of the member whose click caused it; a date in ``app.timezone``),
and links to the page where the resident reads the outcome. What a person wrote (a title,
a reason, a progress note) is a parameter or the body itself, shown as written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.toolkit import Message, account_view, accounts_for_persons, notify
from plugins.self_governance.models import Post, Proposal, Thread, Vote, VoterRoll
from plugins.self_governance.services.common import PLUGIN

#: A notification's title or body: a Message, or (a body) what a person wrote.
Told = Message | str


def proposal_link(proposal_id: int) -> str:
    return f"/self-governance/proposals/{proposal_id}"


def vote_link(vote_id: int) -> str:
    return f"/self-governance/votes/{vote_id}"


def post_link(thread_id: int, post_id: int) -> str:
    """The thread page (no ``#post-`` anchor: core marks a notification read when the
    path it links to is opened, and a browser never sends the anchor)."""
    return f"/self-governance/threads/{thread_id}"


def tell(session: Session, user_ids: Iterable[int | None], title: Told, body: Told = "", *,
         link: str, kind: str = "info") -> int:
    """Notify each active account of ``user_ids`` once. Returns how many were told."""
    told = 0
    for uid in sorted({u for u in user_ids if u}):
        account = account_view(session, uid)
        if account is None or not account.is_active:
            continue
        notify(session, None, user_id=uid, title=title, body=body, link=link,
               kind=kind, source=PLUGIN)
        told += 1
    return told


# ----------------------------------------------------------------------------- proposals


def _answer_label(answer: str | None) -> Message | str:
    labels = {
        "accepted": Message("accepted"),
        "rejected": Message("rejected"),
        "needs_study": Message("to be studied further"),
    }
    return labels.get(answer or "", answer or "")


def _progress_label(status: str) -> Message | str:
    labels = {
        "not_started": Message("Not started"),
        "in_progress": Message("In progress"),
        "done": Message("Done"),
    }
    return labels.get(status, status)


def on_proposal_answered(event: Any, session: Session) -> None:
    """``self_governance.proposal.answered``: the author reads the answer and reasons."""
    proposal = session.get(Proposal, event.payload["proposal_id"])
    if proposal is None or proposal.status != "answered":
        return
    tell(session, [proposal.author_id],
         Message("Your proposal “%(title)s” is answered: %(answer)s",
                 title=proposal.title[:60], answer=_answer_label(proposal.answer)),
         Message("The committee's reasons: %(reason)s", reason=proposal.answer_reason or ""),
         link=proposal_link(proposal.id),
         kind="success" if proposal.answer == "accepted" else "info")


def tell_progress(session: Session, proposal: Proposal, status: str, note: str) -> int:
    """The implementation of the author's accepted proposal moved on."""
    return tell(session, [proposal.author_id],
                Message("Your proposal “%(title)s”: %(status)s",
                        title=proposal.title[:60], status=_progress_label(status)),
                note or Message("The committee recorded progress on carrying it out."),
                link=proposal_link(proposal.id), kind="success" if status == "done" else "info")


# ----------------------------------------------------------------------------- votes


def on_vote_closed(event: Any, session: Session) -> None:
    """``self_governance.vote.closed``: everyone on the roll (who took part) reads the
    result. The roll says who voted, never what: nothing here touches a ballot."""
    vote = session.get(Vote, event.payload["vote_id"])
    if vote is None or vote.closed_at is None:
        return
    result = vote.result or {}
    voters = session.scalars(
        select(VoterRoll.user_id).where(VoterRoll.vote_id == vote.id)
    ).all()

    if vote.kind == "motion":
        outcome = Message("passed") if result.get("passed") else Message("not passed")
    elif result.get("elected"):
        outcome = Message("elected: %(names)s", names="、".join(result["elected"]))
    else:
        outcome = Message("nobody elected")
    tell(session, voters,
         Message("The result of “%(title)s” is published: %(outcome)s",
                 title=vote.title[:60], outcome=outcome),
         Message("Turnout %(n)s of %(total)s; quorum %(met)s.", n=result.get("turnout", 0),
                 total=result.get("electorate", 0),
                 met=Message("met") if result.get("quorum_met") else Message("not met")),
         link=vote_link(vote.id))


def tell_vote_opened(session: Session, vote: Vote, person_ids: Iterable[int | None]) -> int:
    """A vote opened: every eligible resident (``person_ids``, the frozen electorate)
    who has an account is told, in their own language, with the closing time in
    ``app.timezone``. Called once, by :func:`~.electorates.freeze_electorate` in the
    transaction that claims the freeze (a conditional UPDATE only one caller wins), so a
    second look, a second job run or two concurrent requests tell nobody twice. Accounts
    are found all at once (``accounts_for_persons``)."""
    accounts = accounts_for_persons(session, person_ids)
    seen: dict[int, None] = {}  # in the order found, each once
    for views in accounts.values():
        for account in views:
            if account.is_active:
                seen.setdefault(account.id, None)
    title = Message("A vote is open to you: “%(title)s”", title=vote.title[:60])
    body = Message("You may vote until %(when)s. Your ballot is yours alone: nobody may "
                   "cast it for you.", when=vote.closes_at)
    for uid in seen:
        notify(session, None, user_id=uid, title=title, body=body,
               link=vote_link(vote.id), kind="info", source=PLUGIN)
    return len(seen)


# ----------------------------------------------------------------------------- forum


def _thread_title(session: Session, post: Post) -> str:
    thread = session.get(Thread, post.thread_id)
    return thread.title[:60] if thread is not None else ""


def on_post_hidden(event: Any, session: Session) -> None:
    """``self_governance.post.hidden``: the author learns their post is hidden and why —
    a moderator's reason, or that reports hid it pending review."""
    post = session.get(Post, event.payload["post_id"])
    if post is None or not post.hidden:
        return  # restored before this ran: the restore told them
    title = _thread_title(session, post)
    by_reports = event.payload.get("reason") == "reports"

    if by_reports:
        texts = (Message("Your post in “%(title)s” is hidden pending review", title=title),
                 Message("Several residents reported it. A moderator reviews it and either "
                         "shows it again or keeps it hidden."))
    else:
        texts = (Message("A moderator hid your post in “%(title)s”", title=title),
                 Message("The moderator's reason: %(reason)s", reason=post.hidden_reason or ""))
    tell(session, [post.author_id], *texts, link=post_link(post.thread_id, post.id),
         kind="warning")


def tell_post_shown(session: Session, post: Post, reason: str) -> int:
    """A moderator restored the author's post or dismissed the reports on it."""
    title = _thread_title(session, post)
    return tell(session, [post.author_id],
                Message("Your post in “%(title)s” is visible again", title=title),
                Message("The moderator's reason: %(reason)s", reason=reason),
                link=post_link(post.thread_id, post.id), kind="success")


def tell_muted(session: Session, user_id: int, until: Any, reason: str) -> int:
    """A moderator stopped the account posting for a while (until a time, shown in
    ``app.timezone``)."""
    return tell(session, [user_id],
                Message("You cannot post in the forum until %(date)s", date=until),
                Message("The moderator's reason: %(reason)s", reason=reason),
                link="/self-governance/forum/", kind="warning")


def tell_mentioned(session: Session, user_ids: Iterable[int], thread: Thread, post: Post) -> int:
    return tell(session, user_ids,
                Message("You were mentioned in “%(title)s”", title=thread.title[:60]),
                link=post_link(thread.id, post.id))


def tell_followers(session: Session, user_ids: Iterable[int], thread: Thread, post: Post) -> int:
    return tell(session, user_ids,
                Message("New reply in “%(title)s”, which you follow", title=thread.title[:60]),
                link=post_link(thread.id, post.id))
