"""Community affairs pages, mounted by core at ``/self-governance``. Thin: the rules are in
``services``. Reading notices, disclosure, proposals, vote results, the forum, the
committee's record is public (that is what disclosure means); acting needs a verified
resident (``require_verified``) or a committee permission (``require``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from core.toolkit import (
    account_views,
    current_kernel,
    current_principal,
    current_session,
    has_permission,
    require,
    require_login,
    require_personal,
    require_verified,
    utcnow,
)
from plugins.self_governance import ANSWER, CAST, MANAGE_VOTES, MODERATE, PUBLISH, RATE, info
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
    Statement,
    Thread,
    Vote,
)
from plugins.self_governance.services import MAX_ID

bp = Blueprint("self_governance", __name__, template_folder="templates")


# ----------------------------------------------------------------------------- helpers


def kernel() -> Any:
    return current_kernel()


def assisted() -> bool:
    """Whether a worker is acting for the resident (the assisted channel): personal acts
    — a ballot, the committee's evaluation — are then refused (``require_personal``)."""
    return getattr(current_user, "agent", None) is not None


def settings() -> dict[str, Any]:
    return kernel().plugins.settings(info.id)


def my_person() -> int | None:
    return current_user.person_id if getattr(current_user, "is_verified", False) else None


def my_community() -> str | None:
    return sv.person_community(current_session(), kernel(), my_person())


def viewer_buildings() -> Any:
    """Which building notices the viewer sees: all for the committee, their own
    building's for a verified resident, none otherwise."""
    if has_permission(current_user, PUBLISH):
        return lambda _building: True
    if my_person() is None:
        return None
    return sv.lives_in(current_session(), kernel(), my_person())


def get_or_404(model: type, ident: int) -> Any:
    if not 0 < ident <= MAX_ID:  # beyond any stored id (and PostgreSQL's integer)
        abort(404)
    obj = current_session().get(model, ident)
    if obj is None:
        abort(404)
    return obj


def covers(community: str | None) -> bool:
    return sv.acts_for(current_user, community)


def require_covers(community: str | None) -> None:
    """404 for an object outside the member's communities (existence does not leak)."""
    if not covers(community):
        abort(404)


def fail(form: FlaskForm, exc: sv.GovernanceError) -> None:
    """Show a rule's message beside its field (or at the top)."""
    message = _(exc.message, **exc.params)
    field = getattr(form, exc.field, None)
    if field is not None and hasattr(field, "errors"):
        if not isinstance(field.errors, list):
            field.errors = list(field.errors)
        field.errors.append(message)
    else:
        form.form_errors.append(message)


MARKUP_HINT = _l("**bold**, *italic*, [link](https://...), @name to mention someone")


def _choices(pairs: list[tuple[str, Any]]) -> list[Any]:
    """SelectField choices in the form wtforms 3.3 wants (tuples are deprecated)."""
    return [SelectChoice(value, label) for value, label in pairs]


#: Moderation actions as the moderator reads them (also the log's labels).
MOD_ACTION_LABELS = {
    "hide": _l("Hide"),
    "restore": _l("Restore"),
    "lock": _l("Lock"),
    "unlock": _l("Unlock"),
    "move": _l("Move to another board"),
    "dismiss": _l("Dismiss the reports"),
    "auto_hide": _l("Hidden after reports"),
    "mute": _l("Mute"),
}


class ActionForm(FlaskForm):
    """A button: CSRF only."""


class NoticeForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(_l("Text"), validators=[Length(max=10000)])
    community = StringField(
        _l("Community code (empty: every community)"),
        validators=[Optional(), Length(min=12, max=12)],
    )
    building = IntegerField(
        _l("Only for one building (building number, optional)"),
        validators=[Optional(), NumberRange(1, MAX_ID)],
    )
    pinned = BooleanField(_l("Pin to the top"))
    expires_at = DateTimeLocalField(
        _l("Expires (optional)"), validators=[Optional()], format="%Y-%m-%dT%H:%M"
    )
    attachment_url = StringField(
        _l("Attachment link (optional)"), validators=[Optional(), Length(max=300)]
    )


class QuestionForm(FlaskForm):
    text = TextAreaField(_l("Your question"), validators=[DataRequired(), Length(max=2000)])


class AnswerQuestionForm(FlaskForm):
    answer = TextAreaField(_l("Answer"), validators=[DataRequired(), Length(max=5000)])


class StatementForm(FlaskForm):
    community = StringField(_l("Community code"), validators=[DataRequired(), Length(12, 12)])
    period = StringField(_l("Period (YYYY-MM)"), validators=[DataRequired(), Length(7, 7)])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    items = TextAreaField(
        _l("Lines: income or expense | description | amount | voucher, one per line"),
        validators=[DataRequired()],
    )


class ProposalForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(
        _l("What do you propose, and why?"), validators=[DataRequired(), Length(max=5000)]
    )


class AnswerForm(FlaskForm):
    answer = SelectField(
        _l("Answer"),
        choices=_choices(
            [
                ("accepted", _l("Accepted")),
                ("rejected", _l("Rejected")),
                ("needs_study", _l("Needs study")),
            ]
        ),
    )
    reason = TextAreaField(_l("Reasons"), validators=[DataRequired(), Length(max=5000)])


class ProgressForm(FlaskForm):
    status = SelectField(
        _l("Implementation"),
        choices=_choices(
            [
                ("not_started", _l("Not started")),
                ("in_progress", _l("In progress")),
                ("done", _l("Done")),
            ]
        ),
    )
    note = TextAreaField(_l("Progress note"), validators=[Length(max=2000)])


class VoteForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Length(max=5000)])
    community = StringField(_l("Community code"), validators=[DataRequired(), Length(12, 12)])
    kind = SelectField(
        _l("Kind"),
        choices=_choices(
            [("motion", _l("Motion (in favour / against)")), ("election", _l("Election"))]
        ),
    )
    electorate = SelectField(
        _l("Who votes"),
        choices=_choices(
            [
                ("adult", _l("Every resident aged 18 or over")),
                ("household", _l("One vote per household")),
                ("group_rep", _l("Residents' group representatives")),
                ("owner_unit", _l("Owners: one vote per dwelling")),
            ]
        ),
    )
    quorum = SelectField(
        _l("Quorum"),
        choices=_choices(
            [
                ("half", _l("More than half of the electorate")),
                ("two_thirds", _l("At least two-thirds of the electorate")),
                ("none", _l("No quorum")),
            ]
        ),
    )
    pass_rule = SelectField(
        _l("Passes with"),
        choices=_choices(
            [
                ("half", _l("More than half of votes cast")),
                ("two_thirds", _l("At least two-thirds of votes cast")),
                ("three_quarters", _l("At least three-quarters of votes cast")),
            ]
        ),
    )
    secret = BooleanField(_l("Secret ballot"), default=True)
    candidates = TextAreaField(_l("Candidates, one per line (elections)"))
    seats = IntegerField(
        _l("Seats (elections)"), default=1, validators=[Optional(), NumberRange(1, 50)]
    )
    opens_at = DateTimeLocalField(
        _l("Opens (UTC)"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )
    closes_at = DateTimeLocalField(
        _l("Closes (UTC)"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )


class ThreadForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(_l("Text"), validators=[DataRequired(), Length(max=5000)])


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Reply"), validators=[DataRequired(), Length(max=5000)])


class ReportForm(FlaskForm):
    reason = StringField(_l("Why should a moderator look at this?"), validators=[Length(max=200)])


class ModerateForm(FlaskForm):
    action = SelectField(
        _l("Action"), choices=_choices([(a, MOD_ACTION_LABELS[a]) for a in sv.MOD_ACTIONS])
    )
    target = SelectField(
        _l("Target"), choices=_choices([("post", _l("A post")), ("thread", _l("A thread"))])
    )
    target_id = IntegerField(_l("Id"), validators=[DataRequired(), NumberRange(1, MAX_ID)])
    board = StringField(_l("Move to board (slug)"), validators=[Optional(), Length(max=40)])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=200)])


class MuteForm(FlaskForm):
    user_id = IntegerField(_l("Account id"), validators=[DataRequired(), NumberRange(1, MAX_ID)])
    days = IntegerField(_l("Days"), default=7, validators=[DataRequired(), NumberRange(1, 365)])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=200)])


# ----------------------------------------------------------------------------- start


@bp.route("/")
def index():
    """Public: the community's notice board and what is open for residents now."""
    session = current_session()
    community = my_community()
    notices = sv.visible_notices(session, community, limit=5, buildings=viewer_buildings())
    votes = list(
        session.scalars(
            select(Vote).where(Vote.closed_at.is_(None)).order_by(Vote.closes_at).limit(5)
        )
    )
    proposals = list(
        session.scalars(
            select(Proposal)
            .where(Proposal.status != "draft")
            .order_by(Proposal.created_at.desc())
            .limit(5)
        )
    )
    return render_template(
        "self_governance/index.html",
        info=info,
        notices=notices,
        votes=votes,
        proposals=proposals,
        state=sv.vote_state,
        committee=has_permission(current_user, PUBLISH),
    )


# ----------------------------------------------------------------------------- notices


@bp.route("/notices/")
def notices():
    """Public: disclosure of residents' affairs is public by law."""
    session = current_session()
    rows = sv.visible_notices(session, my_community(), limit=100, buildings=viewer_buildings())
    return render_template(
        "self_governance/notices.html",
        notices=rows,
        counts=sv.read_counts(session, [n.id for n in rows]),
        committee=has_permission(current_user, PUBLISH),
    )


@bp.route("/notices/<int:notice_id>")
def notice(notice_id: int):
    """Public; a signed-in reader is counted once."""
    session = current_session()
    item = get_or_404(Notice, notice_id)
    if item.building_id is not None:
        allowed = viewer_buildings()
        if allowed is None or not allowed(item.building_id):
            abort(404)
    if current_user.is_authenticated:
        sv.mark_read(session, item, current_user.id)
        session.commit()
    count = sv.read_counts(session, [item.id]).get(item.id, 0)
    return render_template("self_governance/notice.html", notice=item, count=count)


@bp.route("/notices/new", methods=["GET", "POST"])
@require(PUBLISH)
def notice_new():
    form = NoticeForm()
    if form.validate_on_submit() and not covers(form.community.data or None):
        form.community.errors.append(_("You do not act for this community."))
    elif form.validate_on_submit() and form.building.data and not form.community.data:
        form.community.errors.append(_("Name the community of the building."))
    elif (
        form.validate_on_submit()
        and form.building.data
        and form.building.data
        not in sv.community_buildings(current_session(), kernel(), form.community.data)
    ):
        form.building.errors.append(_("There is no such building in this community."))
    elif form.validate_on_submit():
        session = current_session()
        try:
            item = sv.publish_notice(
                session,
                title=form.title.data,
                body=form.body.data or "",
                community=form.community.data or None,
                building_id=form.building.data or None,
                author_id=current_user.id,
                pinned=form.pinned.data,
                expires_at=form.expires_at.data,
                attachment_url=form.attachment_url.data or None,
            )
        except sv.GovernanceError as exc:
            fail(form, exc)
        else:
            session.commit()
            flash(_("Notice published."), "success")
            return redirect(url_for("self_governance.notice", notice_id=item.id))
    return render_template(
        "self_governance/form.html", form=form, title=_("Publish a notice")
    ), 400 if form.errors else 200


# ----------------------------------------------------------------------------- finances


@bp.route("/finances/")
def finances():
    """Public: financial disclosure (财务公开)."""
    rows = list(current_session().scalars(select(Statement).order_by(Statement.period.desc())))
    return render_template(
        "self_governance/finances.html",
        statements=rows,
        committee=has_permission(current_user, PUBLISH),
    )


@bp.route("/finances/<int:statement_id>")
def statement(statement_id: int):
    """Public: the statement, its lines and the residents' questions with answers."""
    session = current_session()
    item = get_or_404(Statement, statement_id)
    return _statement_page(session, item, QuestionForm(), AnswerQuestionForm())


def _statement_page(
    session: Any, item: Statement, form: FlaskForm, answer_form: FlaskForm, status: int = 200
) -> Any:
    from plugins.self_governance.models import LineItem

    lines = list(
        session.scalars(
            select(LineItem)
            .where(LineItem.statement_id == item.id)
            .order_by(LineItem.kind.desc(), LineItem.id)
        )
    )
    questions = list(
        session.scalars(
            select(Question).where(Question.statement_id == item.id).order_by(Question.id)
        )
    )
    return render_template(
        "self_governance/statement.html",
        statement=item,
        lines=lines,
        questions=questions,
        totals=sv.statement_totals(session, item),
        form=form,
        answer_form=answer_form,
        may_ask=getattr(current_user, "is_verified", False),
        may_answer=has_permission(current_user, ANSWER),
    ), status


@bp.route("/finances/<int:statement_id>/ask", methods=["POST"])
@require_verified
def ask(statement_id: int):
    session = current_session()
    item = get_or_404(Statement, statement_id)
    form = QuestionForm()
    if form.validate_on_submit():
        try:
            sv.ask_question(session, item, asker_id=current_user.id, text=form.text.data)
        except sv.GovernanceError as exc:
            fail(form, exc)
        else:
            session.commit()
            flash(_("Your question was sent; the committee must answer it."), "success")
            return redirect(url_for("self_governance.statement", statement_id=item.id))
    return _statement_page(session, item, form, AnswerQuestionForm(), 400)


@bp.route("/questions/<int:question_id>/answer", methods=["POST"])
@require(ANSWER)
def answer_question(question_id: int):
    session = current_session()
    question = get_or_404(Question, question_id)
    require_covers(get_or_404(Statement, question.statement_id).community)
    form = AnswerQuestionForm()
    if form.validate_on_submit():
        sv.answer_question(session, question, by_id=current_user.id, answer=form.answer.data)
        session.commit()
        flash(_("Answer published."), "success")
    else:
        flash(_("Enter the answer."), "error")
    return redirect(url_for("self_governance.statement", statement_id=question.statement_id))


@bp.route("/finances/new", methods=["GET", "POST"])
@require(PUBLISH)
def statement_new():
    form = StatementForm()
    if form.validate_on_submit() and not covers(form.community.data):
        form.community.errors.append(_("You do not act for this community."))
    elif form.validate_on_submit():
        session = current_session()
        items = []
        for n, line in enumerate((form.items.data or "").splitlines(), 1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split("|")]
            try:
                kind = {
                    "income": "income",
                    "收入": "income",
                    "expense": "expense",
                    "支出": "expense",
                }[parts[0]]
                items.append(
                    {
                        "kind": kind,
                        "description": parts[1],
                        "amount": float(parts[2]),
                        "voucher": parts[3] if len(parts) > 3 else None,
                    }
                )
            except (KeyError, IndexError, ValueError):
                form.items.errors = [_("Line %(n)s is not in the form shown.", n=n)]
                break
        if not form.items.errors:
            try:
                item = sv.publish_statement(
                    session,
                    community=form.community.data,
                    period=form.period.data,
                    title=form.title.data,
                    items=items,
                    author_id=current_user.id,
                )
            except sv.GovernanceError as exc:
                fail(form, exc)
            else:
                session.commit()
                flash(_("Statement published."), "success")
                return redirect(url_for("self_governance.statement", statement_id=item.id))
    return render_template(
        "self_governance/form.html", form=form, title=_("Publish a financial statement")
    ), 400 if form.errors else 200


# ----------------------------------------------------------------------------- proposals


@bp.route("/proposals/")
def proposals():
    """Public: every proposal with its support and official answer (accountability)."""
    session = current_session()
    sv.expire_proposals(session)
    session.commit()
    rows = list(
        session.scalars(
            select(Proposal).where(Proposal.status != "draft").order_by(Proposal.created_at.desc())
        )
    )
    return render_template(
        "self_governance/proposals.html",
        proposals=rows,
        may_propose=getattr(current_user, "is_verified", False),
    )


@bp.route("/proposals/new", methods=["GET", "POST"])
@require_verified
def proposal_new():
    form = ProposalForm()
    if form.validate_on_submit():
        session = current_session()
        community = my_community()
        if community is None:
            form.form_errors.append(_("You are not a registered resident of a community."))
        else:
            try:
                item = sv.create_proposal(
                    session,
                    community=community,
                    author_id=current_user.id,
                    title=form.title.data,
                    body=form.body.data,
                    threshold=settings()["proposal_threshold"],
                    support_days=settings()["proposal_support_days"],
                )
            except sv.GovernanceError as exc:
                fail(form, exc)
            else:
                session.commit()
                flash(_("Your proposal is open for support."), "success")
                return redirect(url_for("self_governance.proposal", proposal_id=item.id))
    return render_template(
        "self_governance/form.html", form=form, title=_("Make a proposal")
    ), 400 if form.errors else 200


@bp.route("/proposals/<int:proposal_id>")
def proposal(proposal_id: int):
    """Public: the proposal, its timeline and the committee's answer."""
    session = current_session()
    item = get_or_404(Proposal, proposal_id)
    if item.status == "draft" and item.author_id != getattr(current_user, "id", None):
        abort(404)
    supported = False
    if my_person() is not None:
        from plugins.self_governance.models import Support

        supported = (
            session.scalar(
                select(Support.id).where(
                    Support.proposal_id == item.id, Support.person_id == my_person()
                )
            )
            is not None
        )
    return render_template(
        "self_governance/proposal.html",
        proposal=item,
        timeline=sv.proposal_timeline(session, item.id),
        supported=supported,
        may_support=getattr(current_user, "is_verified", False),
        may_answer=has_permission(current_user, ANSWER),
        form=ActionForm(),
        answer_form=AnswerForm(),
        progress_form=ProgressForm(),
    )


@bp.route("/proposals/<int:proposal_id>/support", methods=["POST"])
@require_verified
def support(proposal_id: int):
    session = current_session()
    item = get_or_404(Proposal, proposal_id)
    if ActionForm().validate_on_submit():
        try:
            sv.support_proposal(session, item, person_id=my_person(), community=my_community())
        except sv.GovernanceError as exc:
            flash(_(exc.message, **exc.params), "error")
        else:
            session.commit()
            flash(_("Thank you: your support is counted."), "success")
    return redirect(url_for("self_governance.proposal", proposal_id=item.id))


@bp.route("/proposals/<int:proposal_id>/answer", methods=["POST"])
@require(ANSWER)
def proposal_answer(proposal_id: int):
    session = current_session()
    item = get_or_404(Proposal, proposal_id)
    require_covers(item.community)
    form = AnswerForm()
    if form.validate_on_submit():
        try:
            sv.answer_proposal(
                session,
                kernel().bus,
                item,
                answer=form.answer.data,
                reason=form.reason.data,
                by_id=current_user.id,
            )
        except sv.GovernanceError as exc:
            flash(_(exc.message, **exc.params), "error")
        else:
            session.commit()
            flash(_("The answer is published."), "success")
    else:
        flash(_("Give the reasons."), "error")
    return redirect(url_for("self_governance.proposal", proposal_id=item.id))


@bp.route("/proposals/<int:proposal_id>/progress", methods=["POST"])
@require(ANSWER)
def proposal_progress(proposal_id: int):
    session = current_session()
    item = get_or_404(Proposal, proposal_id)
    require_covers(item.community)
    form = ProgressForm()
    if form.validate_on_submit():
        try:
            sv.update_implementation(
                session,
                item,
                status=form.status.data,
                note=form.note.data or "",
                by_id=current_user.id,
            )
        except sv.GovernanceError as exc:
            flash(_(exc.message, **exc.params), "error")
        else:
            session.commit()
            flash(_("Progress recorded."), "success")
    return redirect(url_for("self_governance.proposal", proposal_id=item.id))


# ----------------------------------------------------------------------------- votes


@bp.route("/votes/")
def votes():
    """Public: votes and, once counted, their results."""
    session = current_session()
    sv.close_due_votes(session, kernel(), kernel().bus)
    session.commit()
    rows = list(session.scalars(select(Vote).order_by(Vote.closes_at.desc()).limit(100)))
    mine = {}
    if my_person() is not None:  # the resident's own state on each open vote
        mine = {
            v.id: sv.voter_status(session, kernel(), v, my_person())
            for v in rows
            if sv.vote_state(v) == "open"
        }
    return render_template(
        "self_governance/votes.html",
        votes=rows,
        mine=mine,
        state=sv.vote_state,
        may_manage=has_permission(current_user, MANAGE_VOTES),
    )


@bp.route("/votes/<int:vote_id>")
def vote(vote_id: int):
    """Public: the question and rules; the ballot for an eligible verified resident;
    the result after the close (counted on the way if nobody has yet)."""
    session = current_session()
    item = get_or_404(Vote, vote_id)
    if sv.vote_state(item) == "due":
        try:
            sv.close_vote(session, kernel(), kernel().bus, item)
        except sv.GovernanceError as exc:  # a box that cannot be opened: nothing written
            session.rollback()
            return _vote_page(session, item, ActionForm(), 409, _(exc.message, **exc.params))
        session.commit()
    return _vote_page(session, item, ActionForm())


def _vote_page(
    session: Any, item: Vote, form: FlaskForm, status: int = 200, error: str | None = None
) -> Any:
    me = None
    if current_user.is_authenticated:
        me = sv.voter_status(session, kernel(), item, my_person())
    return render_template(
        "self_governance/vote.html",
        vote=item,
        options=sv.vote_options(session, item.id),
        state=sv.vote_state(item),
        me=me,
        form=form,
        error=error,
        assisted=assisted(),
        may_manage=has_permission(current_user, MANAGE_VOTES) and covers(item.community),
    ), status


@bp.route("/votes/<int:vote_id>/ballot", methods=["POST"])
@require_personal(CAST)
def ballot(vote_id: int):
    """Cast a ballot: a personal act, never in the assisted channel (403)."""
    session = current_session()
    item = get_or_404(Vote, vote_id)
    form = ActionForm()
    if not form.validate_on_submit():
        return _vote_page(session, item, form, 400)
    try:
        sv.cast_ballot(
            session,
            kernel(),
            item,
            person_id=my_person(),
            user_id=current_user.id,
            selection=request.form.getlist("choice"),
        )
        session.commit()
    except sv.AlreadyVoted as exc:
        session.rollback()
        return _vote_page(session, item, form, 409, _(exc.message, **exc.params))
    except IntegrityError:
        session.rollback()
        return _vote_page(
            session, item, form, 409, _("A vote has already been cast for you (or your household).")
        )
    except sv.GovernanceError as exc:
        return _vote_page(session, item, form, 400, _(exc.message, **exc.params))
    flash(_("Your vote is recorded. Thank you."), "success")
    return redirect(url_for("self_governance.vote", vote_id=item.id))


@bp.route("/votes/<int:vote_id>/close", methods=["POST"])
@require(MANAGE_VOTES)
def vote_close(vote_id: int):
    session = current_session()
    item = get_or_404(Vote, vote_id)
    require_covers(item.community)
    if ActionForm().validate_on_submit():
        try:
            sv.close_vote(session, kernel(), kernel().bus, item)
        except sv.GovernanceError as exc:
            session.rollback()
            flash(_(exc.message, **exc.params), "error")
        else:
            session.commit()
            flash(_("The vote is counted."), "success")
    return redirect(url_for("self_governance.vote", vote_id=item.id))


@bp.route("/votes/<int:vote_id>/roll")
@require(MANAGE_VOTES)
def vote_roll(vote_id: int):
    """The committee's view of who has voted (never what: a secret vote's roll holds no
    choice). Names come through the scoped reader under the member's own place scope,
    and each person shown gets an entry in their access log."""
    session = current_session()
    item = get_or_404(Vote, vote_id)
    require_covers(item.community)
    rows = sv.vote_roll(session, kernel(), item, actor=current_principal())
    session.commit()  # the access-log entries
    return render_template(
        "self_governance/roll.html", vote=item, rows=rows, state=sv.vote_state(item)
    )


@bp.route("/votes/new", methods=["GET", "POST"])
@require(MANAGE_VOTES)
def vote_new():
    form = VoteForm()
    if request.method == "GET":
        now = utcnow().replace(second=0, microsecond=0, tzinfo=None)
        form.opens_at.data = now
        form.closes_at.data = now + timedelta(days=7)
        form.community.data = my_community() or ""
    if form.validate_on_submit() and not covers(form.community.data):
        form.community.errors.append(_("You do not act for this community."))
    elif form.validate_on_submit():
        session = current_session()
        try:
            item = sv.create_vote(
                session,
                community=form.community.data,
                title=form.title.data,
                description=form.description.data or "",
                kind=form.kind.data,
                electorate=form.electorate.data,
                quorum=form.quorum.data,
                pass_rule=form.pass_rule.data,
                secret=form.secret.data,
                opens_at=form.opens_at.data,
                closes_at=form.closes_at.data,
                candidates=(form.candidates.data or "").splitlines(),
                seats=form.seats.data or 1,
                created_by_id=current_user.id,
            )
        except sv.GovernanceError as exc:
            fail(form, exc)
        else:
            session.commit()
            flash(_("The vote is set up."), "success")
            return redirect(url_for("self_governance.vote", vote_id=item.id))
    return render_template(
        "self_governance/form.html", form=form, title=_("Set up a vote")
    ), 400 if form.errors else 200


# ----------------------------------------------------------------------------- forum


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
            flash(_(exc.message, **exc.params), "error")
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


# ----------------------------------------------------------------------------- evaluation


@bp.route("/evaluation/")
def evaluation():
    """Public: yearly democratic evaluation; results (aggregates only) after the close
    (the sealed sheets of a closed round are opened on the way)."""
    session = current_session()
    if sv.open_due_rounds(session, kernel()):
        session.commit()
    rounds = list(session.scalars(select(EvaluationRound).order_by(EvaluationRound.year.desc())))
    data = []
    for rnd in rounds:
        members = list(
            session.scalars(
                select(EvaluationMember)
                .where(EvaluationMember.round_id == rnd.id)
                .order_by(EvaluationMember.id)
            )
        )
        closed = sv.aware(rnd.closes_at) <= utcnow()
        data.append(
            {
                "round": rnd,
                "members": members,
                "closed": closed,
                "results": sv.evaluation_results(session, rnd) if closed else None,
                "rated": sv.has_rated(session, rnd, my_person()),
            }
        )
    return render_template(
        "self_governance/evaluation.html",
        rounds=data,
        form=ActionForm(),
        grades=sv.GRADES,
        may_rate=getattr(current_user, "is_verified", False) and not assisted(),
        assisted=assisted(),
    )


@bp.route("/evaluation/<int:round_id>/rate", methods=["POST"])
@require_personal(RATE)
def rate(round_id: int):
    """Rate the committee: a personal act, never in the assisted channel (403)."""
    session = current_session()
    rnd = get_or_404(EvaluationRound, round_id)
    if ActionForm().validate_on_submit():
        grades = {}
        for key, value in request.form.items():
            if key.startswith("m"):
                try:
                    grades[int(key[1:])] = value
                except ValueError:
                    continue
        try:
            sv.submit_ratings(
                session,
                rnd,
                person_id=my_person(),
                community=my_community(),
                grades=grades,
                kernel=kernel(),
            )
        except sv.GovernanceError as exc:
            flash(_(exc.message, **exc.params), "error")
        else:
            session.commit()
            flash(_("Thank you: your ratings are recorded anonymously."), "success")
    return redirect(url_for("self_governance.evaluation"))


# ----------------------------------------------------------------------------- supervision


@bp.route("/supervision/")
def supervision():
    """Public: the committee's record in one place (self-supervision)."""
    session = current_session()
    if sv.open_due_rounds(session, kernel()):
        session.commit()
    return render_template("self_governance/supervision.html", data=sv.supervision(session, None))


@bp.route("/committee/")
@require(PUBLISH)
def committee():
    session = current_session()
    agenda = list(session.scalars(select(Proposal).where(Proposal.status == "agenda")))
    questions = list(session.scalars(select(Question).where(Question.answer.is_(None))))
    return render_template(
        "self_governance/committee.html",
        agenda=agenda,
        questions=questions,
        queue=sv.moderation_queue(session),
    )
