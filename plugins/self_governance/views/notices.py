"""The start page and the notices: reading (public: disclosure), marking read, and the
committee's publishing form."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from core.toolkit import (
    current_session,
    has_permission,
    require,
)
from plugins.self_governance import PUBLISH, info
from plugins.self_governance import services as sv
from plugins.self_governance.models import (
    Notice,
    Proposal,
    Vote,
)
from plugins.self_governance.views.common import (
    bp,
    building_choices,
    community_choices,
    covers,
    fail,
    get_or_404,
    kernel,
    local_to_utc,
    my_community,
    viewer_buildings,
)
from plugins.self_governance.views.forms import (
    NoticeForm,
)


@bp.route("/")
def index():
    """Public: the community's notice board and what is open for residents now."""
    session = current_session()
    community = my_community()
    notices = sv.visible_notices(session, community, limit=5, buildings=viewer_buildings())
    votes = list(
        session.scalars(
            select(Vote).where(Vote.closed_at.is_(None)).order_by(Vote.closes_at).limit(5)
        )
    )
    proposals = list(
        session.scalars(
            select(Proposal)
            .where(Proposal.status != "draft")
            .order_by(Proposal.created_at.desc())
            .limit(5)
        )
    )
    return render_template(
        "self_governance/index.html",
        info=info,
        notices=notices,
        votes=votes,
        proposals=proposals,
        state=sv.vote_state,
        committee=has_permission(current_user, PUBLISH),
    )


# ----------------------------------------------------------------------------- notices


@bp.route("/notices/")
def notices():
    """Public: disclosure of residents' affairs is public by law."""
    session = current_session()
    rows = sv.visible_notices(session, my_community(), limit=100, buildings=viewer_buildings())
    return render_template(
        "self_governance/notices.html",
        notices=rows,
        counts=sv.read_counts(session, [n.id for n in rows]),
        committee=has_permission(current_user, PUBLISH),
    )


@bp.route("/notices/<int:notice_id>")
def notice(notice_id: int):
    """Public; a signed-in reader is counted once."""
    session = current_session()
    item = get_or_404(Notice, notice_id)
    if item.building_id is not None:
        allowed = viewer_buildings()
        if allowed is None or not allowed(item.building_id):
            abort(404)
    if current_user.is_authenticated:
        sv.mark_read(session, item, current_user.id)
        session.commit()
    count = sv.read_counts(session, [item.id]).get(item.id, 0)
    return render_template("self_governance/notice.html", notice=item, count=count)


@bp.route("/notices/new", methods=["GET", "POST"])
@require(PUBLISH)
def notice_new():
    form = NoticeForm()
    form.community.choices = community_choices(every=True)
    form.building.choices = building_choices(form.community.choices)
    if request.method == "GET" and form.community.choices:
        form.community.data = next((c.value for c in form.community.choices if c.value), "")
    building = int(form.building.data) if (form.building.data or "").isdigit() else None
    if not form.community.choices:
        form.community.description = _("You act for no community yet: ask an "
                                       "administrator to assign you one.")
    if not form.community.choices and request.method == "POST":
        form.community.errors = [_("Community: you act for no community yet. Ask an "
                                   "administrator to assign you one.")]
    elif form.validate_on_submit() and not covers(form.community.data or None):
        form.community.errors = [_("Community: choose one of the communities listed.")]
    elif form.validate_on_submit() and building and not form.community.data:
        form.community.errors = [_("Community: choose the community of the building.")]
    elif (
        form.validate_on_submit()
        and building
        and building not in sv.community_buildings(current_session(), kernel(),
                                                   form.community.data)
    ):
        form.building.errors = [_("Building: choose a building of the community chosen "
                                  "above, or the whole community.")]
    elif form.validate_on_submit():
        session = current_session()
        try:
            item = sv.publish_notice(
                session,
                title=form.title.data,
                body=form.body.data or "",
                community=form.community.data or None,
                building_id=building,
                author_id=current_user.id,
                pinned=form.pinned.data,
                expires_at=local_to_utc(form.expires_at.data),
                attachment_url=form.attachment_url.data or None,
            )
        except sv.GovernanceError as exc:
            fail(form, exc)
        else:
            session.commit()
            flash(_("Notice published."), "success")
            return redirect(url_for("self_governance.notice", notice_id=item.id))
    return render_template(
        "self_governance/form.html", form=form, title=_("Publish a notice")
    ), 400 if form.errors else 200
