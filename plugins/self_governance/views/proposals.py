"""Residents' proposals: the list and timeline (public), making and supporting one, and the
committee's answer and implementation progress."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from core.toolkit import (
    current_session,
    has_permission,
    require,
    require_verified,
)
from plugins.self_governance import ANSWER
from plugins.self_governance import services as sv
from plugins.self_governance.models import (
    Proposal,
)
from plugins.self_governance.views.common import (
    bp,
    fail,
    get_or_404,
    kernel,
    my_community,
    my_person,
    require_covers,
    settings,
)
from plugins.self_governance.views.forms import (
    ActionForm,
    AnswerForm,
    ProgressForm,
    ProposalForm,
)


@bp.route("/proposals/")
def proposals():
    """Public: every proposal with its support and official answer (accountability)."""
    session = current_session()
    sv.expire_proposals(session)
    session.commit()
    rows = list(
        session.scalars(
            select(Proposal).where(Proposal.status != "draft").order_by(Proposal.created_at.desc())
        )
    )
    return render_template(
        "self_governance/proposals.html",
        proposals=rows,
        may_propose=getattr(current_user, "is_verified", False),
    )


@bp.route("/proposals/new", methods=["GET", "POST"])
@require_verified
def proposal_new():
    form = ProposalForm()
    if form.validate_on_submit():
        session = current_session()
        community = my_community()
        if community is None:
            form.form_errors.append(_("You are not a registered resident of a community."))
        else:
            try:
                item = sv.create_proposal(
                    session,
                    community=community,
                    author_id=current_user.id,
                    title=form.title.data,
                    body=form.body.data,
                    threshold=settings()["proposal_threshold"],
                    support_days=settings()["proposal_support_days"],
                )
            except sv.GovernanceError as exc:
                fail(form, exc)
            else:
                session.commit()
                flash(_("Your proposal is open for support."), "success")
                return redirect(url_for("self_governance.proposal", proposal_id=item.id))
    return render_template(
        "self_governance/form.html", form=form, title=_("Make a proposal")
    ), 400 if form.errors else 200


@bp.route("/proposals/<int:proposal_id>")
def proposal(proposal_id: int):
    """Public: the proposal, its timeline and the committee's answer."""
    session = current_session()
    item = get_or_404(Proposal, proposal_id)
    if item.status == "draft" and item.author_id != getattr(current_user, "id", None):
        abort(404)
    supported = False
    if my_person() is not None:
        from plugins.self_governance.models import Support

        supported = (
            session.scalar(
                select(Support.id).where(
                    Support.proposal_id == item.id, Support.person_id == my_person()
                )
            )
            is not None
        )
    return render_template(
        "self_governance/proposal.html",
        proposal=item,
        timeline=sv.proposal_timeline(session, item.id),
        supported=supported,
        may_support=getattr(current_user, "is_verified", False),
        may_answer=has_permission(current_user, ANSWER),
        form=ActionForm(),
        answer_form=AnswerForm(),
        progress_form=ProgressForm(),
    )


@bp.route("/proposals/<int:proposal_id>/support", methods=["POST"])
@require_verified
def support(proposal_id: int):
    session = current_session()
    item = get_or_404(Proposal, proposal_id)
    if ActionForm().validate_on_submit():
        try:
            sv.support_proposal(session, item, person_id=my_person(), community=my_community())
        except sv.GovernanceError as exc:
            flash(exc.text(), "error")
        else:
            session.commit()
            flash(_("Thank you: your support is counted."), "success")
    return redirect(url_for("self_governance.proposal", proposal_id=item.id))


@bp.route("/proposals/<int:proposal_id>/answer", methods=["POST"])
@require(ANSWER)
def proposal_answer(proposal_id: int):
    session = current_session()
    item = get_or_404(Proposal, proposal_id)
    require_covers(item.community)
    form = AnswerForm()
    if form.validate_on_submit():
        try:
            sv.answer_proposal(
                session,
                kernel().bus,
                item,
                answer=form.answer.data,
                reason=form.reason.data,
                by_id=current_user.id,
            )
        except sv.GovernanceError as exc:
            flash(exc.text(), "error")
        else:
            session.commit()
            flash(_("The answer is published."), "success")
    else:
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
    return redirect(url_for("self_governance.proposal", proposal_id=item.id))


@bp.route("/proposals/<int:proposal_id>/progress", methods=["POST"])
@require(ANSWER)
def proposal_progress(proposal_id: int):
    session = current_session()
    item = get_or_404(Proposal, proposal_id)
    require_covers(item.community)
    form = ProgressForm()
    if form.validate_on_submit():
        try:
            sv.update_implementation(
                session,
                item,
                status=form.status.data,
                note=form.note.data or "",
                by_id=current_user.id,
            )
        except sv.GovernanceError as exc:
            flash(exc.text(), "error")
        else:
            session.commit()
            flash(_("Progress recorded."), "success")
    return redirect(url_for("self_governance.proposal", proposal_id=item.id))
