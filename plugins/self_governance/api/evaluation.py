"""The yearly democratic evaluation (民主评议): rounds with their members and, after the
close, the aggregates (public); opening a round (the committee, for its own community);
rating (a personal act of a verified resident of the community, never in the assisted
channel); and the residents' group representatives who vote in ``group_rep`` votes
(named through the scoped reader, each person shown in their access log)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import abort
from sqlalchemy import select

from core.toolkit import current_principal, current_session, endpoint, require_personal, utcnow
from plugins.self_governance import MANAGE_VOTES, RATE
from plugins.self_governance import services as sv
from plugins.self_governance.api.common import (
    acts_for,
    blp,
    community,
    conflict,
    covered,
    get,
    kernel,
    person,
)
from plugins.self_governance.models import EvaluationMember, EvaluationRound, GroupRep
from plugins.self_governance.schemas import (
    SgCandidate,
    SgCandidateArgs,
    SgCommunityArgs,
    SgGroupRep,
    SgGroupRepIn,
    SgMemberResult,
    SgRatingIn,
    SgRound,
    SgRoundIn,
)


def _opened() -> None:
    """Open the sealed sheets of rounds past their close first, as the page does."""
    session = current_session()
    if sv.open_due_rounds(session, kernel()):
        session.commit()


def round_out(session: Any, rnd: EvaluationRound) -> dict[str, Any]:
    members = list(session.scalars(select(EvaluationMember).where(
        EvaluationMember.round_id == rnd.id).order_by(EvaluationMember.id)))
    closed = sv.aware(rnd.closes_at) <= utcnow()
    return {
        "id": rnd.id, "community": rnd.community, "year": rnd.year, "closes_at": rnd.closes_at,
        "closed": closed,
        "members": [{"id": m.id, "name": m.name, "post": m.post} for m in members],
        "rated": sv.has_rated(session, rnd, person()) if person() is not None else None,
        "results": sv.evaluation_results(session, rnd) if closed else None,
    }


@blp.route("/evaluation/rounds")
class Rounds(MethodView):
    @endpoint(blp)
    @blp.response(200, SgRound(many=True))
    def get(self):
        """Every round, latest year first; results (aggregates only) after the close."""
        _opened()
        session = current_session()
        rounds = session.scalars(select(EvaluationRound).order_by(
            EvaluationRound.year.desc(), EvaluationRound.id.desc()).limit(100))
        return [round_out(session, r) for r in rounds]

    @endpoint(blp, MANAGE_VOTES, errors=(409, 422), descriptions={
        403: f"Lacks {MANAGE_VOTES}, or not for that community",
        409: "This year's evaluation exists already"})
    @blp.arguments(SgRoundIn)
    @blp.response(201, SgRound)
    def post(self, data):
        """Open the yearly evaluation of the committee members, for ``days`` days."""
        session = current_session()
        acts_for(data["community"])
        try:
            rnd = sv.create_round(
                session, community=data["community"], year=data["year"],
                members=[(m["name"], m["post"]) for m in data["members"]],
                closes_at=utcnow() + timedelta(days=data["days"]),
            )
        except sv.GovernanceError as exc:
            session.rollback()
            conflict(exc)
        session.commit()
        return round_out(session, rnd)


@blp.route("/evaluation/rounds/<int:round_id>")
class RoundOne(MethodView):
    @endpoint(blp, errors=(404,), descriptions={404: "No such round"})
    @blp.response(200, SgRound)
    def get(self, round_id: int):
        """One round; ``rated`` says whether the verified caller took part."""
        _opened()
        session = current_session()
        return round_out(session, get(EvaluationRound, round_id))


@blp.route("/evaluation/rounds/<int:round_id>/ratings")
class RoundRatings(MethodView):
    @endpoint(
        blp,
        require_personal(RATE),
        errors=(404, 409, 422),
        descriptions={
            403: "Not a verified resident, or someone acting for the resident: a rating "
            "is personal",
            404: "No such round",
            409: "Closed, not of the round's community, taken part already, or not every "
            "member rated",
        },
    )
    @blp.arguments(SgRatingIn)
    @blp.response(201, SgRound)
    def post(self, data, round_id: int):
        """Rate every member once (competent / basic / incompetent); the sheet is sealed
        and carries no rater."""
        session = current_session()
        rnd = get(EvaluationRound, round_id)
        grades = {r["member_id"]: r["grade"] for r in data["ratings"]}
        try:
            sv.submit_ratings(session, rnd, person_id=person(), community=community(),
                              grades=grades, kernel=kernel())
        except sv.GovernanceError as exc:
            session.rollback()
            conflict(exc)
        session.commit()
        return round_out(session, rnd)


@blp.route("/evaluation/rounds/<int:round_id>/results")
class RoundResults(MethodView):
    @endpoint(blp, errors=(404, 409), descriptions={
        404: "No such round", 409: "Not closed yet: no result before the close"})
    @blp.response(200, SgMemberResult(many=True))
    def get(self, round_id: int):
        """The aggregates per member, only after the close."""
        _opened()
        session = current_session()
        rnd = get(EvaluationRound, round_id)
        if sv.aware(rnd.closes_at) > utcnow():
            abort(409, message=_("The evaluation has not closed yet."))
        return sv.evaluation_results(session, rnd)


@blp.route("/group-reps")
class GroupReps(MethodView):
    @endpoint(blp, MANAGE_VOTES, errors=(404, 422), descriptions={
        404: "Not one of your communities"})
    @blp.arguments(SgCommunityArgs, location="query")
    @blp.response(200, SgGroupRep(many=True))
    def get(self, args):
        """A community's representatives, named through the reader (each in their
        access log)."""
        session = current_session()
        covered(args["community"])
        reps = sv.group_reps(session, kernel(), args["community"], actor=current_principal())
        session.commit()  # the access-log entries
        return [{**r, "community": args["community"]} for r in reps]

    @endpoint(blp, MANAGE_VOTES, errors=(404, 409, 422), descriptions={
        404: "Not one of your communities",
        409: "Not an active adult resident of the community within your places"})
    @blp.arguments(SgGroupRepIn)
    @blp.response(201, SgGroupRep)
    def post(self, data):
        """Name a resident (a ``person_id`` from the candidates search) the
        representative of a residents' group."""
        session = current_session()
        covered(data["community"])
        try:
            rep = sv.name_group_rep(session, kernel(), community=data["community"],
                                    person_id=data["person_id"], group_name=data["group_name"],
                                    actor=current_principal())
        except sv.GovernanceError as exc:
            session.rollback()
            conflict(exc)
        shown = {r["id"]: r for r in sv.group_reps(session, kernel(), rep.community,
                                                   actor=current_principal())}
        session.commit()
        return {**shown[rep.id], "community": rep.community}


@blp.route("/group-reps/<int:rep_id>")
class GroupRepOne(MethodView):
    @endpoint(blp, MANAGE_VOTES, errors=(404,), descriptions={
        404: "No such representative in your communities"})
    @blp.response(204)
    def delete(self, rep_id: int):
        """A representative steps down (votes already open keep their electorate)."""
        session = current_session()
        rep = get(GroupRep, rep_id)
        covered(rep.community)
        sv.remove_group_rep(session, rep)
        session.commit()


@blp.route("/group-reps/candidates")
class GroupRepCandidates(MethodView):
    @endpoint(blp, MANAGE_VOTES, errors=(404, 422), descriptions={
        404: "Not one of your communities"})
    @blp.arguments(SgCandidateArgs, location="query")
    @blp.response(200, SgCandidate(many=True))
    def get(self, args):
        """Adults of the community matching ``q`` (name, pinyin or initials), at most 10,
        to pick a representative from; each person shown is in their access log."""
        session = current_session()
        covered(args["community"])
        found = sv.find_residents(session, kernel(), args["community"], args["q"],
                                  actor=current_principal())
        session.commit()
        return [{"person_id": p["id"], "name": p["name"], "grid_name": p.get("grid_name")}
                for p in found]
