"""Sign-in, sign-out and password pages. Thin: the rules are in ``core.identity.services``."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from core.audit.services import log_audit
from core.audit.web import request_facts
from core.current import current_kernel
from core.db import current_session
from core.identity import limits, require_personal, session_row
from core.identity.services import (
    IdentityError,
    authenticate,
    change_password,
    end_session,
    find_login,
    mask_login,
    start_session,
)

bp = Blueprint("identity", __name__, url_prefix="/account")


class LoginForm(FlaskForm):
    username = StringField(
        _l("Username or mobile number"),
        validators=[
            DataRequired(message=_l("Enter your username or mobile number")),
            Length(max=64),
        ],
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(message=_l("Enter your password")), Length(max=128)],
    )


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(message=_l("Enter your current password")), Length(max=128)],
    )
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(message=_l("Enter a new password")), Length(max=128)],
    )


def safe_next(target: str | None) -> str:
    """Only a relative path on this site: an absolute or scheme-relative URL would make the
    login page an open redirect."""
    if not target:
        return url_for("web.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("web.home")
    if "\\" in target:
        return url_for("web.home")
    return target


def login_rate_limits() -> list[str]:
    cfg = current_kernel().config.identity
    return [cfg["login_failures_per_account"], cfg["login_failures_per_ip"]]


def _account_limit() -> str:
    return current_kernel().config.identity["login_failures_per_account"]


def _ip_limit() -> str:
    return current_kernel().config.identity["login_failures_per_ip"]


@bp.route("/login", methods=["GET", "POST"])
@limits.limiter.limit(
    _account_limit,
    key_func=limits.login_key,
    deduct_when=limits.failed,
    methods=["POST"],
    scope="login-account",
)
@limits.limiter.limit(_ip_limit, deduct_when=limits.failed, methods=["POST"], scope="login-ip")
def login():
    form = LoginForm()
    status = 200
    if request.method == "POST":
        status = 400
    if form.validate_on_submit():
        from core.identity import Principal

        session = current_session()
        hasher = current_kernel().hasher
        facts = request_facts()
        user = authenticate(session, hasher, form.username.data, form.password.data)
        if user is None:
            known = find_login(session, form.username.data)
            log_audit(
                session,
                "auth.login.failed",
                actor=known,
                outcome="failed",
                detail={"login": mask_login(form.username.data)},
                facts=facts,
            )
            session.commit()
            form.password.errors.append(_("The username or password is not right."))
            status = 401
        else:
            row, token = start_session(
                session, user, ip=facts.get("ip", ""), user_agent=facts.get("user_agent", "")
            )
            log_audit(session, "auth.login.succeeded", actor=user, facts=facts)
            session.commit()
            kernel = current_kernel()
            from core.identity.services import resolve_permissions

            principal = Principal(
                user,
                resolve_permissions(user.role_names, kernel.roles_now()),
                token=token,
                session_row_id=row.id,
            )
            login_user(principal)
            flash(_("Signed in."), "success")
            if user.must_change_password:
                return redirect(url_for("identity.password"))
            return redirect(safe_next(request.args.get("next")))
    return render_template("identity/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated and not current_user.via_token:
        session = current_session()
        row = session_row()
        if row is not None:
            end_session(session, row, "logout")
        log_audit(session, "auth.logout", actor=current_user.actor, facts=request_facts())
        session.commit()
    logout_user()
    flash(_("Signed out."), "success")
    return redirect(url_for("web.home"))


@bp.route("/password", methods=["GET", "POST"])
@require_personal("identity.own.password", verified=False)
def password():
    """Change the password after re-entering the current one; other sessions end. Never
    in the assisted channel (a credential is personal)."""
    form = PasswordForm()
    status = 200 if request.method == "GET" else 400
    if form.validate_on_submit():
        session = current_session()
        user = session.merge(current_user.user)
        cfg = current_kernel().config.identity
        try:
            change_password(
                session,
                current_kernel().hasher,
                user,
                current=form.current_password.data,
                new=form.password.data,
                min_length=cfg["password_min_length"],
                keep_session_id=current_user.session_row_id,
            )
        except IdentityError as exc:
            target = form.current_password if exc.field == "current_password" else form.password
            target.errors = [*target.errors, _(exc.message, **exc.params)]
        else:
            log_audit(session, "auth.password.changed", actor=user, facts=request_facts())
            session.commit()
            flash(
                _("Your password has been changed. Other devices have been signed out."), "success"
            )
            return redirect(url_for("web.home"))
    return render_template("identity/password.html", form=form), status
