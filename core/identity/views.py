"""Sign-in, sign-out, password and password-reset pages (blueprint ``identity``).

Thin: the rules are in ``core.identity.services`` (accounts, ``recovery``) and the counting
in ``core.identity.limits``. Sign-in takes one step, or two while the account is being
attacked (the password, then a code sent to the account's proved phone or e-mail; see
``core.identity.limits``). The reset takes two: the account's name, then the code and the
new password. Between steps the pending state is in the signed session cookie, holding
nothing that says whether an account exists or a password was right; a hidden ``step``
field (``code``, ``resend``) says which form of the page was sent.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask import session as cookie
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from core.audit.services import log_audit
from core.audit.web import request_facts
from core.current import current_kernel
from core.db import current_session, utcnow
from core.identity import limits, otp, require_personal, session_row
from core.identity.models import User
from core.identity.services import (
    CODE_NOT_RIGHT,
    RESET_PENDING_SECONDS,
    IdentityError,
    authenticate,
    change_password,
    confirm_reset,
    end_session,
    find_login,
    login_channel,
    login_proof,
    mask_login,
    password_reset_notice,
    proof_holds,
    request_reset,
    start_session,
)
from core.web.forms import Length

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


class LoginCodeForm(FlaskForm):
    code = StringField(
        _l("Code from the message"),
        validators=[
            DataRequired(message=_l("Enter the 6-digit code from the message.")),
            Length(max=12, message=_l("Code from the message: enter the 6 digits it gives.")),
        ],
    )


class ResetForm(FlaskForm):
    login = StringField(
        _l("Username, mobile number or e-mail address"),
        validators=[
            DataRequired(message=_l("Enter your username, mobile number or e-mail address")),
            Length(max=200),
        ],
    )


class ResetCodeForm(LoginCodeForm):
    """The code field of the sign-in code step, and the new password."""

    password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(message=_l("Enter a new password")),
            Length(max=128),
        ],
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


LOGIN_KEY = "login_pending"
RESET_KEY = "reset_pending"
#: How long the sign-in code step waits for its code before the password is asked again.
LOGIN_PENDING_SECONDS = 600


def page_locale() -> str:
    return str(get_locale() or "zh")


def wait_text(seconds: int) -> str:
    """"Try again in X minutes", in the page's language (the wait rounded up)."""
    minutes = limits.wait_minutes(seconds)
    if minutes == 1:
        return _("Too many tries. Try again in 1 minute.")
    return _("Too many tries. Try again in %(minutes)s minutes.", minutes=minutes)


def _too_many(template: str, form: FlaskForm, seconds: int, **context: Any):
    form.form_errors.append(wait_text(seconds))
    return (render_template(template, form=form, **context), 429,
            {"Retry-After": str(max(int(seconds), 1))})


def _signed_in(user: User, *, with_code: bool, account: str):
    """Start the session and go on: the one way a sign-in ends well."""
    from core.identity import Principal
    from core.identity.services import resolve_permissions

    session = current_session()
    kernel = current_kernel()
    facts = request_facts()
    row, token = start_session(
        session, user, ip=facts.get("ip", ""), user_agent=facts.get("user_agent", "")
    )
    log_audit(session, "auth.login.succeeded", actor=user, facts=facts,
              detail={"with_code": True} if with_code else None)
    session.commit()
    limits.login_succeeded(account)
    cookie.pop(LOGIN_KEY, None)
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


def _failed(login: str, account: str, *, with_code: bool = False) -> None:
    session = current_session()
    detail: dict[str, Any] = {"login": mask_login(login)}
    if with_code:
        detail["with_code"] = True
    log_audit(session, "auth.login.failed", actor=find_login(session, login), outcome="failed",
              detail=detail, facts=request_facts())
    session.commit()
    limits.record_login_failure(account)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with the username (or mobile number) and password. While the account is
    being attacked from many addresses the page asks, after the password, for a code sent
    to the account's proved phone or e-mail — for every password, right or wrong, so the
    answer tells an attacker nothing (docs/account.md, "Sign-in limits")."""
    step = request.form.get("step", "") if request.method == "POST" else ""
    if step == "code":
        return _login_code()
    form = LoginForm()
    status = 200 if request.method == "GET" else 400
    if form.validate_on_submit():
        session = current_session()
        kernel = current_kernel()
        typed = form.username.data
        account = limits.account_key(typed)
        wait = limits.login_wait(account)
        if wait:
            return _too_many("identity/login.html", form, wait)
        user = authenticate(session, kernel.hasher, typed, form.password.data)
        if limits.login_needs_code(account):
            if user is not None:
                session.expire(user, ["last_login_at"])  # not signed in yet
            return _ask_for_code(user, typed, account)
        if user is None:
            _failed(typed, account)
            form.password.errors.append(_("The username or password is not right."))
            status = 401
        else:
            return _signed_in(user, with_code=False, account=account)
    return render_template("identity/login.html", form=form), status


def _ask_for_code(user: User | None, typed: str, account: str):
    """The account is under attack: ask for a code whatever the password was. It is sent
    only when the password was right and the account has a proved channel."""
    session = current_session()
    kernel = current_kernel()
    nonce = secrets.token_urlsafe(16)
    if user is None:
        _failed(typed, account)
    else:
        channel, recipient = login_channel(user)
        if channel:
            try:
                otp.issue_code(session, kernel, purpose="login", channel=channel,
                               recipient=recipient, user_id=user.id,
                               locale=user.locale or page_locale())
            except otp.CodeError:
                session.rollback()  # one went out a moment ago; it still works
        log_audit(session, "auth.login.code_asked", actor=user, facts=request_facts(),
                  detail={"channel": channel or "none"})
        session.commit()
    cookie[LOGIN_KEY] = {"login": typed.strip()[:64], "nonce": nonce,
                         "proof": login_proof(kernel, user, nonce),
                         "at": utcnow().timestamp()}
    return _code_page(LoginCodeForm(formdata=None), 401)


def _code_page(form: FlaskForm, status: int, headers: dict[str, str] | None = None):
    minutes = max(1, int(current_kernel().config.identity.get("otp_ttl_seconds", 300)) // 60)
    return render_template("identity/login_code.html", form=form, minutes=minutes), status, \
        headers or {}


def _login_code():
    """The code step of a sign-in under attack."""
    pending = cookie.get(LOGIN_KEY)
    if not isinstance(pending, dict) or (
            utcnow().timestamp() - float(pending.get("at", 0)) > LOGIN_PENDING_SECONDS):
        cookie.pop(LOGIN_KEY, None)
        form = LoginForm(formdata=None)
        form.form_errors.append(_("Your sign-in took too long. Enter your password again."))
        return render_template("identity/login.html", form=form), 400
    form = LoginCodeForm()
    if not form.validate_on_submit():
        return _code_page(form, 400)
    session = current_session()
    kernel = current_kernel()
    typed = str(pending.get("login", ""))
    account = limits.account_key(typed)
    wait = limits.login_wait(account)
    if wait:
        form.form_errors.append(wait_text(wait))
        return _code_page(form, 429, {"Retry-After": str(wait)})
    user = find_login(session, typed)
    good = proof_holds(kernel, user, str(pending.get("nonce", "")), str(pending.get("proof")))
    if good and user is not None:
        channel, recipient = login_channel(user)
        try:
            if not channel:
                raise otp.CodeError(CODE_NOT_RIGHT)
            otp.check_code(session, kernel, purpose="login", channel=channel,
                           recipient=recipient, code=form.code.data)
        except otp.CodeError:
            session.commit()  # a wrong try counts
            good = False
    if not good or user is None:
        _failed(typed, account, with_code=True)
        form.code.errors = [_(CODE_NOT_RIGHT)]
        return _code_page(form, 401)
    return _signed_in(user, with_code=True, account=account)


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


# ------------------------------------------------------------------------------ reset


def reset_throttle() -> int:
    """Seconds before this address may ask for another reset code (0: it may)."""
    rate = current_kernel().config.identity["password_resets_per_ip"]
    return limits.throttle_wait(rate, "reset-ip", limits.client_ip())


def reset_name_throttle(login: str) -> int:
    """One request per typed name per resend wait, known or not: a name that was just
    asked for answers the same whether or not it has an account."""
    wait = int(current_kernel().config.identity.get("otp_resend_seconds", 60))
    name = "".join((login or "").split()).lower()[:200]
    return limits.throttle_wait(f"1 per {wait} second", "reset-name", name)


def _pending_reset() -> dict[str, Any] | None:
    pending = cookie.get(RESET_KEY)
    if not isinstance(pending, dict):
        return None
    if utcnow().timestamp() - float(pending.get("at", 0)) > RESET_PENDING_SECONDS:
        cookie.pop(RESET_KEY, None)
        return None
    return pending


def reset_wait(login: str) -> tuple[int, str]:
    """Whether a reset code may be asked for ``login`` now: ``(0, "")``, or the seconds to
    wait and what to say (the address asked too often, or this name a moment ago)."""
    wait = reset_throttle()
    if wait:
        return wait, wait_text(wait)
    wait = reset_name_throttle(login)
    if wait:
        return wait, _("A code was sent a moment ago. Ask again in %(seconds)s seconds.",
                       seconds=wait)
    return 0, ""


def _send_reset(login: str) -> tuple[int, str]:
    """Ask for a reset code for ``login``; :func:`reset_wait`'s answer when throttled."""
    wait, text = reset_wait(login)
    if wait:
        return wait, text
    session = current_session()
    request_reset(session, current_kernel(), login=login, locale=page_locale(),
                  facts=request_facts(), otp=otp)
    session.commit()
    return 0, ""


@bp.route("/reset", methods=["GET", "POST"])
def reset():
    """"Forgot your password?": the account's name, then a code on its proved channel.
    The next page reads the same whatever was typed."""
    if current_user.is_authenticated:
        return redirect(url_for("identity.password"))
    form = ResetForm()
    status = 200 if request.method == "GET" else 400
    if form.validate_on_submit():
        typed = form.login.data.strip()[:200]
        wait, text = _send_reset(typed)
        if wait:
            form.form_errors.append(text)
            return (render_template("account/reset.html", form=form), 429,
                    {"Retry-After": str(wait)})
        cookie[RESET_KEY] = {"login": typed, "at": utcnow().timestamp()}
        return redirect(url_for("identity.reset_code"))
    return render_template("account/reset.html", form=form), status


@bp.route("/reset/code", methods=["GET", "POST"])
def reset_code():
    """The code and the new password. Every session ends, every token is revoked, the
    owner is told, and this page says they can sign in."""
    if current_user.is_authenticated:
        return redirect(url_for("identity.password"))
    pending = _pending_reset()
    if pending is None:
        if request.method == "POST":
            flash(_("Your reset took too long. Ask for a new code."), "error")
        return redirect(url_for("identity.reset"))
    step = request.form.get("step", "") if request.method == "POST" else ""
    form = ResetCodeForm() if step != "resend" else ResetCodeForm(formdata=None)
    status = 200 if request.method == "GET" else 400
    headers: dict[str, str] = {}
    sent_again = False
    kernel = current_kernel()
    cfg = kernel.config.identity
    if step == "resend":
        wait, text = _send_reset(str(pending["login"]))
        if wait:
            form.form_errors.append(text)
            status, headers = 429, {"Retry-After": str(wait)}
        else:
            cookie[RESET_KEY] = {**pending, "at": utcnow().timestamp()}
            sent_again, status = True, 200
    elif request.method == "POST" and limits.ip_wait():
        form.form_errors.append(wait_text(limits.ip_wait()))
        status, headers = 429, {"Retry-After": str(limits.ip_wait())}
    elif form.validate_on_submit():
        session = current_session()
        try:
            done = confirm_reset(
                session, kernel, kernel.hasher, login=str(pending["login"]),
                code=form.code.data, password=form.password.data,
                min_length=cfg["password_min_length"], facts=request_facts(),
                notice=password_reset_notice, otp=otp)
        except IdentityError as exc:
            session.commit()  # a wrong try counts, and the audit entry stays
            target = form.password if exc.field == "password" else form.code
            target.errors = [*target.errors, exc.text()]
            if exc.field != "password":
                limits.record_ip_failure()
            status = 422
        else:
            session.commit()
            cookie.pop(RESET_KEY, None)
            limits.login_succeeded(limits.account_key(done.user.username))
            return render_template("account/reset_done.html",
                                   tokens_revoked=done.tokens_revoked)
    return render_template(
        "account/reset_code.html", form=form, sent_again=sent_again,
        minutes=max(1, int(cfg.get("otp_ttl_seconds", 300)) // 60),
    ), status, headers
