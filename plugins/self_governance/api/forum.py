"""The forum: boards and their threads (public), one thread with its posts (public; a
hidden thread only for moderators, a hidden post's text only for moderators), starting a
thread, replying, following and reporting (a signed-in account; the service decides
whether it must be verified, muted, or new and over its hourly limit)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from sqlalchemy import func, select

from core.toolkit import account_views, current_session, endpoint, require_login
from plugins.self_governance import services as sv
from plugins.self_governance.api.common import blp, conflict, get, kernel, moderator, settings
from plugins.self_governance.models import Board, Follow, Post, Thread
from plugins.self_governance.schemas import (
    SgBoard,
    SgFollow,
    SgPost,
    SgReplyIn,
    SgReportIn,
    SgReportOut,
    SgThread,
    SgThreadIn,
    SgThreadOne,
)

LOGIN = require_login  # as on the pages: any signed-in account; the service decides the rest


def names(session: Any, author_ids: Any) -> dict[int, str]:
    """The display name each member chose for their account (never registry data)."""
    return {uid: a.display_name or a.username for uid, a in account_views(session, author_ids)
            .items()}


def post_out(post: Post, authors: dict[int, str], *, staff: bool) -> dict[str, Any]:
    shown = staff or not post.hidden
    return {
        "id": post.id,
        "thread_id": post.thread_id,
        "author": authors.get(post.author_id) if post.author_id else None,
        "html": post.html if shown else None,
        "hidden": post.hidden,
        "hidden_reason": post.hidden_reason if staff else None,
        "pending_review": post.pending_review,
        "report_count": post.report_count if staff else 0,
        "created_at": post.created_at,
    }


def thread_out(thread: Thread, slug: str, authors: dict[int, str]) -> dict[str, Any]:
    return {
        **{c: getattr(thread, c) for c in (
            "id", "title", "locked", "hidden", "created_at", "last_post_at")},
        "board": slug,
        "author": authors.get(thread.author_id) if thread.author_id else None,
    }


def _board(slug: str) -> Board:
    item = current_session().scalar(select(Board).where(Board.slug == slug[:40]))
    if item is None:
        abort(404, message="Not found.")
    return item


def _thread(thread_id: int) -> Thread:
    item = get(Thread, thread_id)
    if item.hidden and not moderator():
        abort(404, message="Not found.")
    return item


def thread_one(session: Any, item: Thread) -> dict[str, Any]:
    posts = list(session.scalars(select(Post).where(Post.thread_id == item.id).order_by(Post.id)))
    authors = names(session, {p.author_id for p in posts} | {item.author_id})
    following = None
    if getattr(current_user, "is_authenticated", False):
        following = session.scalar(select(Follow.id).where(
            Follow.thread_id == item.id, Follow.user_id == current_user.id)) is not None
    staff = moderator()
    return {**thread_out(item, session.get(Board, item.board_id).slug, authors),
            "posts": [post_out(p, authors, staff=staff) for p in posts],
            "following": following}


@blp.route("/forum/boards")
class Boards(MethodView):
    @endpoint(blp)
    @blp.response(200, SgBoard(many=True))
    def get(self):
        """The boards, in order, with their visible threads counted (public)."""
        session = current_session()
        counts = dict(session.execute(
            select(Thread.board_id, func.count()).where(Thread.hidden.is_(False))
            .group_by(Thread.board_id)).all())
        return [{"slug": b.slug, "name": b.name, "description": b.description,
                 "threads": counts.get(b.id, 0)}
                for b in session.scalars(select(Board).order_by(Board.position))]


@blp.route("/forum/boards/<board_slug>/threads")
class BoardThreads(MethodView):
    @endpoint(blp, errors=(404,), descriptions={404: "No such board"})
    @blp.response(200, SgThread(many=True))
    def get(self, board_slug: str):
        """A board's visible threads, latest activity first (public)."""
        session = current_session()
        item = _board(board_slug)
        rows = list(session.scalars(
            select(Thread).where(Thread.board_id == item.id, Thread.hidden.is_(False))
            .order_by(Thread.last_post_at.desc()).limit(100)))
        authors = names(session, {t.author_id for t in rows})
        return [thread_out(t, item.slug, authors) for t in rows]

    @endpoint(
        blp,
        LOGIN,
        errors=(404, 409, 422),
        descriptions={
            404: "No such board",
            409: "Not allowed to post now: not verified (by default only verified "
            "residents post), muted, or a new account over its hourly limit",
        },
    )
    @blp.arguments(SgThreadIn)
    @blp.response(201, SgThreadOne)
    def post(self, data, board_slug: str):
        """Start a thread with its first post (the author follows it)."""
        session = current_session()
        item = _board(board_slug)
        try:
            thread = sv.start_thread(session, item, current_user, title=data["title"],
                                     body=data["body"], settings=settings())
        except sv.GovernanceError as exc:
            conflict(exc)
        session.commit()
        return thread_one(session, thread)


@blp.route("/threads/<int:thread_id>")
class ThreadOne(MethodView):
    @endpoint(blp, errors=(404,), descriptions={404: "No such thread (or hidden)"})
    @blp.response(200, SgThreadOne)
    def get(self, thread_id: int):
        """A thread and its posts (public); a hidden post shows as hidden, its text to
        moderators only."""
        return thread_one(current_session(), _thread(thread_id))


@blp.route("/threads/<int:thread_id>/replies")
class ThreadReplies(MethodView):
    @endpoint(
        blp,
        LOGIN,
        errors=(404, 409, 422),
        descriptions={
            404: "No such thread (or hidden)",
            409: "Locked, or not allowed to post now (not verified, muted, over the new "
            "account's hourly limit)",
        },
    )
    @blp.arguments(SgReplyIn)
    @blp.response(201, SgPost)
    def post(self, data, thread_id: int):
        """Reply in a thread; those mentioned and the followers are told."""
        session = current_session()
        item = _thread(thread_id)
        try:
            post = sv.reply(session, item, current_user, body=data["body"], settings=settings())
        except sv.GovernanceError as exc:
            conflict(exc)
        session.commit()
        return post_out(post, names(session, [post.author_id]), staff=moderator())


@blp.route("/threads/<int:thread_id>/follow")
class ThreadFollow(MethodView):
    @endpoint(blp, LOGIN, errors=(404,), descriptions={404: "No such thread (or hidden)"})
    @blp.response(200, SgFollow)
    def post(self, thread_id: int):
        """Follow a thread: told of each new reply."""
        return self._set(thread_id, True)

    @endpoint(blp, LOGIN, errors=(404,), descriptions={404: "No such thread (or hidden)"})
    @blp.response(200, SgFollow)
    def delete(self, thread_id: int):
        """Stop following a thread."""
        return self._set(thread_id, False)

    @staticmethod
    def _set(thread_id: int, follow: bool) -> dict[str, Any]:
        session = current_session()
        item = _thread(thread_id)
        sv.follow_thread(session, item, current_user.id, follow=follow)
        session.commit()
        return {"thread_id": item.id, "following": follow}


@blp.route("/posts/<int:post_id>/reports")
class PostReports(MethodView):
    @endpoint(
        blp,
        LOGIN,
        errors=(404, 409, 422),
        descriptions={
            404: "No such post (or in a hidden thread)",
            409: "Your own post, or reported by you already",
        },
    )
    @blp.arguments(SgReportIn)
    @blp.response(201, SgReportOut)
    def post(self, data, post_id: int):
        """Report a post to the moderators (once per account); enough open reports hide
        it pending review."""
        session = current_session()
        post = get(Post, post_id)
        _thread(post.thread_id)
        try:
            sv.report_post(session, kernel().bus, post, reporter_id=current_user.id,
                           reason=data["reason"], hide_after=settings()["reports_to_hide"])
        except sv.GovernanceError as exc:
            conflict(exc)
        session.commit()
        return {"post_id": post.id, "reported": True}
