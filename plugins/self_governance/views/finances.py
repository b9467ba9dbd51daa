"""Financial disclosure pages: statements (public), residents' questions and the
committee's answers, and the form for a period's statement."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from core.toolkit import (
    current_session,
    has_permission,
    require,
    require_verified,
)
from plugins.self_governance import ANSWER, PUBLISH
from plugins.self_governance import services as sv
from plugins.self_governance.models import (
    Question,
    Statement,
)
from plugins.self_governance.views.common import (
    bp,
    community_choices,
    covers,
    fail,
    get_or_404,
    kernel,
    require_covers,
)
from plugins.self_governance.views.forms import (
    AnswerQuestionForm,
    QuestionForm,
    StatementForm,
)


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
        due={q.id: (q.due_on or sv.question_due(kernel(), q.asked_at),
                    sv.question_state(kernel(), q)) for q in questions},
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
            sv.ask_question(session, item, asker_id=current_user.id, text=form.text.data,
                            kernel=kernel())
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
        try:
            sv.answer_question(session, question, by_id=current_user.id,
                               answer=form.answer.data)
        except sv.GovernanceError as exc:
            flash(exc.text(), "error")
        else:
            session.commit()
            flash(_("Answer published."), "success")
    else:
        flash(_("Enter the answer."), "error")
    return redirect(url_for("self_governance.statement", statement_id=question.statement_id))


@bp.route("/finances/new", methods=["GET", "POST"])
@require(PUBLISH)
def statement_new():
    form = StatementForm()
    form.community.choices = community_choices()
    if not form.community.choices:
        form.community.description = _("You act for no community yet: ask an "
                                       "administrator to assign you one.")
    if not form.community.choices and request.method == "POST":
        form.community.errors = [_("Community: you act for no community yet. Ask an "
                                   "administrator to assign you one.")]
    elif form.validate_on_submit() and not covers(form.community.data):
        form.community.errors = [_("Community: choose one of the communities listed.")]
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
                form.items.errors = [_(
                    "Lines: line %(n)s is not in the form shown. Write income or expense, "
                    "the description, the amount in yuan and the voucher, separated by |, "
                    "such as: expense | Stairwell lamps | 3560.50 | 2026-10-07.", n=n)]
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
