"""The committee's accountability: the residents' yearly evaluation, the public record
(supervision) and the committee's own work list."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from core.toolkit import (
    current_principal,
    current_session,
    has_permission,
    local_zone,
    require,
    require_personal,
    utcnow,
)
from plugins.self_governance import MANAGE_VOTES, PUBLISH, RATE
from plugins.self_governance import services as sv
from plugins.self_governance.models import (
    EvaluationMember,
    EvaluationRound,
    GroupRep,
    Proposal,
)
from plugins.self_governance.views.common import (
    assisted,
    bp,
    community_choices,
    covers,
    fail,
    get_or_404,
    kernel,
    my_community,
    my_person,
    require_covers,
    utc_to_local,
)
from plugins.self_governance.views.forms import (
    ActionForm,
    RepForm,
    RoundForm,
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
        may_manage=has_permission(current_user, MANAGE_VOTES),
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
    return render_template("self_governance/supervision.html",
                           data=sv.supervision(session, None, tz=local_zone()))


@bp.route("/committee/")
@require(PUBLISH)
def committee():
    session = current_session()
    agenda = list(session.scalars(
        select(Proposal).where(Proposal.status.in_(("agenda", "collecting")))
        .order_by(Proposal.status, Proposal.created_at.desc())
    ))
    # open questions on statements of the member's own communities, oldest first
    questions = [(q, q.due_on or sv.question_due(kernel(), q.asked_at),
                  sv.question_state(kernel(), q))
                 for q in sv.open_questions(session, covers)]
    return render_template(
        "self_governance/committee.html",
        agenda=agenda,
        questions=questions,
        queue=sv.moderation_queue(session),
    )


# ----------------------------------------------------------------------------- rounds


@bp.route("/evaluation/new", methods=["GET", "POST"])
@require(MANAGE_VOTES)
def round_new():
    """Open the yearly democratic evaluation (民主评议) of the committee members: the same
    service as ``shequ self-governance evaluation``."""
    session = current_session()
    form = RoundForm()
    form.community.choices = community_choices()
    if request.method == "GET":
        form.year.data = utc_to_local(utcnow()).year  # the year where the community is
    if not form.community.choices and request.method == "POST":
        form.community.errors = [_("Community: you act for no community yet. Ask an "
                                   "administrator to assign you one.")]
    elif form.validate_on_submit() and not covers(form.community.data):
        form.community.errors = [_("Community: choose one of the communities listed.")]
    elif form.validate_on_submit():
        members, bad = [], 0
        for n, line in enumerate((form.members.data or "").splitlines(), 1):
            if not line.strip():
                continue
            name, _sep, post = line.partition("|")
            if not name.strip():
                bad = n
                break
            members.append((name.strip()[:50], post.strip()[:50]))
        if bad or not members:
            form.members.errors = [_(
                "Committee members to rate: line %(n)s has no name. Write name | post, "
                "such as Liu Min | Director.", n=bad or 1)]
        else:
            try:
                rnd = sv.create_round(
                    session, community=form.community.data, year=form.year.data,
                    members=members, closes_at=utcnow() + timedelta(days=form.days.data),
                )
            except sv.GovernanceError as exc:
                session.rollback()
                fail(form, exc)
            else:
                session.commit()
                flash(_("The evaluation %(year)s is open for %(n)s members until %(when)s.",
                        year=rnd.year, n=len(members),
                        when=format_datetime(rnd.closes_at, "short")), "success")
                return redirect(url_for("self_governance.evaluation"))
    return render_template(
        "self_governance/form.html", form=form, title=_("Open the yearly evaluation")
    ), 400 if form.errors else 200


# ----------------------------------------------------------------------------- group reps


@bp.route("/group-reps/", methods=["GET", "POST"])
@require(MANAGE_VOTES)
def group_reps():
    """Residents' group representatives (who vote in ``group_rep`` votes): the list, a
    resident search to pick from, and naming one — the page for
    ``shequ self-governance group-rep``. Everyone shown is in their access log."""
    session = current_session()
    choices = community_choices()
    codes = [c.value for c in choices]
    community = request.values.get("community") or (codes[0] if codes else "")
    if community and community not in codes:
        abort(404)
    form, error, status = RepForm(), None, 200
    if request.method == "POST" and community:
        if form.validate_on_submit():
            try:
                sv.name_group_rep(session, kernel(), community=community,
                                  person_id=form.person_id.data,
                                  group_name=form.group_name.data, actor=current_principal())
            except sv.GovernanceError as exc:
                session.rollback()
                error, status = exc.text(), 400
            else:
                session.commit()
                flash(_("The representative is named."), "success")
                return redirect(url_for("self_governance.group_reps", community=community))
        else:
            error = next((str(m) for errs in form.errors.values() for m in errs),
                         _("Resident: choose a resident from the search results."))
            status = 400
    query = (request.args.get("q") or "").strip()[:50]
    found = sv.find_residents(session, kernel(), community, query,
                              actor=current_principal()) if community else []
    reps = sv.group_reps(session, kernel(), community, actor=current_principal()) \
        if community else []
    session.commit()  # the access-log entries
    return render_template(
        "self_governance/group_reps.html", choices=choices, community=community, reps=reps,
        query=query, found=found, error=error, form=form, action_form=ActionForm(),
    ), status


@bp.route("/group-reps/<int:rep_id>/remove", methods=["POST"])
@require(MANAGE_VOTES)
def group_rep_remove(rep_id: int):
    session = current_session()
    rep = get_or_404(GroupRep, rep_id)
    require_covers(rep.community)
    if ActionForm().validate_on_submit():
        sv.remove_group_rep(session, rep)
        session.commit()
        flash(_("The representative is removed."), "success")
    return redirect(url_for("self_governance.group_reps", community=rep.community))
