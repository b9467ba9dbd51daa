"""The committee's accountability: the residents' yearly evaluation, the public record
(supervision) and the committee's own work list."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from core.toolkit import (
    current_session,
    require,
    require_personal,
    utcnow,
)
from plugins.self_governance import PUBLISH, RATE
from plugins.self_governance import services as sv
from plugins.self_governance.models import (
    EvaluationMember,
    EvaluationRound,
    Proposal,
    Question,
)
from plugins.self_governance.views.common import (
    assisted,
    bp,
    get_or_404,
    kernel,
    my_community,
    my_person,
)
from plugins.self_governance.views.forms import (
    ActionForm,
)


@bp.route("/evaluation/")
def evaluation():
    """Public: yearly democratic evaluation; results (aggregates only) after the close
    (the sealed sheets of a closed round are opened on the way)."""
    session = current_session()
    if sv.open_due_rounds(session, kernel()):
        session.commit()
    rounds = list(session.scalars(select(EvaluationRound).order_by(EvaluationRound.year.desc())))
    data = []
    for rnd in rounds:
        members = list(
            session.scalars(
                select(EvaluationMember)
                .where(EvaluationMember.round_id == rnd.id)
                .order_by(EvaluationMember.id)
            )
        )
        closed = sv.aware(rnd.closes_at) <= utcnow()
        data.append(
            {
                "round": rnd,
                "members": members,
                "closed": closed,
                "results": sv.evaluation_results(session, rnd) if closed else None,
                "rated": sv.has_rated(session, rnd, my_person()),
            }
        )
    return render_template(
        "self_governance/evaluation.html",
        rounds=data,
        form=ActionForm(),
        grades=sv.GRADES,
        may_rate=getattr(current_user, "is_verified", False) and not assisted(),
        assisted=assisted(),
    )


@bp.route("/evaluation/<int:round_id>/rate", methods=["POST"])
@require_personal(RATE)
def rate(round_id: int):
    """Rate the committee: a personal act, never in the assisted channel (403)."""
    session = current_session()
    rnd = get_or_404(EvaluationRound, round_id)
    if ActionForm().validate_on_submit():
        grades = {}
        for key, value in request.form.items():
            if key.startswith("m"):
                try:
                    grades[int(key[1:])] = value
                except ValueError:
                    continue
        try:
            sv.submit_ratings(
                session,
                rnd,
                person_id=my_person(),
                community=my_community(),
                grades=grades,
                kernel=kernel(),
            )
        except sv.GovernanceError as exc:
            flash(exc.text(), "error")
        else:
            session.commit()
            flash(_("Thank you: your ratings are recorded anonymously."), "success")
    return redirect(url_for("self_governance.evaluation"))


# ----------------------------------------------------------------------------- supervision


@bp.route("/supervision/")
def supervision():
    """Public: the committee's record in one place (self-supervision)."""
    session = current_session()
    if sv.open_due_rounds(session, kernel()):
        session.commit()
    return render_template("self_governance/supervision.html", data=sv.supervision(session, None))


@bp.route("/committee/")
@require(PUBLISH)
def committee():
    session = current_session()
    agenda = list(session.scalars(select(Proposal).where(Proposal.status == "agenda")))
    questions = list(session.scalars(select(Question).where(Question.answer.is_(None))))
    return render_template(
        "self_governance/committee.html",
        agenda=agenda,
        questions=questions,
        queue=sv.moderation_queue(session),
    )
