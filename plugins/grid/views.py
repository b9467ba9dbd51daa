"""Pages, mounted by core at ``/grid``. Thin: the rules are in ``services``."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from core.toolkit import current_session, has_permission, plugin_settings, require
from plugins.grid import MANAGE, READ, info
from plugins.grid.services import ItemError, create_item, recent_items

bp = Blueprint("grid", __name__, template_folder="templates")


class ItemForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])


@bp.route("/", methods=["GET", "POST"])
@require(READ)
def index():
    may_manage = has_permission(current_user, MANAGE)
    if request.method == "POST" and not may_manage:
        abort(403)
    form = ItemForm()
    session = current_session()
    if may_manage and form.validate_on_submit():
        try:
            create_item(session, title=form.title.data, created_by_id=current_user.id)
        except ItemError as exc:
            getattr(form, exc.field).errors.append(_(str(exc)))
        else:
            session.commit()
            flash(_("Item added."), "success")
            return redirect(url_for("grid.index"))
    page_size = plugin_settings(info.id)["page_size"]
    return render_template(
        "grid/index.html", form=form, may_manage=may_manage,
        items=recent_items(session, limit=page_size),
    ), 400 if form.errors else 200
