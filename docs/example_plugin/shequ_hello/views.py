"""Pages, mounted by core at ``/hello``. Thin: the rules are in ``services``."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from core.toolkit import (
    current_kernel,
    current_session,
    has_permission,
    plugin_settings,
    require,
)
from shequ_hello import READ, SEND, info
from shequ_hello.services import GreetingError, recent_greetings, send_greeting

bp = Blueprint("hello", __name__, template_folder="templates")


class GreetingForm(FlaskForm):
    recipient = StringField(_l("To"), validators=[DataRequired(), Length(max=100)])
    message = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=500)])


def settings() -> dict:
    """This plugin's validated ``[plugins.hello]`` settings."""
    return plugin_settings(info.id)


@bp.route("/", methods=["GET", "POST"])
@require(READ)
def index():
    form = GreetingForm()
    may_send = has_permission(current_user, SEND)
    if may_send and form.validate_on_submit():
        session = current_session()
        bus = current_kernel().bus
        try:
            send_greeting(session, bus, sender_id=current_user.id,
                          recipient=form.recipient.data, message=form.message.data)
        except GreetingError as exc:
            getattr(form, exc.field).errors.append(str(exc))
        else:
            session.commit()
            flash(_("Greeting sent."), "success")
            return redirect(url_for("hello.index"))
    status = 400 if form.errors else 200
    return render_template(
        "hello/index.html", form=form, may_send=may_send, greeting=settings()["greeting"],
        greetings=recent_greetings(current_session()),
    ), status
