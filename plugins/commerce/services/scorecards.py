"""Merchants' scorecards: the average rating, on-time rate and load that rank
merchants for dispatch and flag those the regulator should review. One query for many
merchants, since the directory and dispatch rank them all at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from plugins.commerce.models import Complaint, Ticket
from plugins.commerce.services.common import DONE_STATES, LOAD_STATES, _settings


@dataclass
class Scorecard:
    merchant_id: int
    completed: int = 0
    rated: int = 0
    avg_rating: float | None = None
    on_time_rate: float | None = None
    complaint_rate: float | None = None
    complaints: int = 0
    load: int = 0
    score: float = 0.0
    flagged: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def scorecards(
    session: Session, merchant_ids: list[int], settings: dict[str, Any] | None = None
) -> dict[int, Scorecard]:
    """Completed tickets, average rating, on-time rate (completed by the SLA's due time),
    complaint rate (complaints per ticket taken), current load, the ranking score and the
    review flag, for several merchants in four grouped queries.

    Score: the average rating (``default_score`` until there is one) minus two points per
    complaint per ticket taken. Flagged for review below ``review_score`` once it rests on
    ``review_min_ratings`` ratings, or with a complaint rate above 20 %."""
    cfg = _settings(settings)
    cards = {mid: Scorecard(merchant_id=mid) for mid in merchant_ids}
    if not cards:
        return cards
    ids = list(cards)
    done = session.execute(
        select(
            Ticket.merchant_id,
            func.count(),
            func.sum(case((Ticket.completed_at <= Ticket.completion_due, 1), else_=0)),
            func.count(Ticket.rating),
            func.avg(Ticket.rating),
        )
        .where(Ticket.merchant_id.in_(ids), Ticket.state.in_(DONE_STATES))
        .group_by(Ticket.merchant_id)
    )
    for mid, n, on_time, rated, avg in done:
        card = cards[mid]
        card.completed, card.rated = n, rated
        card.on_time_rate = (on_time or 0) / n if n else None
        card.avg_rating = round(float(avg), 2) if avg is not None else None
    taken = dict(
        session.execute(
            select(Ticket.merchant_id, func.count())
            .where(
                Ticket.merchant_id.in_(ids),
                Ticket.state.in_(("accepted", "in_progress", *DONE_STATES)),
            )
            .group_by(Ticket.merchant_id)
        ).all()
    )
    load = dict(
        session.execute(
            select(Ticket.merchant_id, func.count())
            .where(Ticket.merchant_id.in_(ids), Ticket.state.in_(LOAD_STATES))
            .group_by(Ticket.merchant_id)
        ).all()
    )
    complaints = dict(
        session.execute(
            select(Complaint.merchant_id, func.count())
            .where(Complaint.merchant_id.in_(ids))
            .group_by(Complaint.merchant_id)
        ).all()
    )
    for mid, card in cards.items():
        card.load = load.get(mid, 0)
        card.complaints = complaints.get(mid, 0)
        n = taken.get(mid, 0)
        card.complaint_rate = card.complaints / n if n else None
        base = card.avg_rating if card.avg_rating is not None else float(cfg["default_score"])
        card.score = round(base - 2 * (card.complaint_rate or 0.0), 2)
        card.flagged = bool(
            (
                card.rated >= int(cfg["review_min_ratings"])
                and card.score < float(cfg["review_score"])
            )
            or (card.complaint_rate is not None and n >= 3 and card.complaint_rate > 0.2)
        )
    return cards


def scorecard(
    session: Session, merchant_id: int, settings: dict[str, Any] | None = None
) -> Scorecard:
    return scorecards(session, [merchant_id], settings)[merchant_id]
