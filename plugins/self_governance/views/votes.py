"""Votes: the list, a vote's page and result (public), casting a ballot (a personal act),
and the committee's close, roll and new-vote form."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.toolkit import (
    current_principal,
    current_session,
    has_permission,
    require,
    require_personal,
    utcnow,
)
from plugins.self_governance import CAST, MANAGE_VOTES
from plugins.self_governance import services as sv
from plugins.self_governance.models import (
    Vote,
)
from plugins.self_governance.views.common import (
    assisted,
    bp,
    community_choices,
    covers,
    fail,
    get_or_404,
    kernel,
    local_to_utc,
    my_person,
    require_covers,
    utc_to_local,
)
from plugins.self_governance.views.forms import (
    MATTER_LABELS,
    ActionForm,
    VoteForm,
)


@bp.route("/votes/")
def votes():
    """Public: votes and, once counted, their results."""
    session = current_session()
    sv.close_due_votes(session, kernel(), kernel().bus)
    session.commit()
    rows = list(session.scalars(select(Vote).order_by(Vote.closes_at.desc()).limit(100)))
    mine = {}
    if my_person() is not None:  # the resident's own state on each open vote
        mine = {
            v.id: sv.voter_status(session, kernel(), v, my_person())
            for v in rows
            if sv.vote_state(v) == "open"
        }
    return render_template(
        "self_governance/votes.html",
        votes=rows,
        mine=mine,
        state=sv.vote_state,
        may_manage=has_permission(current_user, MANAGE_VOTES),
    )


@bp.route("/votes/<int:vote_id>")
def vote(vote_id: int):
    """Public: the question and rules; the ballot for an eligible verified resident;
    the result after the close (counted on the way if nobody has yet)."""
    session = current_session()
    item = get_or_404(Vote, vote_id)
    if sv.vote_state(item) == "due":
        try:
            sv.close_vote(session, kernel(), kernel().bus, item)
        except sv.GovernanceError as exc:  # a box that cannot be opened: nothing written
            session.rollback()
            return _vote_page(session, item, ActionForm(), 409, exc.text())
        session.commit()
    elif sv.vote_state(item) == "open" and item.frozen_at is None:
        sv.ensure_frozen(session, kernel(), item)  # the first look after the opening
        session.commit()
    return _vote_page(session, item, ActionForm())


def _vote_page(
    session: Any, item: Vote, form: FlaskForm, status: int = 200, error: str | None = None
) -> Any:
    me = None
    if current_user.is_authenticated:
        me = sv.voter_status(session, kernel(), item, my_person())
    return render_template(
        "self_governance/vote.html",
        vote=item,
        options=sv.vote_options(session, item.id),
        state=sv.vote_state(item),
        me=me,
        form=form,
        error=error,
        assisted=assisted(),
        may_manage=has_permission(current_user, MANAGE_VOTES) and covers(item.community),
        matters=MATTER_LABELS,
    ), status


@bp.route("/votes/<int:vote_id>/ballot", methods=["POST"])
@require_personal(CAST)
def ballot(vote_id: int):
    """Cast a ballot in two steps, without JavaScript: the choice posted from the vote page
    is shown back on a confirmation page ("you cannot change it after submitting"); only
    the confirmation (``confirmed=1``) casts it, then the receipt page follows. A personal
    act, never in the assisted channel (403)."""
    session = current_session()
    item = get_or_404(Vote, vote_id)
    form = ActionForm()
    if not form.validate_on_submit():
        return _vote_page(session, item, form, 400)
    selection = request.form.getlist("choice")
    if request.form.get("confirmed") != "1":
        try:
            chosen = sv.check_selection(session, item, selection)
        except sv.GovernanceError as exc:
            return _vote_page(session, item, form, 400, exc.text())
        me = sv.voter_status(session, kernel(), item, my_person())
        if me["voted"]:
            return _vote_page(session, item, form, 409, _(
                "A vote has already been cast for you (or your household)."))
        if not me["eligible"]:
            return _vote_page(session, item, form, 409, _(me["reason"]) if me["reason"]
                              else _("You cannot vote in this vote."))
        labels = {o.code: o for o in sv.vote_options(session, item.id)}
        return render_template(
            "self_governance/vote_confirm.html", vote=item, form=form,
            chosen=[labels[c] for c in chosen],
        )
    try:
        sv.cast_ballot(
            session,
            kernel(),
            item,
            person_id=my_person(),
            user_id=current_user.id,
            selection=selection,
        )
        session.commit()
    except sv.AlreadyVoted as exc:
        session.rollback()
        return _vote_page(session, item, form, 409, exc.text())
    except IntegrityError:
        session.rollback()
        return _vote_page(
            session, item, form, 409, _("A vote has already been cast for you (or your household).")
        )
    except sv.GovernanceError as exc:
        return _vote_page(session, item, form, 400, exc.text())
    return redirect(url_for("self_governance.vote_receipt", vote_id=item.id))


@bp.route("/votes/<int:vote_id>/receipt")
@require_personal(CAST)
def vote_receipt(vote_id: int):
    """The voter's receipt: the code with which they (or anyone they show it to) can
    check that their ballot is on the roll and counted. A secret ballot's receipt says
    nothing of the choice; an open ballot's page repeats the public choice."""
    session = current_session()
    item = get_or_404(Vote, vote_id)
    row = sv.my_roll_row(session, item, my_person())
    if row is None:
        return redirect(url_for("self_governance.vote", vote_id=item.id))
    labels = {o.code: o for o in sv.vote_options(session, item.id)}
    choice = [labels[c] for c in (row.public_choice or "").split(",") if c in labels]
    return render_template(
        "self_governance/vote_receipt.html", vote=item, row=row, choice=choice,
        state=sv.vote_state(item),
    )


@bp.route("/votes/<int:vote_id>/check")
def vote_check(vote_id: int):
    """Public: what a receipt code proves (on the roll; counted once the vote is), never
    who voted nor how."""
    session = current_session()
    item = get_or_404(Vote, vote_id)
    code = (request.args.get("receipt") or "").strip()[:40]
    found, error = None, None
    if code:
        found = sv.check_receipt(session, item, code)
        if found is None:
            error = _("No ballot of this vote has the receipt %(code)s. Check the code on "
                      "your receipt: two groups of five letters and digits, such as "
                      "K7P2M-9QX4T.", code=sv.normalise_receipt(code))
    elif "receipt" in request.args:
        error = _("Enter the receipt code: two groups of five letters and digits, such as "
                  "K7P2M-9QX4T.")
    return render_template(
        "self_governance/vote_check.html", vote=item, code=code, found=found, error=error,
    ), 400 if error else 200


@bp.route("/votes/<int:vote_id>/close", methods=["POST"])
@require(MANAGE_VOTES)
def vote_close(vote_id: int):
    session = current_session()
    item = get_or_404(Vote, vote_id)
    require_covers(item.community)
    if ActionForm().validate_on_submit():
        try:
            sv.close_vote(session, kernel(), kernel().bus, item)
        except sv.GovernanceError as exc:
            session.rollback()
            flash(exc.text(), "error")
        else:
            session.commit()
            flash(_("The vote is counted."), "success")
    return redirect(url_for("self_governance.vote", vote_id=item.id))


@bp.route("/votes/<int:vote_id>/roll")
@require(MANAGE_VOTES)
def vote_roll(vote_id: int):
    """The committee's view of who has voted (never what: a secret vote's roll holds no
    choice). Names come through the scoped reader under the member's own place scope,
    and each person shown gets an entry in their access log."""
    session = current_session()
    item = get_or_404(Vote, vote_id)
    require_covers(item.community)
    rows = sv.vote_roll(session, kernel(), item, actor=current_principal())
    session.commit()  # the access-log entries
    return render_template(
        "self_governance/roll.html", vote=item, rows=rows, state=sv.vote_state(item)
    )


@bp.route("/votes/<int:vote_id>/electorate")
@require(MANAGE_VOTES)
def vote_electorate(vote_id: int):
    """The committee's check of the electorate: before the opening, who would vote if
    it opened now (count, total area, the list with names masked), and the button to
    open it now; after, the frozen electorate with the time and registry state it came
    from. Each person listed gets an entry in their access log."""
    session = current_session()
    item = get_or_404(Vote, vote_id)
    require_covers(item.community)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100000)
    preview = sv.electorate_preview(session, kernel(), item, actor=current_principal(),
                                    page=page)
    session.commit()  # the access-log entries
    return render_template(
        "self_governance/electorate.html",
        vote=item,
        preview=preview,
        state=sv.vote_state(item),
        form=ActionForm(),
        matters=MATTER_LABELS,
    )


@bp.route("/votes/<int:vote_id>/open", methods=["POST"])
@require(MANAGE_VOTES)
def vote_open(vote_id: int):
    """Open an upcoming vote now, freezing its electorate as the committee just saw it."""
    session = current_session()
    item = get_or_404(Vote, vote_id)
    require_covers(item.community)
    if ActionForm().validate_on_submit():
        try:
            sv.open_vote_now(session, kernel(), item)
        except sv.GovernanceError as exc:
            session.rollback()
            flash(exc.text(), "error")
        else:
            session.commit()
            flash(_("The vote is open; its electorate is frozen."), "success")
    return redirect(url_for("self_governance.vote_electorate", vote_id=item.id))


@bp.route("/votes/new", methods=["GET", "POST"])
@require(MANAGE_VOTES)
def vote_new():
    form = VoteForm()
    form.community.choices = community_choices()
    if request.method == "GET":
        now = utc_to_local(utcnow().replace(second=0, microsecond=0))
        form.opens_at.data = now
        form.closes_at.data = now + timedelta(days=7)
    if not form.community.choices:
        form.community.description = _("You act for no community yet: ask an "
                                       "administrator to assign you one.")
    if not form.community.choices and request.method == "POST":
        form.community.errors = [_("Community: you act for no community yet. Ask an "
                                   "administrator to assign you one.")]
    elif form.validate_on_submit() and not covers(form.community.data):
        form.community.errors = [_("Community: choose one of the communities listed.")]
    elif form.validate_on_submit():
        session = current_session()
        try:
            item = sv.create_vote(
                session,
                community=form.community.data,
                title=form.title.data,
                description=form.description.data or "",
                kind=form.kind.data,
                electorate=form.electorate.data,
                quorum=form.quorum.data,
                pass_rule=form.pass_rule.data,
                secret=form.secret.data,
                opens_at=local_to_utc(form.opens_at.data),
                closes_at=local_to_utc(form.closes_at.data),
                candidates=(form.candidates.data or "").splitlines(),
                seats=form.seats.data or 1,
                created_by_id=current_user.id,
                matter=form.matter.data or None,
            )
        except sv.GovernanceError as exc:
            fail(form, exc)
        else:
            if sv.vote_state(item) == "open":  # opens at once: its electorate is fixed now
                sv.ensure_frozen(session, kernel(), item)
                message = _("The vote is open now; its electorate is frozen.")
            else:
                message = _("The vote is set up. Check its electorate before it opens.")
            session.commit()
            flash(message, "success")
            return redirect(url_for("self_governance.vote_electorate", vote_id=item.id))
    return render_template(
        "self_governance/form.html", form=form, title=_("Set up a vote")
    ), 400 if form.errors else 200
