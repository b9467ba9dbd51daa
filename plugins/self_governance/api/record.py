"""The committee's record (public, self-supervision) and the statistics behind the
charts: participation per month, turnout per counted vote, questions answered on time."""

from __future__ import annotations

from flask.views import MethodView

from core.toolkit import current_session, endpoint
from plugins.self_governance import services as sv
from plugins.self_governance.api.common import blp, kernel
from plugins.self_governance.api.evaluation import round_out
from plugins.self_governance.schemas import SgStatistics, SgStatisticsArgs, SgSupervision


@blp.route("/supervision")
class Supervision(MethodView):
    @endpoint(blp)
    @blp.response(200, SgSupervision)
    def get(self):
        """The committee's record in one place: proposals, statements on time, open
        questions, evaluation results (public)."""
        session = current_session()
        if sv.open_due_rounds(session, kernel()):
            session.commit()
        data = sv.supervision(session, None, tz=sv.local_zone(kernel()))
        data["evaluations"] = [round_out(session, r) for r, _results in data["evaluations"]]
        return data


@blp.route("/statistics")
class Statistics(MethodView):
    @endpoint(blp, errors=(422,))
    @blp.arguments(SgStatisticsArgs, location="query")
    @blp.response(200, SgStatistics)
    def get(self, args):
        """Aggregates only (public): forum posts and proposals per month of the last 12
        (months in ``app.timezone``), turnout of the last 12 counted votes, residents'
        questions answered on time, late, open and overdue. ``community`` narrows
        proposals, votes and questions (the forum is everyone's)."""
        return sv.statistics(current_session(), kernel(), community=args.get("community"))
