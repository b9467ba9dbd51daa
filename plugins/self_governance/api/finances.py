"""Financial disclosure: statements as published (public, with their lines, totals and
the residents' questions, each with its due day and whether it was answered on time),
publishing a statement (the committee, for its own communities), asking (a verified
resident), the committee's list of open questions and its answer."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user
from sqlalchemy import select

from core.toolkit import current_session, endpoint, require_verified
from plugins.self_governance import ANSWER, PUBLISH
from plugins.self_governance import services as sv
from plugins.self_governance.api.common import acts_for, blp, conflict, covered, get, kernel
from plugins.self_governance.models import LineItem, Question, Statement
from plugins.self_governance.schemas import (
    SgQuestion,
    SgQuestionAnswerIn,
    SgQuestionIn,
    SgStatement,
    SgStatementIn,
    SgStatementOne,
)


def question_out(question: Question, community: str | None) -> dict[str, Any]:
    k = kernel()
    return {
        **{c: getattr(question, c) for c in (
            "id", "statement_id", "text", "asked_at", "answer", "answered_at")},
        "community": community,
        "due_on": question.due_on or sv.question_due(k, question.asked_at),
        "state": sv.question_state(k, question),
    }


def statement_out(session: Any, item: Statement, *, full: bool = False) -> dict[str, Any]:
    zone = sv.local_zone(kernel())
    out = {
        **{c: getattr(item, c) for c in (
            "id", "community", "period", "title", "due_on", "published_at")},
        "on_time": item.due_on is None
        or sv.aware(item.published_at).astimezone(zone).date() <= item.due_on,
        "totals": sv.statement_totals(session, item),
    }
    if full:
        out["lines"] = list(session.scalars(
            select(LineItem).where(LineItem.statement_id == item.id)
            .order_by(LineItem.kind.desc(), LineItem.id)))
        out["questions"] = [question_out(q, item.community) for q in session.scalars(
            select(Question).where(Question.statement_id == item.id).order_by(Question.id))]
    return out


@blp.route("/statements")
class Statements(MethodView):
    @endpoint(blp)
    @blp.response(200, SgStatement(many=True))
    def get(self):
        """Financial statements, latest period first (public: 财务公开), each with its
        totals and whether it came out by its due day (in ``app.timezone``)."""
        session = current_session()
        rows = session.scalars(select(Statement).order_by(Statement.period.desc()).limit(200))
        return [statement_out(session, s) for s in rows]

    @endpoint(
        blp,
        PUBLISH,
        errors=(409, 422),
        descriptions={
            403: f"Lacks {PUBLISH}, or not for that community",
            409: "A statement for this community and period exists already",
        },
    )
    @blp.arguments(SgStatementIn)
    @blp.response(201, SgStatementOne)
    def post(self, data):
        """Publish a period's statement with its income and expense lines."""
        session = current_session()
        acts_for(data["community"])
        try:
            item = sv.publish_statement(session, author_id=current_user.id, **data)
        except sv.GovernanceError as exc:
            session.rollback()
            conflict(exc)
        session.commit()
        return statement_out(session, item, full=True)


@blp.route("/statements/<int:statement_id>")
class StatementOne(MethodView):
    @endpoint(blp, errors=(404,), descriptions={404: "No such statement"})
    @blp.response(200, SgStatementOne)
    def get(self, statement_id: int):
        """A statement with its lines, totals and the residents' questions and answers
        (questions name no asker)."""
        session = current_session()
        return statement_out(session, get(Statement, statement_id), full=True)


@blp.route("/statements/<int:statement_id>/questions")
class StatementQuestions(MethodView):
    @endpoint(blp, require_verified, errors=(404, 422), descriptions={
        403: "Not a verified resident", 404: "No such statement"})
    @blp.arguments(SgQuestionIn)
    @blp.response(201, SgQuestion)
    def post(self, data, statement_id: int):
        """Ask the committee about a statement; the answer is due within
        ``question_answer_days`` working days."""
        session = current_session()
        item = get(Statement, statement_id)
        try:
            question = sv.ask_question(session, item, asker_id=current_user.id,
                                       text=data["text"], kernel=kernel())
        except sv.GovernanceError as exc:
            conflict(exc)
        session.commit()
        return question_out(question, item.community)


@blp.route("/questions")
class OpenQuestions(MethodView):
    @endpoint(blp, ANSWER)
    @blp.response(200, SgQuestion(many=True))
    def get(self):
        """Questions awaiting the committee's answer on statements of the member's own
        communities, oldest first, with their due days (overdue ones say so)."""
        session = current_session()
        rows = sv.open_questions(session, lambda c: sv.acts_for(current_user, c))
        communities = dict(session.execute(select(Statement.id, Statement.community).where(
            Statement.id.in_({q.statement_id for q in rows}))).all()) if rows else {}
        return [question_out(q, communities.get(q.statement_id)) for q in rows]


@blp.route("/questions/<int:question_id>/answer")
class QuestionAnswer(MethodView):
    @endpoint(blp, ANSWER, errors=(404, 409, 422), descriptions={
        404: "No such question in your communities", 409: "Answered already"})
    @blp.arguments(SgQuestionAnswerIn)
    @blp.response(200, SgQuestion)
    def post(self, data, question_id: int):
        """Publish the committee's answer to a resident's question (once)."""
        session = current_session()
        question = get(Question, question_id)
        statement = get(Statement, question.statement_id)
        covered(statement.community)
        try:
            sv.answer_question(session, question, by_id=current_user.id, answer=data["answer"])
        except sv.GovernanceError as exc:
            conflict(exc)
        session.commit()
        return question_out(question, statement.community)
