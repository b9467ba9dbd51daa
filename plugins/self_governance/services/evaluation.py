"""The residents' yearly evaluation of the committee: one sealed rating sheet per
resident, opened (like a ballot box) only after the round closes, and the aggregates."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import core.toolkit as toolkit
from core.toolkit import N_, utcnow
from plugins.self_governance import sealing
from plugins.self_governance.models import (
    EvaluationMember,
    EvaluationRoll,
    EvaluationRound,
    Rating,
    SealedRating,
    random_key,
)
from plugins.self_governance.services.common import GovernanceError, aware, log
from plugins.self_governance.services.scrubbing import _scrub_on_commit

GRADES = ("competent", "basic", "incompetent")


def create_round(
    session: Session, *, community: str, year: int, members: Iterable[tuple], closes_at: datetime
) -> EvaluationRound:
    if session.scalar(
        select(EvaluationRound.id).where(
            EvaluationRound.community == community, EvaluationRound.year == year
        )
    ):
        raise GovernanceError(N_("This year's evaluation exists already."), "year")
    rnd = EvaluationRound(community=community, year=year, closes_at=aware(closes_at))
    session.add(rnd)
    session.flush()
    for name, post in members:
        session.add(EvaluationMember(round_id=rnd.id, name=name, post=post))
    session.flush()
    return rnd


def submit_ratings(
    session: Session,
    rnd: EvaluationRound,
    *,
    person_id: int | None,
    community: str | None,
    grades: dict[int, str],
    kernel: Any = None,
) -> None:
    """One rating sheet per resident; the grades carry no rater (like a secret ballot)
    and, until the round closes, are stored only sealed (:func:`open_due_rounds`)."""
    if person_id is None or community != rnd.community:
        raise GovernanceError(N_("Only residents of the community can take part."), "grades")
    if utcnow() >= aware(rnd.closes_at):
        raise GovernanceError(N_("This evaluation has closed."), "grades")
    members = {
        m.id
        for m in session.scalars(
            select(EvaluationMember).where(EvaluationMember.round_id == rnd.id)
        )
    }
    if set(grades) != members or not all(g in GRADES for g in grades.values()):
        raise GovernanceError(N_("Rate every member."), "grades")
    sheet = {str(m): GRADES.index(g) for m, g in sorted(grades.items())}
    box = sealing.seal(kernel or toolkit.current_kernel(), "rating", rnd.id, sheet)
    try:
        with session.begin_nested():
            session.add(EvaluationRoll(round_id=rnd.id, person_id=person_id))
            session.add(SealedRating(round_id=rnd.id, box=box))
    except IntegrityError:
        raise GovernanceError(N_("You have taken part already."), "grades") from None


def open_due_rounds(session: Session, kernel: Any, now: datetime | None = None) -> list[int]:
    """Open the sealed rating sheets of every round past its close: each sheet becomes
    one :class:`Rating` per member, all written in one transaction in random order with
    random keys, and the sheets deleted (as :func:`close_vote` does for ballots). A round
    whose sheets cannot be opened (secret key changed) is skipped and logged."""
    now = now or utcnow()
    due = session.scalars(
        select(EvaluationRound)
        .where(
            EvaluationRound.closes_at <= now,
            select(SealedRating.id).where(SealedRating.round_id == EvaluationRound.id).exists(),
        )
        .with_for_update(skip_locked=True)
    ).all()
    opened = []
    for rnd in due:
        open_box = sealing.opener(kernel, "rating", rnd.id)
        ratings = []
        try:
            for (box,) in session.execute(
                select(SealedRating.box).where(SealedRating.round_id == rnd.id)
            ):
                sheet = open_box(box)
                ratings += [(int(m), GRADES[int(g)]) for m, g in sheet.items()]
        except (sealing.SealError, IndexError, TypeError, ValueError, AttributeError):
            log.error("evaluation %s: a sealed sheet cannot be opened (secret key?)", rnd.id)
            continue
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("PRAGMA secure_delete = ON"))
        session.execute(delete(SealedRating).where(SealedRating.round_id == rnd.id))
        fresh = [Rating(id=random_key(), member_id=m, grade=g) for m, g in ratings]
        random.SystemRandom().shuffle(fresh)
        session.add_all(sorted(fresh, key=lambda r: r.id))
        session.flush()
        _scrub_on_commit(session, ("self_governance_sealed_rating", "self_governance_rating"))
        opened.append(rnd.id)
    return opened


def evaluation_results(session: Session, rnd: EvaluationRound) -> list[dict[str, Any]]:
    """Aggregates per member (counts of each grade and the share rated competent)."""
    out = []
    for member in session.scalars(
        select(EvaluationMember)
        .where(EvaluationMember.round_id == rnd.id)
        .order_by(EvaluationMember.id)
    ):
        counts = {g: 0 for g in GRADES}
        for grade, n in session.execute(
            select(Rating.grade, func.count())
            .where(Rating.member_id == member.id)
            .group_by(Rating.grade)
        ):
            counts[grade] = n
        total = sum(counts.values())
        out.append(
            {
                "member": member.name,
                "post": member.post,
                "counts": counts,
                "total": total,
                "competent_pct": round(100 * counts["competent"] / total, 1) if total else 0,
            }
        )
    return out


def has_rated(session: Session, rnd: EvaluationRound, person_id: int | None) -> bool:
    return (
        person_id is not None
        and session.scalar(
            select(EvaluationRoll.id).where(
                EvaluationRoll.round_id == rnd.id, EvaluationRoll.person_id == person_id
            )
        )
        is not None
    )
