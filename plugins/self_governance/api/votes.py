"""Votes as residents meet them: the list and one vote (public), casting a ballot (a
personal act), the voter's own receipt, checking a receipt (public) and the result after
the close (public)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import abort
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.toolkit import current_session, endpoint, require_personal
from plugins.self_governance import CAST, MANAGE_VOTES
from plugins.self_governance import services as sv
from plugins.self_governance.api.common import acts_for, blp, conflict, get, kernel, person
from plugins.self_governance.models import Vote
from plugins.self_governance.schemas import (
    SgBallotIn,
    SgReceipt,
    SgReceiptArgs,
    SgReceiptCheck,
    SgVote,
    SgVoteIn,
    SgVoteResult,
)

VOTE_FIELDS = (
    "id", "title", "description", "community", "kind", "electorate", "quorum", "pass_rule",
    "secret", "seats", "opens_at", "closes_at", "matter", "frozen_at", "electorate_count",
    "electorate_area",
)


def vote_out(session: Any, vote: Vote) -> dict[str, Any]:
    """A vote as the API shows it; ``me`` (may the caller vote, have they) when signed in."""
    me = None
    if getattr(current_user, "is_authenticated", False):
        me = sv.voter_status(session, kernel(), vote, person())
    return {
        **{c: getattr(vote, c) for c in VOTE_FIELDS},
        "state": sv.vote_state(vote),
        "me": me,
        "options": [{"code": o.code, "label": o.label} for o in sv.vote_options(session, vote.id)],
    }


@blp.route("/votes")
class Votes(MethodView):
    @endpoint(blp)
    @blp.response(200, SgVote(many=True))
    def get(self):
        """Votes, latest close first (public)."""
        session = current_session()
        rows = session.scalars(select(Vote).order_by(Vote.closes_at.desc()).limit(200))
        return [vote_out(session, v) for v in rows]

    @endpoint(
        blp,
        MANAGE_VOTES,
        errors=(409, 422),
        descriptions={
            403: f"Lacks {MANAGE_VOTES}, or not for that community",
            409: "Refused by a rule: closes before it opens, an election without "
            "candidates, more seats than candidates, an owners' assembly without its matter",
        },
    )
    @blp.arguments(SgVoteIn)
    @blp.response(201, SgVote)
    def post(self, data):
        """Set up a vote (the committee, for one of its communities); one that opens at
        once has its electorate frozen now, and the eligible residents are told."""
        session = current_session()
        acts_for(data["community"])
        try:
            vote = sv.create_vote(session, created_by_id=current_user.id, **data)
        except sv.GovernanceError as exc:
            conflict(exc)
        if sv.vote_state(vote) == "open":
            sv.ensure_frozen(session, kernel(), vote)
        session.commit()
        return vote_out(session, vote)


@blp.route("/votes/<int:vote_id>")
class VoteOne(MethodView):
    @endpoint(blp, errors=(404,), descriptions={404: "No such vote"})
    @blp.response(200, SgVote)
    def get(self, vote_id: int):
        """One vote; ``me`` says whether the caller may vote and has voted."""
        session = current_session()
        return vote_out(session, get(Vote, vote_id))


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
        vote = get(Vote, vote_id)
        try:
            sv.cast_ballot(
                session,
                kernel(),
                vote,
                person_id=person(),
                user_id=current_user.id,
                selection=data["choice"],
            )
            session.commit()
        except sv.AlreadyVoted as exc:
            session.rollback()
            conflict(exc, fields=False)
        except IntegrityError:
            session.rollback()
            abort(409, message=_("A vote has already been cast for you (or your household)."))
        except sv.GovernanceError as exc:
            # Well-formed, but refused by the vote's state or rules: not open, not
            # eligible, or a choice that is not one of this vote's options.
            conflict(exc)
        return vote_out(session, vote)


@blp.route("/votes/<int:vote_id>/receipt")
class VoteReceipt(MethodView):
    @endpoint(
        blp,
        require_personal(CAST),
        errors=(404,),
        descriptions={404: "No such vote, or you have not voted in it yourself"},
    )
    @blp.response(200, SgReceipt)
    def get(self, vote_id: int):
        """The caller's own receipt: the code that proves their ballot is on the roll
        (and, for an open ballot, the public choice). Never a household member's."""
        session = current_session()
        vote = get(Vote, vote_id)
        row = sv.my_roll_row(session, vote, person())
        if row is None:
            abort(404, message=_("You have not voted in this vote."))
        codes = {o.code for o in sv.vote_options(session, vote.id)}
        return {
            "vote_id": vote.id,
            "receipt": row.receipt,
            "voted_at": row.voted_at,
            "public_choice": [c for c in (row.public_choice or "").split(",") if c in codes],
        }


@blp.route("/votes/<int:vote_id>/check")
class VoteCheck(MethodView):
    @endpoint(
        blp,
        errors=(404, 422),
        descriptions={404: "No such vote, or no ballot of it has this receipt"},
    )
    @blp.arguments(SgReceiptArgs, location="query")
    @blp.response(200, SgReceiptCheck)
    def get(self, args, vote_id: int):
        """What a receipt proves (public): the ballot is on the roll, and counted once the
        vote is — never who cast it nor how."""
        session = current_session()
        vote = get(Vote, vote_id)
        found = sv.check_receipt(session, vote, args["receipt"])
        if found is None:
            abort(404, message=_("No ballot of this vote has the receipt %(code)s.",
                                 code=sv.normalise_receipt(args["receipt"])))
        return found


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
        vote = get(Vote, vote_id)
        state = sv.vote_state(vote)
        if state == "due":
            try:
                sv.close_vote(session, kernel(), kernel().bus, vote)
            except sv.GovernanceError as exc:  # the sealed box cannot be opened
                session.rollback()
                conflict(exc, fields=False)
            session.commit()
        elif state != "closed":
            abort(409, message=_("The vote has not closed yet."))
        return {"vote_id": vote.id, "result": vote.result or {}}
