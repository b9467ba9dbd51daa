"""Proposals: the public list and one proposal with its timeline, proposing and
supporting (verified residents), the committee's answer and its implementation
progress (within the member's communities)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import abort
from sqlalchemy import select

from core.toolkit import current_session, endpoint, require_verified
from plugins.self_governance import ANSWER
from plugins.self_governance import services as sv
from plugins.self_governance.api.common import (
    blp,
    community,
    conflict,
    covered,
    get,
    kernel,
    person,
    settings,
)
from plugins.self_governance.models import Proposal, Support
from plugins.self_governance.schemas import (
    SgAnswerIn,
    SgProgressIn,
    SgProposal,
    SgProposalIn,
    SgProposalOne,
    SgUpdate,
)


def _visible(proposal_id: int) -> Proposal:
    """The proposal, or 404: a draft is its author's alone."""
    item = get(Proposal, proposal_id)
    if item.status == "draft" and item.author_id != getattr(current_user, "id", None):
        abort(404, message="Not found.")
    return item


def _timeline(session: Any, item: Proposal) -> list[dict[str, Any]]:
    # a note the service wrote itself is a msgid: shown in the reader's language
    return [{"status": u.status, "note": _(u.note) if u.note else "", "at": u.at}
            for u in sv.proposal_timeline(session, item.id)]


def _one(session: Any, item: Proposal) -> dict[str, Any]:
    supported = None
    if person() is not None:
        supported = session.scalar(select(Support.id).where(
            Support.proposal_id == item.id, Support.person_id == person())) is not None
    return {**{c: getattr(item, c) for c in (
        "id", "title", "body", "community", "status", "threshold", "support_count",
        "deadline", "answer", "answer_reason", "implementation", "created_at",
        "answered_at")}, "supported": supported, "timeline": _timeline(session, item)}


@blp.route("/proposals")
class Proposals(MethodView):
    @endpoint(blp)
    @blp.response(200, SgProposal(many=True))
    def get(self):
        """Proposals (not drafts), newest first (public: accountability)."""
        return list(
            current_session().scalars(
                select(Proposal)
                .where(Proposal.status != "draft")
                .order_by(Proposal.created_at.desc())
                .limit(200)
            )
        )

    @endpoint(
        blp,
        require_verified,
        errors=(409, 422),
        descriptions={403: "Not a verified resident", 409: "Not a registered resident"},
    )
    @blp.arguments(SgProposalIn)
    @blp.response(201, SgProposal)
    def post(self, data):
        """Make a proposal; it is open for support at once."""
        session = current_session()
        home = community()
        if home is None:
            abort(409, message=_("You are not a registered resident of a community."))
        cfg = settings()
        try:
            proposal = sv.create_proposal(
                session,
                community=home,
                author_id=current_user.id,
                title=data["title"],
                body=data["body"],
                threshold=cfg["proposal_threshold"],
                support_days=cfg["proposal_support_days"],
            )
        except sv.GovernanceError as exc:
            conflict(exc)
        session.commit()
        return proposal


@blp.route("/proposals/<int:proposal_id>")
class ProposalOne(MethodView):
    @endpoint(blp, errors=(404,), descriptions={404: "No such proposal"})
    @blp.response(200, SgProposalOne)
    def get(self, proposal_id: int):
        """One proposal with its public timeline (support, answer, implementation)."""
        session = current_session()
        return _one(session, _visible(proposal_id))


@blp.route("/proposals/<int:proposal_id>/updates")
class ProposalUpdates(MethodView):
    @endpoint(blp, errors=(404,), descriptions={404: "No such proposal"})
    @blp.response(200, SgUpdate(many=True))
    def get(self, proposal_id: int):
        """The proposal's steps, oldest first: public, like the page's timeline."""
        return _timeline(current_session(), _visible(proposal_id))


@blp.route("/proposals/<int:proposal_id>/support")
class ProposalSupport(MethodView):
    @endpoint(
        blp,
        require_verified,
        errors=(404, 409),
        descriptions={
            403: "Not a verified resident",
            404: "No such proposal",
            409: "Supported already, closed, or not of your community",
        },
    )
    @blp.response(200, SgProposal)
    def post(self, proposal_id: int):
        """Support a proposal (once per resident)."""
        session = current_session()
        proposal = get(Proposal, proposal_id)
        if proposal.status == "draft":
            abort(404, message="Not found.")
        try:
            sv.support_proposal(session, proposal, person_id=person(), community=community())
        except sv.GovernanceError as exc:
            conflict(exc, fields=False)
        session.commit()
        return proposal


@blp.route("/proposals/<int:proposal_id>/answer")
class ProposalAnswer(MethodView):
    @endpoint(
        blp,
        ANSWER,
        errors=(404, 409, 422),
        descriptions={404: "No such proposal in your communities", 409: "Not answerable now"},
    )
    @blp.arguments(SgAnswerIn)
    @blp.response(200, SgProposal)
    def post(self, data, proposal_id: int):
        """The committee's official answer with reasons."""
        session = current_session()
        proposal = get(Proposal, proposal_id)
        covered(proposal.community)
        try:
            sv.answer_proposal(
                session,
                kernel().bus,
                proposal,
                answer=data["answer"],
                reason=data["reason"],
                by_id=current_user.id,
            )
        except sv.GovernanceError as exc:
            conflict(exc, fields=False)
        session.commit()
        return proposal


@blp.route("/proposals/<int:proposal_id>/progress")
class ProposalProgress(MethodView):
    @endpoint(
        blp,
        ANSWER,
        errors=(404, 409, 422),
        descriptions={
            404: "No such proposal in your communities",
            409: "Not an accepted proposal",
        },
    )
    @blp.arguments(SgProgressIn)
    @blp.response(201, SgProposalOne)
    def post(self, data, proposal_id: int):
        """Record implementation progress of an accepted proposal (a step on its
        timeline; the author is told)."""
        session = current_session()
        proposal = get(Proposal, proposal_id)
        covered(proposal.community)
        try:
            sv.update_implementation(
                session, proposal, status=data["status"], note=data["note"],
                by_id=current_user.id,
            )
        except sv.GovernanceError as exc:
            conflict(exc)
        session.commit()
        return _one(session, proposal)
