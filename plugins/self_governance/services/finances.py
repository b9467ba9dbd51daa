"""Financial disclosure: a period's statement with its line items, when it is due, and
residents' questions on it with the committee's answers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import core.toolkit as toolkit
from core.toolkit import N_, local_today, local_zone, utcnow
from plugins.self_governance.models import (
    LineItem,
    Question,
    Statement,
)
from plugins.self_governance.services.common import PLUGIN, GovernanceError, aware

#: A statement's period: a month of a year the calendar can count from and to (year 0
#: and 9999-12 would make the due day, a month later, an impossible date).
_MONTH = r"(19|2\d)\d{2}-(0[1-9]|1[0-2])"
PERIOD = rf"^{_MONTH}$"


def publish_statement(
    session: Session,
    *,
    community: str,
    period: str,
    title: str,
    items: Iterable[dict[str, Any]],
    author_id: int | None = None,
) -> Statement:
    """A period's statement with its line items (income and expense; each may name its
    voucher). One statement per community and period."""
    if not re.fullmatch(_MONTH, period or ""):
        raise GovernanceError(N_("Give the period as YYYY-MM."), "period")
    if session.scalar(
        select(Statement.id).where(Statement.community == community, Statement.period == period)
    ):
        raise GovernanceError(N_("A statement for this period exists already."), "period")
    statement = Statement(
        community=community,
        period=period,
        title=(title.strip() or period)[:200],
        author_id=author_id,
        due_on=disclosure_due(period),
    )
    session.add(statement)
    session.flush()
    for item in items:
        if item.get("kind") not in ("income", "expense"):
            raise GovernanceError(N_("A line is income or expense."), "items")
        amount = round(float(item["amount"]), 2)
        if not 0 <= amount < 1e11:
            raise GovernanceError(N_("An amount is between 0 and 100 billion yuan."), "items")
        session.add(
            LineItem(
                statement_id=statement.id,
                kind=item["kind"],
                description=str(item.get("description", ""))[:200],
                amount=amount,
                voucher=(item.get("voucher") or "")[:120] or None,
            )
        )
    session.flush()
    return statement


#: Monthly finances are due on this day of the following month (a local rule; villages
#: publish finances monthly when busy, docs/requirements.md, domain §5).
DISCLOSURE_DAY = 15


def disclosure_due(period: str) -> date:
    """When a period's statement is due: ``DISCLOSURE_DAY`` of the following month."""
    year, month = (int(x) for x in period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(year, month, DISCLOSURE_DAY)


def statement_totals(session: Session, statement: Statement) -> dict[str, float]:
    rows = session.execute(
        select(LineItem.kind, func.sum(LineItem.amount))
        .where(LineItem.statement_id == statement.id)
        .group_by(LineItem.kind)
    )
    totals = {"income": 0.0, "expense": 0.0}
    totals.update({k: float(v or 0) for k, v in rows})
    totals["balance"] = round(totals["income"] - totals["expense"], 2)
    return totals


def ask_question(
    session: Session, statement: Statement, *, asker_id: int, text: str, kernel: Any = None
) -> Question:
    """A resident's question on a statement, with the day the answer is due
    (:func:`question_due`, when a ``kernel`` gives the calendar and the setting)."""
    text = (text or "").strip()
    if not text:
        raise GovernanceError(N_("Enter your question."), "text")
    now = utcnow()
    question = Question(
        statement_id=statement.id,
        asker_id=asker_id,
        text=text[:2000],
        asked_at=now,
        due_on=question_due(kernel, now) if kernel is not None else None,
    )
    session.add(question)
    session.flush()
    return question


#: Working days the committee has to answer a resident's question on a statement, when
#: ``[plugins.self_governance] question_answer_days`` does not say.
ANSWER_DAYS = 10

# Deadlines are days where the community is (``app.timezone``), not in UTC: the toolkit's
# ``local_zone(kernel)`` (imported above), re-exported by ``services`` for the pages.

def question_due(kernel: Any, asked_at: datetime) -> date:
    """The day a question asked at ``asked_at`` must be answered by: ``question_answer_days``
    working days (the deployment's one working calendar, so it agrees with every other
    plugin's deadlines) after the local day it was asked."""
    days = int((kernel.plugins.settings(PLUGIN) or {}).get("question_answer_days", ANSWER_DAYS))
    asked = aware(asked_at).astimezone(local_zone(kernel)).date()
    return toolkit.working_calendar(kernel=kernel).add(asked, days)


def question_state(kernel: Any, question: Question, today: date | None = None) -> str:
    """``on_time`` / ``late`` (answered by the due day or after it, both read in
    ``app.timezone``), ``open`` (not answered, still in time) or ``overdue``."""
    zone = local_zone(kernel)
    due = question.due_on or question_due(kernel, question.asked_at)
    if question.answered_at is not None:
        answered = aware(question.answered_at).astimezone(zone).date()
        return "on_time" if answered <= due else "late"
    today = today or local_today(kernel=kernel)
    return "open" if today <= due else "overdue"


def open_questions(session: Session, communities: Any = None) -> list[Question]:
    """Unanswered questions, oldest first; ``communities(code) -> bool`` keeps those on
    statements of the communities a member acts for (None: every one)."""
    rows = session.execute(
        select(Question, Statement.community)
        .join(Statement, Statement.id == Question.statement_id)
        .where(Question.answer.is_(None))
        .order_by(Question.asked_at, Question.id)
    ).all()
    return [q for q, community in rows if communities is None or communities(community)]


def answer_question(session: Session, question: Question, *, by_id: int, answer: str) -> Question:
    """The committee's published answer. Once given it stands (the answer and its time
    are the record the residents and the on-time count rely on)."""
    if question.answer is not None:
        raise GovernanceError(N_("This question is answered already."), "answer", status=409)
    answer = (answer or "").strip()
    if not answer:
        raise GovernanceError(N_("Enter the answer."), "answer")
    question.answer, question.answered_by_id, question.answered_at = answer, by_id, utcnow()
    session.flush()
    return question


def unanswered_questions(session: Session) -> int:
    return (
        session.scalar(select(func.count()).select_from(Question).where(Question.answer.is_(None)))
        or 0
    )
