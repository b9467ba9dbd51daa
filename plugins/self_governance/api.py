"""The JSON API, mounted by core at ``/api/v1/self-governance``: notices, proposals and
votes. Reading is public (disclosure); acting needs a verified resident or a committee
permission. Errors use core's ``Error`` shape."""

from __future__ import annotations

from typing import Any, NoReturn

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.toolkit import (
    MAX_ID,
    current_kernel,
    current_session,
    endpoint,
    refuse,
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

blp = Blueprint(
    "self_governance_api", __name__, description="Community affairs: notices, proposals and votes"
)


def conflict(exc: sv.GovernanceError, *, fields: bool = True) -> NoReturn:
    """A well-formed request a rule refuses in the state things are in now: 409 (the area
    answers every schema-valid refusal with 409, docs/api.md "422 or 409?") with the
    rule's message and, unless ``fields=False``, its field.

    The message is in the request's language, by the API's one rule (docs/api.md,
    "Language"); clients match on ``code`` and the field names."""
    if not fields:
        abort(409, message=exc.text())
    refuse(exc, 409)


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
                "matter",
                "frozen_at",
                "electorate_count",
                "electorate_area",
            )
        },
        "state": sv.vote_state(vote),
        "me": me,
        "options": [{"code": o.code, "label": o.label} for o in sv.vote_options(session, vote.id)],
    }


def _get(model: type, ident: int) -> Any:
    if not 0 < ident <= MAX_ID:  # beyond any stored id (and PostgreSQL's integer)
        abort(404, message="Not found.")
    obj = current_session().get(model, ident)
    if obj is None:
        abort(404, message="Not found.")
    return obj


@blp.route("/notices")
class Notices(MethodView):
    @endpoint(blp)
    @blp.response(200, SgNotice(many=True))
    def get(self):
        """Current notices, pinned first (public: disclosure)."""
        return sv.visible_notices(current_session(), None, limit=100)

    @endpoint(
        blp,
        PUBLISH,
        errors=(409, 422),
        descriptions={
            403: f"Lacks {PUBLISH}, or not for that community",
            409: "Expiry already past",
        },
    )
    @blp.arguments(SgNoticeIn)
    @blp.response(201, SgNotice)
    def post(self, data):
        """Publish a notice."""
        session = current_session()
        if not sv.acts_for(current_user, data.get("community")):
            abort(403, message="You do not act for this community.")
        try:
            notice = sv.publish_notice(session, author_id=current_user.id, **data)
        except sv.GovernanceError as exc:
            # Well-formed, but conflicts with now (an expiry already past).
            conflict(exc)
        session.commit()
        return notice


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

    @endpoint(blp, require_verified, errors=(422,), descriptions={403: "Not a verified resident"})
    @blp.arguments(SgProposalIn)
    @blp.response(201, SgProposal)
    def post(self, data):
        """Make a proposal; it is open for support at once."""
        session = current_session()
        community = sv.person_community(session, _kernel(), _person())
        if community is None:
            abort(409, message="You are not a registered resident of a community.")
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
            conflict(exc)
        session.commit()
        return proposal


@blp.route("/proposals/<int:proposal_id>/support")
class ProposalSupport(MethodView):
    @endpoint(
        blp,
        require_verified,
        errors=(404, 409),
        descriptions={
            403: "Not a verified resident",
            404: "No such proposal",
            409: "Supported already, or closed",
        },
    )
    @blp.response(200, SgProposal)
    def post(self, proposal_id: int):
        """Support a proposal (once per resident)."""
        session = current_session()
        proposal = _get(Proposal, proposal_id)
        if proposal.status == "draft":
            abort(404, message="Not found.")
        try:
            sv.support_proposal(
                session,
                proposal,
                person_id=_person(),
                community=sv.person_community(session, _kernel(), _person()),
            )
        except sv.GovernanceError as exc:
            conflict(exc, fields=False)
        session.commit()
        return proposal


@blp.route("/proposals/<int:proposal_id>/answer")
class ProposalAnswer(MethodView):
    @endpoint(
        blp,
        ANSWER,
        errors=(404, 409),
        descriptions={404: "No such proposal", 409: "Not answerable now"},
    )
    @blp.arguments(SgAnswerIn)
    @blp.response(200, SgProposal)
    def post(self, data, proposal_id: int):
        """The committee's official answer with reasons."""
        session = current_session()
        proposal = _get(Proposal, proposal_id)
        if not sv.acts_for(current_user, proposal.community):
            abort(404, message="Not found.")
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
            conflict(exc, fields=False)
        session.commit()
        return proposal


@blp.route("/votes")
class Votes(MethodView):
    @endpoint(blp)
    @blp.response(200, SgVote(many=True))
    def get(self):
        """Votes, latest close first (public)."""
        session = current_session()
        rows = session.scalars(select(Vote).order_by(Vote.closes_at.desc()).limit(200))
        return [_vote_out(session, v) for v in rows]


@blp.route("/votes/<int:vote_id>")
class VoteOne(MethodView):
    @endpoint(blp, errors=(404,), descriptions={404: "No such vote"})
    @blp.response(200, SgVote)
    def get(self, vote_id: int):
        """One vote; ``me`` says whether the caller may vote and has voted."""
        session = current_session()
        return _vote_out(session, _get(Vote, vote_id))


@blp.route("/votes/<int:vote_id>/ballot")
class VoteBallot(MethodView):
    @endpoint(
        blp,
        require_personal(CAST),
        errors=(404, 409, 422),
        descriptions={
            403: "Not a verified resident, or someone acting for the resident (the "
            "assisted channel): a ballot is personal",
            404: "No such vote",
            409: "Already voted (you or your household), not open, not eligible, or a "
            "choice that is not one of the vote's options",
            422: "Malformed body",
        },
    )
    @blp.arguments(SgBallotIn)
    @blp.response(201, SgVote)
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
            conflict(exc, fields=False)
        except IntegrityError:
            session.rollback()
            abort(409, message="Already voted.")
        except sv.GovernanceError as exc:
            # Well-formed, but refused by the vote's state or rules: not open, not
            # eligible, or a choice that is not one of this vote's options.
            conflict(exc)
        return _vote_out(session, vote)


@blp.route("/votes/<int:vote_id>/result")
class VoteResult(MethodView):
    @endpoint(
        blp,
        errors=(404, 409),
        descriptions={
            404: "No such vote",
            409: "Not closed yet: no result before close (or the sealed ballots "
            "cannot be opened: the secret key changed)",
        },
    )
    @blp.response(200, SgVoteResult)
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
                conflict(exc, fields=False)
            session.commit()
        elif state != "closed":
            abort(409, message="The vote has not closed yet.")
        return {"vote_id": vote.id, "result": vote.result or {}}
