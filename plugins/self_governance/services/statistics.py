"""The numbers people would rather look at than read: participation per month (forum
posts and proposals), turnout per counted vote, and residents' questions answered on time
or late. Counted in Python over one column each, so months are months in
``app.timezone`` (a post at 23:30 UTC on the 31st belongs to the next month in Beijing),
the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.toolkit import utcnow
from plugins.self_governance.models import Post, Proposal, Question, Statement, Vote
from plugins.self_governance.services.common import aware
from plugins.self_governance.services.finances import local_zone, question_state

#: Months shown in the participation chart.
MONTHS = 12
#: Counted votes shown in the turnout chart, latest first.
VOTES = 12


def _months(now: datetime, tz: tzinfo, n: int) -> list[str]:
    local = aware(now).astimezone(tz)
    year, month = local.year, local.month
    out = []
    for _ in range(n):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(out))


def participation(
    session: Session, *, tz: tzinfo, community: str | None = None, months: int = MONTHS,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """``[{month: "YYYY-MM", posts, proposals}]`` for the last ``months`` local months,
    oldest first. Forum posts belong to no community (the forum is the district's), so
    ``community`` narrows the proposals only."""
    keys = _months(now or utcnow(), tz, months)
    counts = {k: {"month": k, "posts": 0, "proposals": 0} for k in keys}
    first_local = datetime.fromisoformat(f"{keys[0]}-01").replace(tzinfo=tz)
    since = first_local.astimezone(UTC)

    def add(rows: Any, what: str) -> None:
        for (at,) in rows:
            key = aware(at).astimezone(tz).strftime("%Y-%m")
            if key in counts:
                counts[key][what] += 1

    add(session.execute(select(Post.created_at).where(Post.created_at >= since)), "posts")
    props = select(Proposal.created_at).where(
        Proposal.created_at >= since, Proposal.status != "draft"
    )
    if community:
        props = props.where(Proposal.community == community)
    add(session.execute(props), "proposals")
    return [counts[k] for k in keys]


def turnout(
    session: Session, *, community: str | None = None, limit: int = VOTES
) -> list[dict[str, Any]]:
    """The counted votes, latest close first: turnout of the electorate frozen at the
    opening (from the stored result, never recounted here)."""
    query = select(Vote).where(Vote.closed_at.is_not(None)).order_by(
        Vote.closes_at.desc(), Vote.id.desc()
    )
    if community:
        query = query.where(Vote.community == community)
    out = []
    for vote in session.scalars(query.limit(limit)):
        result = vote.result or {}
        out.append({
            "vote_id": vote.id,
            "title": vote.title,
            "community": vote.community,
            "closes_at": vote.closes_at,
            "turnout": int(result.get("turnout") or 0),
            "electorate": int(result.get("electorate") or 0),
            "turnout_pct": float(result.get("turnout_pct") or 0.0),
        })
    return out


def question_timeliness(
    session: Session, kernel: Any, *, community: str | None = None
) -> dict[str, int]:
    """Residents' questions on statements by :func:`question_state`: answered on time,
    answered late, still open in time, overdue."""
    query = select(Question).join(Statement, Statement.id == Question.statement_id)
    if community:
        query = query.where(Statement.community == community)
    counts = {"on_time": 0, "late": 0, "open": 0, "overdue": 0}
    today = utcnow().astimezone(local_zone(kernel)).date()
    for question in session.scalars(query):
        counts[question_state(kernel, question, today)] += 1
    return counts


def statistics(session: Session, kernel: Any, *, community: str | None = None) -> dict[str, Any]:
    """Everything the statistics page and ``GET /statistics`` show."""
    tz = local_zone(kernel)
    return {
        "community": community,
        "participation": participation(session, tz=tz, community=community),
        "turnout": turnout(session, community=community),
        "questions": question_timeliness(session, kernel, community=community),
    }
