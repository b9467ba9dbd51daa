"""Sign-in and sign-out pages. Thin: the rules are in ``core.identity.services``."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from core.db import current_session
from core.identity.services import authenticate, end_sessions, resolve_permissions

bp = Blueprint("identity", __name__, url_prefix="/account")


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])


def safe_next(target: str | None) -> str:
    """Only a relative path on this site: an absolute or scheme-relative URL would make the
    login page an open redirect."""
    if not target:
        return url_for("web.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("web.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        from core.identity import Principal

        session = current_session()
        hasher = current_app.extensions["shequ.hasher"]
        user = authenticate(session, hasher, form.username.data.strip(), form.password.data)
        if user is None:
            session.commit()
            form.password.errors.append(_("The username or password is not right."))
        else:
            session.commit()
            kernel = current_app.extensions["shequ"]
            principal = Principal(user, resolve_permissions(user.role_names, kernel.roles))
            login_user(principal)
            flash(_("Signed in."), "success")
            return redirect(safe_next(request.args.get("next")))
    return render_template("identity/login.html", form=form), 200 if not form.errors else 400


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        session = current_session()
        user = session.merge(current_user.user)
        end_sessions(user)
        session.commit()
    logout_user()
    flash(_("Signed out."), "success")
    return redirect(url_for("web.home"))
