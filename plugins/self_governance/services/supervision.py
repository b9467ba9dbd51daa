"""The committee's record in one place, from the proposals, the statements and the
evaluations."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.toolkit import utcnow
from plugins.self_governance.models import (
    EvaluationRound,
    Proposal,
    Statement,
)
from plugins.self_governance.services.common import aware
from plugins.self_governance.services.evaluation import evaluation_results
from plugins.self_governance.services.finances import unanswered_questions


def supervision(session: Session, community: str | None, *, tz: tzinfo = UTC,
                now: datetime | None = None) -> dict[str, Any]:
    """The committee's record in one place. A statement is on time when it was published
    by its due day in ``tz`` (the deployment's ``app.timezone``): one published at 23:30
    UTC on the 15th went out on the 16th in Beijing, a day late."""
    now = now or utcnow()
    props = select(Proposal)
    if community:
        props = props.where(Proposal.community == community)
    proposals = list(session.scalars(props))
    due = [p for p in proposals if p.status in ("agenda", "answered")]
    statements = list(session.scalars(select(Statement).order_by(Statement.period.desc())))
    on_time = [
        s for s in statements
        if s.due_on is None or aware(s.published_at).astimezone(tz).date() <= s.due_on
    ]
    rounds = list(session.scalars(select(EvaluationRound).order_by(EvaluationRound.year.desc())))
    return {
        "proposals_due": len(due),
        "proposals_answered": sum(1 for p in proposals if p.status == "answered"),
        "accepted": sum(1 for p in proposals if p.answer == "accepted"),
        "implemented": sum(1 for p in proposals if p.implementation == "done"),
        "statements": len(statements),
        "statements_on_time": len(on_time),
        "questions_open": unanswered_questions(session),
        "evaluations": [
            (r, evaluation_results(session, r)) for r in rounds if aware(r.closes_at) <= now
        ],
    }
