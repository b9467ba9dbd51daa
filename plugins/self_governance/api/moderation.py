"""Moderation (the moderators' permission): the queue of reported and hidden posts with
the log, hiding, restoring or dismissing the reports on a post, locking, hiding or moving
a thread, and muting a post's author — always with a reason, always logged, the author
told. The same service as the pages' buttons."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.toolkit import current_session, endpoint
from plugins.self_governance import MODERATE
from plugins.self_governance import services as sv
from plugins.self_governance.api.common import blp, conflict, get, kernel
from plugins.self_governance.api.forum import names, post_out, thread_one
from plugins.self_governance.models import Board, ModerationLog, Post, Thread
from plugins.self_governance.schemas import (
    SgModLog,
    SgMute,
    SgMuteIn,
    SgPost,
    SgPostModerateIn,
    SgQueue,
    SgThreadModerateIn,
    SgThreadOne,
)


@blp.route("/moderation/queue")
class ModerationQueue(MethodView):
    @endpoint(blp, MODERATE)
    @blp.response(200, SgQueue)
    def get(self):
        """Posts with open reports or hidden pending review, most reported first."""
        session = current_session()
        queue = sv.moderation_queue(session)
        posts = queue["posts"]
        titles = dict(session.execute(select(Thread.id, Thread.title).where(
            Thread.id.in_({p.thread_id for p in posts}))).all()) if posts else {}
        authors = names(session, {p.author_id for p in posts})
        return {
            "posts": [{**post_out(p, authors, staff=True), "thread_title": titles.get(p.thread_id)}
                      for p in posts],
            "pending": queue["pending"],
            "reported": queue["reported"],
        }


@blp.route("/moderation/log")
class ModerationLogs(MethodView):
    @endpoint(blp, MODERATE)
    @blp.response(200, SgModLog(many=True))
    def get(self):
        """The latest 50 moderation actions, newest first (as on the moderation page)."""
        return list(current_session().scalars(
            select(ModerationLog).order_by(ModerationLog.id.desc()).limit(50)))


@blp.route("/posts/<int:post_id>/moderation")
class PostModeration(MethodView):
    @endpoint(blp, MODERATE, errors=(404, 409, 422), descriptions={
        404: "No such post", 409: "The action does not apply to the post as it is"})
    @blp.arguments(SgPostModerateIn)
    @blp.response(200, SgPost)
    def post(self, data, post_id: int):
        """Hide a post, show it again, or dismiss the reports on it, with the reason
        the author is told."""
        session = current_session()
        post = get(Post, post_id)
        _act(session, data, post=post)
        return post_out(post, names(session, [post.author_id]), staff=True)


@blp.route("/threads/<int:thread_id>/moderation")
class ThreadModeration(MethodView):
    @endpoint(blp, MODERATE, errors=(404, 409, 422), descriptions={
        404: "No such thread", 409: "No such board to move it to, or the action does not apply"})
    @blp.arguments(SgThreadModerateIn)
    @blp.response(200, SgThreadOne)
    def post(self, data, thread_id: int):
        """Lock, unlock, hide, restore or move (``board``: a board's slug) a thread."""
        session = current_session()
        thread = get(Thread, thread_id)
        board = None
        if data["action"] == "move":
            board = session.scalar(select(Board).where(Board.slug == (data.get("board") or "")))
            if board is None:
                conflict(sv.GovernanceError(sv.N_("Choose a board to move the thread to."),
                                            "board"))
        _act(session, data, thread=thread, board=board)
        return thread_one(session, thread)


def _act(session: Any, data: dict[str, Any], **targets: Any) -> None:
    try:
        sv.moderate(session, kernel().bus, moderator_id=current_user.id, action=data["action"],
                    reason=data["reason"], **targets)
    except sv.GovernanceError as exc:
        session.rollback()
        conflict(exc)
    session.commit()


@blp.route("/posts/<int:post_id>/mute")
class PostMute(MethodView):
    @endpoint(blp, MODERATE, errors=(404, 422), descriptions={
        404: "No such post, or its author's account is gone"})
    @blp.arguments(SgMuteIn)
    @blp.response(201, SgMute)
    def post(self, data, post_id: int):
        """Stop the post's author posting for ``days`` days (from their post: no account
        ids); the author is told until when and why."""
        session = current_session()
        post = get(Post, post_id)
        if post.author_id is None:
            abort(404, message="Not found.")
        try:
            mute = sv.mute_user(session, moderator_id=current_user.id, user_id=post.author_id,
                                days=data["days"], reason=data["reason"])
            session.commit()
        except sv.GovernanceError as exc:
            session.rollback()
            conflict(exc)
        except IntegrityError:  # the author's account is gone
            session.rollback()
            abort(404, message="Not found.")
        return {"until": mute.until, "reason": mute.reason}
