"""Residents' proposals: drafted, supported up to a threshold before a deadline, answered
by the committee with reasons, and implemented; every step on the proposal's timeline."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.toolkit import N_, utcnow
from plugins.self_governance.models import (
    Proposal,
    ProposalUpdate,
    Support,
)
from plugins.self_governance.services.common import GovernanceError, aware
from plugins.self_governance.services.outcomes import tell_progress

ANSWERS = ("accepted", "rejected", "needs_study")
IMPLEMENTATION = ("not_started", "in_progress", "done")


def _log(
    session: Session, proposal: Proposal, status: str, note: str = "", by_id: int | None = None
) -> None:
    session.add(ProposalUpdate(proposal_id=proposal.id, status=status, note=note, by_id=by_id))


def create_proposal(
    session: Session,
    *,
    community: str,
    author_id: int,
    title: str,
    body: str,
    threshold: int,
    support_days: int,
    submit: bool = True,
) -> Proposal:
    """A draft; ``submit`` opens it for support at once (the usual case)."""
    title, body = (title or "").strip(), (body or "").strip()
    if not title:
        raise GovernanceError(N_("Enter a title."), "title")
    if not body:
        raise GovernanceError(N_("Say what you propose."), "body")
    proposal = Proposal(
        community=community,
        author_id=author_id,
        title=title[:200],
        body=body,
        threshold=max(1, threshold),
        status="draft",
    )
    session.add(proposal)
    session.flush()
    _log(session, proposal, "draft", by_id=author_id)
    if submit:
        submit_proposal(session, proposal, support_days=support_days, by_id=author_id)
    return proposal


def submit_proposal(
    session: Session, proposal: Proposal, *, support_days: int, by_id: int | None = None
) -> None:
    if proposal.status != "draft":
        raise GovernanceError(N_("Only a draft can be submitted."), "status")
    proposal.status = "collecting"
    proposal.deadline = utcnow() + timedelta(days=support_days)
    _log(session, proposal, "collecting", by_id=by_id)
    session.flush()


def expire_proposals(session: Session, now: datetime | None = None) -> int:
    """Proposals whose support deadline passed without reaching the threshold."""
    now = now or utcnow()
    rows = session.scalars(
        select(Proposal).where(Proposal.status == "collecting", Proposal.deadline <= now)
    ).all()
    for proposal in rows:
        proposal.status = "expired"
        _log(session, proposal, "expired")
    session.flush()
    return len(rows)


def support_proposal(
    session: Session, proposal: Proposal, *, person_id: int, community: str | None
) -> Proposal:
    """One support per registry person, from the proposal's community, before the
    deadline. Reaching the threshold puts the proposal on the committee's agenda."""
    if proposal.status != "collecting":
        raise GovernanceError(N_("This proposal is not collecting support."), "status")
    if proposal.deadline is not None and aware(proposal.deadline) <= utcnow():
        raise GovernanceError(N_("The deadline for support has passed."), "status")
    if community != proposal.community:
        raise GovernanceError(N_("Only residents of the community can support it."), "person")
    try:
        with session.begin_nested():
            session.add(Support(proposal_id=proposal.id, person_id=person_id))
    except IntegrityError:
        raise GovernanceError(N_("You support this proposal already."), "person") from None
    proposal.support_count = session.scalar(
        select(func.count()).select_from(Support).where(Support.proposal_id == proposal.id)
    )
    if proposal.support_count >= proposal.threshold:
        proposal.status = "agenda"
        _log(session, proposal, "agenda", N_("Enough support: on the committee's agenda."))
    session.flush()
    return proposal


def answer_proposal(
    session: Session, bus: Any, proposal: Proposal, *, answer: str, reason: str, by_id: int | None
) -> Proposal:
    """The committee's official answer, with reasons; publishes
    ``self_governance.proposal.answered``."""
    if proposal.status not in ("agenda", "collecting"):
        raise GovernanceError(N_("This proposal cannot be answered now."), "status")
    if answer not in ANSWERS:
        raise GovernanceError(N_("Choose accepted, rejected or needs study."), "answer")
    reason = (reason or "").strip()
    if not reason:
        raise GovernanceError(N_("Give the reasons."), "reason")
    proposal.status, proposal.answer, proposal.answer_reason = "answered", answer, reason
    proposal.answered_at = utcnow()
    if answer == "accepted":
        proposal.implementation = "not_started"
    _log(session, proposal, answer, reason, by_id)
    session.flush()
    bus.publish(
        session,
        "self_governance.proposal.answered",
        {
            "proposal_id": proposal.id,
            "community": proposal.community,
            "answer": answer,
        },
    )
    return proposal


def update_implementation(
    session: Session, proposal: Proposal, *, status: str, note: str, by_id: int | None
) -> Proposal:
    if proposal.answer != "accepted":
        raise GovernanceError(N_("Only an accepted proposal is implemented."), "status")
    if status not in IMPLEMENTATION:
        raise GovernanceError(N_("Unknown implementation status."), "status")
    proposal.implementation = status
    _log(session, proposal, status, (note or "").strip(), by_id)
    session.flush()
    tell_progress(session, proposal, status, (note or "").strip())
    return proposal


def proposal_timeline(session: Session, proposal_id: int) -> list[ProposalUpdate]:
    return list(
        session.scalars(
            select(ProposalUpdate)
            .where(ProposalUpdate.proposal_id == proposal_id)
            .order_by(ProposalUpdate.at, ProposalUpdate.id)
        )
    )
