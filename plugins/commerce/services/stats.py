"""The hotline's statistics: tickets by category, state and rating, and the average
response and completion times, for the regulator's page and the API."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.toolkit import utcnow
from plugins.commerce.models import Ticket
from plugins.commerce.services.common import CATEGORIES, STATES
from plugins.commerce.services.queries import tickets_query


def hours_between(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return (b - a).total_seconds() / 3600


@dataclass
class Stats:
    total: int
    by_category: list[tuple[str, int]]
    by_state: list[tuple[str, int]]
    ratings: list[tuple[str, int]]
    avg_response_hours: float | None
    avg_completion_hours: float | None
    avg_rating: float | None
    overdue: int
    #: (category, average hours to accept, to complete, average rating) per category.
    by_category_times: list[tuple[str, float | None, float | None, float | None]]


def _avg(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def statistics(session: Session, now: datetime | None = None) -> Stats:
    """Tickets by category and state, response and completion times, satisfaction."""
    now = now or utcnow()
    by_cat = Counter()
    by_state = Counter()
    ratings: Counter = Counter()
    resp, comp = [], []
    per_cat: dict[str, tuple[list, list, list]] = defaultdict(lambda: ([], [], []))
    rows = session.execute(
        select(
            Ticket.category,
            Ticket.state,
            Ticket.created_at,
            Ticket.accepted_at,
            Ticket.completed_at,
            Ticket.rating,
        )
    )
    total = 0
    for cat, state, created, accepted, completed, rating in rows:
        total += 1
        by_cat[cat or "other"] += 1
        by_state[state] += 1
        cat_resp, cat_comp, cat_rating = per_cat[cat or "other"]
        if rating:
            ratings[str(rating)] += 1
            cat_rating.append(rating)
        r = hours_between(created, accepted)
        if r is not None:
            resp.append(r)
            cat_resp.append(r)
        c = hours_between(created, completed)
        if c is not None:
            comp.append(c)
            cat_comp.append(c)
    rated = sum(ratings.values())
    overdue = (
        session.scalar(
            select(func.count()).select_from(
                tickets_query(overdue=True, now=now).order_by(None).subquery()
            )
        )
        or 0
    )
    return Stats(
        total=total,
        by_category=[(k, by_cat.get(k, 0)) for k in CATEGORIES if by_cat.get(k)],
        by_state=[(k, by_state.get(k, 0)) for k in STATES if by_state.get(k)],
        ratings=[(str(k), ratings.get(str(k), 0)) for k in range(5, 0, -1)],
        avg_response_hours=round(sum(resp) / len(resp), 2) if resp else None,
        avg_completion_hours=round(sum(comp) / len(comp), 2) if comp else None,
        avg_rating=round(sum(int(k) * n for k, n in ratings.items()) / rated, 2) if rated else None,
        overdue=overdue,
        by_category_times=[
            (k, _avg(per_cat[k][0]), _avg(per_cat[k][1]), _avg(per_cat[k][2]))
            for k in CATEGORIES
            if k in per_cat
        ],
    )
