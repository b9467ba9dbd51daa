"""The neighbourhood forum and its moderation: boards, threads and posts (with mentions
and followers notified), the limits on new and muted posters, reports that hide a post
pending review, and the moderators' logged actions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import core.toolkit as toolkit
from core.toolkit import N_, utcnow
from plugins.self_governance import markup
from plugins.self_governance.models import (
    Board,
    Follow,
    Mention,
    ModerationLog,
    Mute,
    Post,
    Report,
    Thread,
)
from plugins.self_governance.services import outcomes
from plugins.self_governance.services.common import GovernanceError, aware


def ensure_default_boards(session: Session) -> None:
    if session.scalar(select(func.count()).select_from(Board)):
        return
    for pos, (slug, name, desc) in enumerate(
        [
            ("general", "邻里交流", "社区大小事，邻里互助"),
            ("suggestions", "意见建议", "对社区工作的意见和建议"),
            ("market", "闲置互换", "闲置物品交换、赠送"),
        ]
    ):
        session.add(Board(slug=slug, name=name, description=desc, position=pos))
    session.flush()


def active_mute(session: Session, user_id: int) -> Mute | None:
    return session.scalar(
        select(Mute)
        .where(Mute.user_id == user_id, Mute.until > utcnow())
        .order_by(Mute.until.desc())
    )


def _check_poster(session: Session, user: Any, settings: dict[str, Any]) -> None:
    if settings.get("verified_only_posting", True) and not getattr(user, "is_verified", False):
        raise GovernanceError(N_("Only verified residents can post."), "body")
    if active_mute(session, user.id) is not None:
        raise GovernanceError(N_("You are muted and cannot post for now."), "body")
    created = aware(getattr(user, "created_at", None))
    new_days = int(settings.get("new_user_days", 7))
    if created is not None and utcnow() - created < timedelta(days=new_days):
        limit = int(settings.get("new_user_posts_per_hour", 5))
        recent = (
            session.scalar(
                select(func.count())
                .select_from(Post)
                .where(Post.author_id == user.id, Post.created_at > utcnow() - timedelta(hours=1))
            )
            or 0
        )
        if recent >= limit:
            raise GovernanceError(
                N_("New accounts may post %(n)s times an hour; please wait a little."),
                "body",
                n=limit,
            )


def _add_post(session: Session, thread: Thread, user: Any, body: str) -> Post:
    body = (body or "").strip()
    if not body:
        raise GovernanceError(N_("Write something."), "body")
    if len(body) > 5000:
        raise GovernanceError(N_("A post is at most 5000 characters."), "body")
    post = Post(thread_id=thread.id, author_id=user.id, body=body, html=markup.render(body))
    session.add(post)
    thread.last_post_at = utcnow()
    session.flush()
    mentioned: set[int] = set()
    for name in sorted(set(markup.mentions(body)))[:MAX_MENTIONS]:
        account = toolkit.find_account(session, name)  # exact, never a LIKE pattern
        if account is not None and account.id != user.id and account.id not in mentioned:
            session.add(Mention(post_id=post.id, user_id=account.id))
            mentioned.add(account.id)
    outcomes.tell_mentioned(session, mentioned, thread, post)
    followers = session.scalars(select(Follow.user_id).where(Follow.thread_id == thread.id))
    outcomes.tell_followers(session, set(followers) - mentioned - {user.id}, thread, post)
    follow_thread(session, thread, user.id)
    session.flush()
    return post


#: Mentions notified per post (the rest of the names stay plain text).
MAX_MENTIONS = 20


def start_thread(
    session: Session, board: Board, user: Any, *, title: str, body: str, settings: dict[str, Any]
) -> Thread:
    _check_poster(session, user, settings)
    title = (title or "").strip()
    if not title:
        raise GovernanceError(N_("Enter a title."), "title")
    thread = Thread(board_id=board.id, author_id=user.id, title=title[:200])
    session.add(thread)
    session.flush()
    _add_post(session, thread, user, body)
    return thread


def reply(
    session: Session, thread: Thread, user: Any, *, body: str, settings: dict[str, Any]
) -> Post:
    if thread.locked:
        raise GovernanceError(N_("This thread is locked."), "body")
    if thread.hidden:
        raise GovernanceError(N_("This thread is hidden."), "body")
    _check_poster(session, user, settings)
    return _add_post(session, thread, user, body)


def follow_thread(session: Session, thread: Thread, user_id: int, follow: bool = True) -> None:
    row = session.scalar(
        select(Follow).where(Follow.thread_id == thread.id, Follow.user_id == user_id)
    )
    if follow and row is None:
        session.add(Follow(thread_id=thread.id, user_id=user_id))
    elif not follow and row is not None:
        session.delete(row)
    session.flush()


def report_post(
    session: Session, bus: Any, post: Post, *, reporter_id: int, reason: str, hide_after: int
) -> Post:
    """One report per resident per post; ``hide_after`` reports hide the post pending a
    moderator's review (and publish ``self_governance.post.hidden``)."""
    if post.author_id == reporter_id:
        raise GovernanceError(N_("You cannot report your own post."), "reason")
    try:
        with session.begin_nested():
            session.add(
                Report(
                    post_id=post.id, reporter_id=reporter_id, reason=(reason or "").strip()[:200]
                )
            )
    except IntegrityError:
        raise GovernanceError(N_("You reported this post already."), "reason") from None
    post.report_count = (
        session.scalar(
            select(func.count())
            .select_from(Report)
            .where(Report.post_id == post.id, Report.resolved.is_(False))
        )
        or 0
    )
    if post.report_count >= hide_after and not post.hidden:
        post.hidden, post.pending_review = True, True
        post.hidden_reason = N_("Hidden after reports, pending review.")
        session.add(
            ModerationLog(
                moderator_id=None,
                action="auto_hide",
                target_type="post",
                target_id=post.id,
                reason=f"{post.report_count} reports",
            )
        )
        _post_hidden(session, bus, post, "reports")
    session.flush()
    return post


def _post_hidden(session: Session, bus: Any, post: Post, why: str) -> None:
    thread = session.get(Thread, post.thread_id)
    bus.publish(
        session,
        "self_governance.post.hidden",
        {
            "post_id": post.id,
            "thread_id": post.thread_id,
            "board_id": thread.board_id if thread else None,
            "reason": why,
        },
    )


MOD_ACTIONS = ("hide", "restore", "lock", "unlock", "move", "dismiss")


def moderate(
    session: Session,
    bus: Any,
    *,
    moderator_id: int,
    action: str,
    post: Post | None = None,
    thread: Thread | None = None,
    reason: str,
    board: Board | None = None,
) -> None:
    """A moderator's action, always with a reason, always logged."""
    reason = (reason or "").strip()
    if not reason:
        raise GovernanceError(N_("Give a reason."), "reason")
    if action not in MOD_ACTIONS:
        raise GovernanceError(N_("Unknown action."), "action")
    target_type, target_id = ("post", post.id) if post is not None else ("thread", thread.id)
    if action == "hide" and post is not None:
        post.hidden, post.pending_review, post.hidden_reason = True, False, reason[:200]
        _post_hidden(session, bus, post, "moderator")
    elif action == "hide" and thread is not None:
        thread.hidden = True
    elif action == "restore" and post is not None:
        post.hidden, post.pending_review, post.hidden_reason = False, False, None
        session.execute(update(Report).where(Report.post_id == post.id).values(resolved=True))
        post.report_count = 0
        outcomes.tell_post_shown(session, post, reason)
    elif action == "restore" and thread is not None:
        thread.hidden = False
    elif action == "dismiss" and post is not None:  # reports unfounded, post stays visible
        was_hidden = post.hidden
        session.execute(update(Report).where(Report.post_id == post.id).values(resolved=True))
        post.report_count, post.pending_review, post.hidden = 0, False, False
        if was_hidden:
            outcomes.tell_post_shown(session, post, reason)
    elif action in ("lock", "unlock") and thread is not None:
        thread.locked = action == "lock"
    elif action == "move" and thread is not None and board is not None:
        thread.board_id = board.id
    else:
        raise GovernanceError(N_("This action does not apply here."), "action")
    session.add(
        ModerationLog(
            moderator_id=moderator_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            reason=reason[:200],
        )
    )
    session.flush()


def mute_user(session: Session, *, moderator_id: int, user_id: int, days: int, reason: str) -> Mute:
    reason = (reason or "").strip()
    if not reason:
        raise GovernanceError(N_("Give a reason."), "reason")
    if not 1 <= days <= 365:
        raise GovernanceError(N_("Mute for 1 to 365 days."), "days")
    mute = Mute(
        user_id=user_id,
        until=utcnow() + timedelta(days=days),
        reason=reason[:200],
        by_id=moderator_id,
    )
    session.add(mute)
    session.add(
        ModerationLog(
            moderator_id=moderator_id,
            action="mute",
            target_type="user",
            target_id=user_id,
            reason=reason[:200],
        )
    )
    outcomes.tell_muted(session, user_id, mute.until, reason[:200])
    session.flush()
    return mute


def moderation_queue(session: Session) -> dict[str, Any]:
    """Posts with open reports or hidden pending review, and the counts."""
    posts = list(
        session.scalars(
            select(Post)
            .where(or_(Post.pending_review.is_(True), Post.report_count > 0))
            .order_by(Post.report_count.desc(), Post.id)
        )
    )
    return {
        "posts": posts,
        "pending": sum(1 for p in posts if p.pending_review),
        "reported": sum(1 for p in posts if p.report_count > 0),
    }
