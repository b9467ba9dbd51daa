"""The JSON API, mounted by core at ``/api/v1/self_governance``: notices, proposals and
votes. Reading is public (disclosure); acting needs a verified resident or a committee
permission. Errors use core's ``Error`` shape."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from flask_smorest import abort as _smorest_abort
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from core.toolkit import (
    current_kernel,
    current_session,
    require,
    require_personal,
    require_verified,
)
from plugins.self_governance import ANSWER, CAST, PUBLISH
from plugins.self_governance import services as sv
from plugins.self_governance.models import Proposal, Vote
from plugins.self_governance.schemas import (
    SgAnswerIn,
    SgBallotIn,
    SgNotice,
    SgNoticeIn,
    SgProposal,
    SgProposalIn,
    SgVote,
    SgVoteResult,
)
from plugins.self_governance.services import MAX_ID

blp = Blueprint(
    "self_governance_api", __name__, description="Community affairs: notices, proposals and votes"
)
AUTH = [{"bearerAuth": []}]


def abort(status: int, message: str = "", **data: Any) -> None:
    """flask-smorest's ``abort``, with ``message`` as the error's message: core's error
    format reads the exception's description, where smorest would keep only ``data``."""
    try:
        _smorest_abort(status, **data)
    except HTTPException as err:
        if message:
            err.description = message
        raise


def _kernel() -> Any:
    return current_kernel()


def _person() -> int | None:
    return current_user.person_id if getattr(current_user, "is_verified", False) else None


def _vote_out(session: Any, vote: Vote) -> dict[str, Any]:
    me = None
    if getattr(current_user, "is_authenticated", False):
        me = sv.voter_status(session, _kernel(), vote, _person())
    return {
        **{
            c: getattr(vote, c)
            for c in (
                "id",
                "title",
                "description",
                "community",
                "kind",
                "electorate",
                "quorum",
                "pass_rule",
                "secret",
                "seats",
                "opens_at",
                "closes_at",
            )
        },
        "state": sv.vote_state(vote),
        "me": me,
        "options": [{"code": o.code, "label": o.label} for o in sv.vote_options(session, vote.id)],
    }


def _get(model: type, ident: int) -> Any:
    if not 0 < ident <= MAX_ID:  # beyond any stored id (and PostgreSQL's integer)
        abort(404, "Not found.")
    obj = current_session().get(model, ident)
    if obj is None:
        abort(404, "Not found.")
    return obj


@blp.route("/notices")
class Notices(MethodView):
    @blp.response(200, SgNotice(many=True))
    def get(self):
        """Current notices, pinned first (public: disclosure)."""
        return sv.visible_notices(current_session(), None, limit=100)

    @require(PUBLISH)
    @blp.doc(security=AUTH)
    @blp.arguments(SgNoticeIn)
    @blp.response(201, SgNotice)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(
        403, schema="Error", description=f"Lacks {PUBLISH}, or not for that community"
    )
    @blp.alt_response(409, schema="Error", description="Expiry already past")
    @blp.alt_response(422, schema="Error", description="Invalid fields")
    def post(self, data):
        """Publish a notice."""
        session = current_session()
        if not sv.acts_for(current_user, data.get("community")):
            abort(403, "You do not act for this community.")
        try:
            notice = sv.publish_notice(session, author_id=current_user.id, **data)
        except sv.GovernanceError as exc:
            # Well-formed, but conflicts with now (an expiry already past).
            abort(409, str(exc), messages={exc.field: [str(exc)]})
        session.commit()
        return notice


@blp.route("/proposals")
class Proposals(MethodView):
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

    @require_verified
    @blp.doc(security=AUTH)
    @blp.arguments(SgProposalIn)
    @blp.response(201, SgProposal)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(403, schema="Error", description="Not a verified resident")
    @blp.alt_response(422, schema="Error", description="Invalid fields")
    def post(self, data):
        """Make a proposal; it is open for support at once."""
        session = current_session()
        community = sv.person_community(session, _kernel(), _person())
        if community is None:
            abort(409, "You are not a registered resident of a community.")
        cfg = _kernel().plugins.settings("self_governance")
        try:
            proposal = sv.create_proposal(
                session,
                community=community,
                author_id=current_user.id,
                title=data["title"],
                body=data["body"],
                threshold=cfg["proposal_threshold"],
                support_days=cfg["proposal_support_days"],
            )
        except sv.GovernanceError as exc:
            abort(409, str(exc), messages={exc.field: [str(exc)]})
        session.commit()
        return proposal


@blp.route("/proposals/<int:proposal_id>/support")
class ProposalSupport(MethodView):
    @require_verified
    @blp.doc(security=AUTH)
    @blp.response(200, SgProposal)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(403, schema="Error", description="Not a verified resident")
    @blp.alt_response(404, schema="Error", description="No such proposal")
    @blp.alt_response(409, schema="Error", description="Supported already, or closed")
    def post(self, proposal_id: int):
        """Support a proposal (once per resident)."""
        session = current_session()
        proposal = _get(Proposal, proposal_id)
        if proposal.status == "draft":
            abort(404, "Not found.")
        try:
            sv.support_proposal(
                session,
                proposal,
                person_id=_person(),
                community=sv.person_community(session, _kernel(), _person()),
            )
        except sv.GovernanceError as exc:
            abort(409, str(exc))
        session.commit()
        return proposal


@blp.route("/proposals/<int:proposal_id>/answer")
class ProposalAnswer(MethodView):
    @require(ANSWER)
    @blp.doc(security=AUTH)
    @blp.arguments(SgAnswerIn)
    @blp.response(200, SgProposal)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(403, schema="Error", description=f"Lacks {ANSWER}")
    @blp.alt_response(404, schema="Error", description="No such proposal")
    @blp.alt_response(409, schema="Error", description="Not answerable now")
    def post(self, data, proposal_id: int):
        """The committee's official answer with reasons."""
        session = current_session()
        proposal = _get(Proposal, proposal_id)
        if not sv.acts_for(current_user, proposal.community):
            abort(404, "Not found.")
        try:
            sv.answer_proposal(
                session,
                _kernel().bus,
                proposal,
                answer=data["answer"],
                reason=data["reason"],
                by_id=current_user.id,
            )
        except sv.GovernanceError as exc:
            abort(409, str(exc))
        session.commit()
        return proposal


@blp.route("/votes")
class Votes(MethodView):
    @blp.response(200, SgVote(many=True))
    def get(self):
        """Votes, latest close first (public)."""
        session = current_session()
        rows = session.scalars(select(Vote).order_by(Vote.closes_at.desc()).limit(200))
        return [_vote_out(session, v) for v in rows]


@blp.route("/votes/<int:vote_id>")
class VoteOne(MethodView):
    @blp.response(200, SgVote)
    @blp.alt_response(404, schema="Error", description="No such vote")
    def get(self, vote_id: int):
        """One vote; ``me`` says whether the caller may vote and has voted."""
        session = current_session()
        return _vote_out(session, _get(Vote, vote_id))


@blp.route("/votes/<int:vote_id>/ballot")
class VoteBallot(MethodView):
    @require_personal(CAST)
    @blp.doc(security=AUTH)
    @blp.arguments(SgBallotIn)
    @blp.response(201, SgVote)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(
        403,
        schema="Error",
        description="Not a verified resident, or someone acting for the resident (the "
        "assisted channel): a ballot is personal",
    )
    @blp.alt_response(404, schema="Error", description="No such vote")
    @blp.alt_response(
        409,
        schema="Error",
        description="Already voted (you or your household), not open, not eligible, or a "
        "choice that is not one of the vote's options",
    )
    @blp.alt_response(422, schema="Error", description="Malformed body")
    def post(self, data, vote_id: int):
        """Cast a ballot: one per voter key, guaranteed by the database; a personal act,
        never done in the assisted channel."""
        session = current_session()
        vote = _get(Vote, vote_id)
        try:
            sv.cast_ballot(
                session,
                _kernel(),
                vote,
                person_id=_person(),
                user_id=current_user.id,
                selection=data["choice"],
            )
            session.commit()
        except sv.AlreadyVoted as exc:
            session.rollback()
            abort(409, str(exc))
        except IntegrityError:
            session.rollback()
            abort(409, "Already voted.")
        except sv.GovernanceError as exc:
            # Well-formed, but refused by the vote's state or rules: not open, not
            # eligible, or a choice that is not one of this vote's options.
            abort(409, str(exc), messages={exc.field: [str(exc)]})
        return _vote_out(session, vote)


@blp.route("/votes/<int:vote_id>/result")
class VoteResult(MethodView):
    @blp.response(200, SgVoteResult)
    @blp.alt_response(404, schema="Error", description="No such vote")
    @blp.alt_response(
        409,
        schema="Error",
        description="Not closed yet: no result before close (or the sealed ballots "
        "cannot be opened: the secret key changed)",
    )
    def get(self, vote_id: int):
        """The result, only after the close (counted from the stored ballots)."""
        session = current_session()
        vote = _get(Vote, vote_id)
        state = sv.vote_state(vote)
        if state == "due":
            try:
                sv.close_vote(session, _kernel(), _kernel().bus, vote)
            except sv.GovernanceError as exc:  # the sealed box cannot be opened
                session.rollback()
                abort(409, str(exc))
            session.commit()
        elif state != "closed":
            abort(409, "The vote has not closed yet.")
        return {"vote_id": vote.id, "result": vote.result or {}}
