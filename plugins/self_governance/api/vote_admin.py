"""The committee's side of a vote, within the member's communities: setting one up,
opening an upcoming vote now (freezing its electorate), counting a due vote, the roll of
who has voted and the electorate check. Names come through the scoped reader and every
person shown is in their access log, as on the pages."""

from __future__ import annotations

from flask.views import MethodView
from flask_babel import gettext as _

from core.toolkit import current_principal, current_session, endpoint
from plugins.self_governance import MANAGE_VOTES
from plugins.self_governance import services as sv
from plugins.self_governance.api.common import blp, conflict, covered, get, kernel
from plugins.self_governance.api.votes import vote_out
from plugins.self_governance.models import Vote
from plugins.self_governance.schemas import (
    SgElectorate,
    SgPageArgs,
    SgRollRow,
    SgVote,
    SgVoteResult,
)

SCOPE_404 = "No such vote in your communities"


@blp.route("/votes/<int:vote_id>/open")
class VoteOpen(MethodView):
    @endpoint(blp, MANAGE_VOTES, errors=(404, 409),
              descriptions={404: SCOPE_404, 409: "Open already, or closed"})
    @blp.response(200, SgVote)
    def post(self, vote_id: int):
        """Open an upcoming vote now, freezing its electorate as the check shows it."""
        session = current_session()
        vote = get(Vote, vote_id)
        covered(vote.community)
        try:
            sv.open_vote_now(session, kernel(), vote)
        except sv.GovernanceError as exc:
            session.rollback()
            conflict(exc, fields=False)
        session.commit()
        return vote_out(session, vote)


@blp.route("/votes/<int:vote_id>/close")
class VoteClose(MethodView):
    @endpoint(blp, MANAGE_VOTES, errors=(404, 409), descriptions={
        404: SCOPE_404,
        409: "Still open, or the sealed ballots cannot be opened (the secret key changed)",
    })
    @blp.response(200, SgVoteResult)
    def post(self, vote_id: int):
        """Count a vote whose time is up (the job does it within a minute anyway)."""
        session = current_session()
        vote = get(Vote, vote_id)
        covered(vote.community)
        try:
            sv.close_vote(session, kernel(), kernel().bus, vote)
        except sv.GovernanceError as exc:
            session.rollback()
            conflict(exc, fields=False)
        session.commit()
        return {"vote_id": vote.id, "result": vote.result or {}}


@blp.route("/votes/<int:vote_id>/roll")
class VoteRoll(MethodView):
    @endpoint(blp, MANAGE_VOTES, errors=(404,), descriptions={404: SCOPE_404})
    @blp.response(200, SgRollRow(many=True))
    def get(self, vote_id: int):
        """Who has voted (never what, in a secret vote), within the member's places;
        each person listed is in their access log."""
        session = current_session()
        vote = get(Vote, vote_id)
        covered(vote.community)
        rows = sv.vote_roll(session, kernel(), vote, actor=current_principal())
        session.commit()  # the access-log entries
        return [{**r, "kind": _(r["kind"])} for r in rows]


@blp.route("/votes/<int:vote_id>/electorate")
class VoteElectorate(MethodView):
    @endpoint(blp, MANAGE_VOTES, errors=(404, 422), descriptions={404: SCOPE_404})
    @blp.arguments(SgPageArgs, location="query")
    @blp.response(200, SgElectorate)
    def get(self, args, vote_id: int):
        """The electorate check: before the opening who would vote if it opened now,
        after it the frozen electorate; names masked, 50 voter keys a page, each person
        listed in their access log."""
        session = current_session()
        vote = get(Vote, vote_id)
        covered(vote.community)
        preview = sv.electorate_preview(session, kernel(), vote, actor=current_principal(),
                                        page=args["page"])
        session.commit()  # the access-log entries
        preview["entries"] = [{**e, "kind": _(e["kind"])} for e in preview["entries"]]
        return preview
