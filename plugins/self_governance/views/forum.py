"""The forum and its moderation: boards, threads, replies, follows and reports, and the
moderators' queue with their actions and mutes."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.toolkit import (
    account_views,
    current_session,
    has_permission,
    require,
    require_login,
)
from plugins.self_governance import MODERATE
from plugins.self_governance import services as sv
from plugins.self_governance.models import (
    Board,
    ModerationLog,
    Post,
    Thread,
)
from plugins.self_governance.views.common import (
    bp,
    fail,
    get_or_404,
    kernel,
    settings,
)
from plugins.self_governance.views.forms import (
    MARKUP_HINT,
    MOD_ACTION_LABELS,
    ActionForm,
    ModerateForm,
    MuteForm,
    ReplyForm,
    ReportForm,
    ThreadForm,
)


@bp.route("/forum/")
def forum():
    """Public: the residents' forum (reading; posting needs an account)."""
    session = current_session()
    boards = list(session.scalars(select(Board).order_by(Board.position)))
    counts = dict(
        session.execute(
            select(Thread.board_id, func.count())
            .where(Thread.hidden.is_(False))
            .group_by(Thread.board_id)
        ).all()
    )
    return render_template(
        "self_governance/forum.html",
        boards=boards,
        counts=counts,
        moderator=has_permission(current_user, MODERATE),
    )


@bp.route("/forum/<board_slug>")
def board(board_slug: str):
    """Public: a board's threads."""
    return _board_page(current_session(), _board(board_slug), ThreadForm())


def _board(slug: str) -> Board:
    item = current_session().scalar(select(Board).where(Board.slug == slug))
    if item is None:
        abort(404)
    return item


def _board_page(session: Any, item: Board, form: FlaskForm, status: int = 200) -> Any:
    threads = list(
        session.scalars(
            select(Thread)
            .where(Thread.board_id == item.id, Thread.hidden.is_(False))
            .order_by(Thread.last_post_at.desc())
            .limit(100)
        )
    )
    return render_template(
        "self_governance/board.html",
        board=item,
        threads=threads,
        form=form,
        markup_hint=MARKUP_HINT,
    ), status


@bp.route("/forum/<board_slug>/new", methods=["POST"])
@require_login
def thread_new(board_slug: str):
    """Start a thread (by default only verified residents: the service decides)."""
    session = current_session()
    item = _board(board_slug)
    form = ThreadForm()
    if form.validate_on_submit():
        try:
            thread = sv.start_thread(
                session,
                item,
                current_user,
                title=form.title.data,
                body=form.body.data,
                settings=settings(),
            )
        except sv.GovernanceError as exc:
            fail(form, exc)
        else:
            session.commit()
            return redirect(url_for("self_governance.thread", thread_id=thread.id))
    return _board_page(session, item, form, 400)


@bp.route("/threads/<int:thread_id>")
def thread(thread_id: int):
    """Public to read; hidden posts show as hidden (moderators see them)."""
    session = current_session()
    item = get_or_404(Thread, thread_id)
    moderator = has_permission(current_user, MODERATE)
    if item.hidden and not moderator:
        abort(404)
    return _thread_page(session, item, ReplyForm(), moderator)


def _thread_page(
    session: Any, item: Thread, form: FlaskForm, moderator: bool, status: int = 200
) -> Any:
    from plugins.self_governance.models import Follow

    posts = list(session.scalars(select(Post).where(Post.thread_id == item.id).order_by(Post.id)))
    # The name a member chose to show (their account's display name), never registry data.
    names = {
        uid: a.display_name or a.username
        for uid, a in account_views(session, (p.author_id for p in posts)).items()
    }
    following = (
        current_user.is_authenticated
        and session.scalar(
            select(Follow.id).where(Follow.thread_id == item.id, Follow.user_id == current_user.id)
        )
        is not None
    )
    return render_template(
        "self_governance/thread.html",
        thread=item,
        posts=posts,
        names=names,
        form=form,
        moderator=moderator,
        following=following,
        board=session.get(Board, item.board_id),
        action_form=ActionForm(),
        report_form=ReportForm(),
    ), status


@bp.route("/threads/<int:thread_id>/reply", methods=["POST"])
@require_login
def thread_reply(thread_id: int):
    session = current_session()
    item = get_or_404(Thread, thread_id)
    moderator = has_permission(current_user, MODERATE)
    if item.hidden and not moderator:
        abort(404)
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            post = sv.reply(session, item, current_user, body=form.body.data, settings=settings())
        except sv.GovernanceError as exc:
            fail(form, exc)
        else:
            session.commit()
            return redirect(
                url_for("self_governance.thread", thread_id=item.id, _anchor=f"post-{post.id}")
            )
    return _thread_page(session, item, form, moderator, 400)


@bp.route("/threads/<int:thread_id>/follow", methods=["POST"])
@require_login
def thread_follow(thread_id: int):
    session = current_session()
    item = get_or_404(Thread, thread_id)
    if ActionForm().validate_on_submit():
        sv.follow_thread(
            session, item, current_user.id, follow=request.form.get("follow", "1") == "1"
        )
        session.commit()
    return redirect(url_for("self_governance.thread", thread_id=item.id))


@bp.route("/posts/<int:post_id>/report", methods=["POST"])
@require_login
def post_report(post_id: int):
    session = current_session()
    post = get_or_404(Post, post_id)
    form = ReportForm()
    if form.validate_on_submit():
        try:
            sv.report_post(
                session,
                kernel().bus,
                post,
                reporter_id=current_user.id,
                reason=form.reason.data or "",
                hide_after=settings()["reports_to_hide"],
            )
        except sv.GovernanceError as exc:
            flash(exc.text(), "error")
        else:
            session.commit()
            flash(_("Thank you: a moderator will look at it."), "success")
    return redirect(url_for("self_governance.thread", thread_id=post.thread_id))


@bp.route("/moderation/", methods=["GET", "POST"])
@require(MODERATE)
def moderation():
    session = current_session()
    form, mute_form = ModerateForm(prefix="m"), MuteForm(prefix="u")
    if request.method == "POST":
        try:
            if request.form.get("m-action") and form.validate_on_submit():
                target_post = (
                    session.get(Post, form.target_id.data) if form.target.data == "post" else None
                )
                target_thread = (
                    session.get(Thread, form.target_id.data)
                    if form.target.data == "thread"
                    else None
                )
                if target_post is None and target_thread is None:
                    abort(404)
                to_board = (
                    session.scalar(select(Board).where(Board.slug == form.board.data))
                    if form.board.data
                    else None
                )
                sv.moderate(
                    session,
                    kernel().bus,
                    moderator_id=current_user.id,
                    action=form.action.data,
                    post=target_post,
                    thread=target_thread,
                    reason=form.reason.data,
                    board=to_board,
                )
                session.commit()
                flash(_("Done; the action is logged."), "success")
                return redirect(url_for("self_governance.moderation"))
            if mute_form.validate_on_submit():
                sv.mute_user(
                    session,
                    moderator_id=current_user.id,
                    user_id=mute_form.user_id.data,
                    days=mute_form.days.data,
                    reason=mute_form.reason.data,
                )
                session.commit()
                flash(_("The account is muted; the action is logged."), "success")
                return redirect(url_for("self_governance.moderation"))
        except sv.GovernanceError as exc:
            session.rollback()
            fail(form, exc)
        except IntegrityError:
            session.rollback()
            abort(404)
    queue = sv.moderation_queue(session)
    log = list(session.scalars(select(ModerationLog).order_by(ModerationLog.id.desc()).limit(50)))
    status = 400 if request.method == "POST" else 200
    return render_template(
        "self_governance/moderation.html",
        action_labels=MOD_ACTION_LABELS,
        queue=queue,
        log=log,
        form=form,
        mute_form=mute_form,
    ), status
