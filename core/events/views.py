"""``/admin/events``: delivery counts, dead letters and their redelivery.

Dead letters are the one part of the event bus that needs a person: something failed
``events.max_attempts`` times, and after fixing the cause an admin sends it again. The
page reads with ``core.events.read``; retrying needs ``core.events.retry``.

A web-layer module (it checks permissions through ``core.identity``), so the bus never
imports it: ``create_app`` registers :data:`bp` (docs/architecture.md, "Layers").
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from core.current import current_kernel
from core.db import current_session
from core.events.delivery import list_deliveries, retry_dead, status_counts
from core.identity import has_permission, require

bp = Blueprint("events_admin", __name__)

#: Dead letters shown on the page; the CLI (``shequ events dead --limit``) shows more.
PAGE_LIMIT = 100


@bp.route("/admin/events")
@require("core.events.read")
def admin_events():
    kernel = current_kernel()
    session = current_session()
    counts = status_counts(session)
    dead = list_deliveries(session, status="dead", limit=PAGE_LIMIT)
    known = set(kernel.bus.subscribers)
    return render_template(
        "admin/events.html",
        counts=counts,
        dead=dead,
        dead_limit=PAGE_LIMIT,
        known=known,
        mode=kernel.bus.settings["delivery"],
        can_retry=has_permission(current_user, "core.events.retry"),
    )


@bp.route("/admin/events/retry", methods=["POST"])
@require("core.events.retry")
def admin_events_retry():
    """Retry one dead letter (``delivery_id``) or all of them (``all``)."""
    kernel = current_kernel()
    session = current_session()
    if request.form.get("all"):
        count = retry_dead(session)
    else:
        try:
            ids = [int(v) for v in request.form.getlist("delivery_id")]
        except ValueError:
            ids = []
        if not ids:
            flash(_("Choose a dead letter to retry."), "error")
            return redirect(url_for("events_admin.admin_events"))
        count = retry_dead(session, ids=ids)
    session.commit()
    kernel.bus.wake()
    flash(_("%(count)s deliveries will be retried.", count=count), "success")
    return redirect(url_for("events_admin.admin_events"))
