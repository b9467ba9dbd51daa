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
from wtforms.fields.choices import SelectChoice

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
    MuteForm,
    PostModerateForm,
    ReplyForm,
    ReportForm,
    ThreadForm,
    ThreadModerateForm,
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
        thread_form=_thread_form(session, item) if moderator else None,
    ), status


def _thread_form(session: Any, item: Thread) -> ThreadModerateForm:
    form = ThreadModerateForm()
    form.board.choices = board_choices(session)
    form.board.data = form.board.data or session.get(Board, item.board_id).slug
    return form


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


@bp.route("/moderation/")
@require(MODERATE)
def moderation():
    """The queue: each reported or hidden post with its own buttons (the moderator acts
    on the post itself, never by typing ids), and the log."""
    session = current_session()
    queue = sv.moderation_queue(session)
    log = list(session.scalars(select(ModerationLog).order_by(ModerationLog.id.desc()).limit(50)))
    threads = {t.id: t for t in session.scalars(
        select(Thread).where(Thread.id.in_({p.thread_id for p in queue["posts"]}))
    )} if queue["posts"] else {}
    return render_template(
        "self_governance/moderation.html",
        action_labels=MOD_ACTION_LABELS,
        queue=queue,
        threads=threads,
        log=log,
    )


def _back(post_or_thread: Any) -> Any:
    """Back where the moderator acted: the queue, or the thread at the post."""
    if request.form.get("back") == "queue":
        return redirect(url_for("self_governance.moderation"))
    if isinstance(post_or_thread, Post):
        return redirect(url_for("self_governance.thread", thread_id=post_or_thread.thread_id,
                                _anchor=f"post-{post_or_thread.id}"))
    return redirect(url_for("self_governance.thread", thread_id=post_or_thread.id))


def _moderate(post: Post | None, thread: Thread | None) -> Any:
    session = current_session()
    form = PostModerateForm() if post is not None else ThreadModerateForm()
    if isinstance(form, ThreadModerateForm):
        form.board.choices = board_choices(session)
    target = post if post is not None else thread
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
        return _back(target)
    board = None
    if thread is not None and form.action.data == "move":
        board = session.scalar(select(Board).where(Board.slug == form.board.data))
    try:
        sv.moderate(session, kernel().bus, moderator_id=current_user.id,
                    action=form.action.data, post=post, thread=thread,
                    reason=form.reason.data, board=board)
    except sv.GovernanceError as exc:
        session.rollback()
        flash(exc.text(), "error")
    else:
        session.commit()
        flash(_("Done; the action is logged and the author is told."), "success")
    return _back(target)


@bp.route("/posts/<int:post_id>/moderate", methods=["POST"])
@require(MODERATE)
def post_moderate(post_id: int):
    """Hide a post, show it again, or dismiss the reports on it, from the post itself."""
    return _moderate(get_or_404(Post, post_id), None)


@bp.route("/threads/<int:thread_id>/moderate", methods=["POST"])
@require(MODERATE)
def thread_moderate(thread_id: int):
    """Lock, unlock, hide, restore or move a thread, from the thread itself."""
    return _moderate(None, get_or_404(Thread, thread_id))


@bp.route("/posts/<int:post_id>/mute", methods=["POST"])
@require(MODERATE)
def post_mute(post_id: int):
    """Stop the post's author posting for some days (from their post: no account ids)."""
    session = current_session()
    post = get_or_404(Post, post_id)
    form = MuteForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
        return _back(post)
    try:
        sv.mute_user(session, moderator_id=current_user.id, user_id=post.author_id,
                     days=form.days.data, reason=form.reason.data)
    except sv.GovernanceError as exc:
        session.rollback()
        flash(exc.text(), "error")
    except IntegrityError:  # the author's account is gone
        session.rollback()
        abort(404)
    else:
        session.commit()
        flash(_("The author is muted; the action is logged and they are told."), "success")
    return _back(post)


def board_choices(session: Any) -> list[Any]:
    return [SelectChoice(b.slug, b.name) for b in session.scalars(select(Board).order_by(Board.id))]
