"""Sign-up and self-service verification under ``/account`` (blueprint ``account``), each
in two steps with a one-time code (issue 17).

Sign-up proves the phone it registers: the form sends a code to the typed number and
nothing is created until it comes back; whether the number already has an account is said
only to whoever proved they hold it. Verification sends the code to the number ON THE
REGISTRY RECORD of the person named, never to one typed, and answers a mismatch exactly
like a match. Between the steps the pending state is in the signed session cookie (the
password only as its hash, the person only as a sealed reference); a hidden ``step`` field
(``code``, ``resend``, ``restart``) says which form of the page was sent.

The routes are on the ``account`` blueprint (:mod:`core.identity.account_common`), which
the app factory registers after importing this module.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from flask import (
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie
from flask_babel import format_time, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, ValidationError

from core.audit.services import log_audit
from core.audit.web import request_facts
from core.current import current_kernel
from core.db import current_session, utcnow
from core.identity import limits, otp, require_personal
from core.identity.account_common import _cfg, _me, bp, field_errors
from core.identity.otp import CodeError, normalise_recipient, recipient_problem
from core.identity.services import (
    PHONE_RE,
    SIGNUP_PENDING_SECONDS,
    USERNAME_RE,
    IdentityError,
    begin_self_verification,
    begin_signup,
    check_password,
    finish_self_verification,
    finish_signup,
    id_number_problem,
    mask_phone,
    record_verification_attempt,
    resend_self_verification,
    resend_signup_code,
    resend_wait,
    resolve_permissions,
    start_session,
)
from core.web.forms import Length

# ------------------------------------------------------------------------------ codes

#: Sign-ups per client address: accounts created, and form posts of any outcome (the
#: second limit keeps the "username taken" answer from becoming a directory of accounts,
#: and caps the codes one address can have sent).
SIGNUPS_PER_IP = "10 per hour"
SIGNUP_POSTS_PER_IP = "30 per hour"
SIGNUP_KEY = "signup_pending"
VERIFY_KEY = "verify_pending"


def _locale() -> str:
    return str(get_locale() or "zh")


def _retry_after(headers: dict[str, str], exc: CodeError) -> None:
    if exc.retry_after:
        headers["Retry-After"] = str(max(int(exc.retry_after), 1))


class CodeForm(FlaskForm):
    code = StringField(
        _l("Code from the text message"),
        validators=[
            DataRequired(message=_l("Enter the 6-digit code from the message.")),
            Length(max=12, message=_l("Code from the text message: enter the 6 digits it gives.")),
        ],
    )


# ------------------------------------------------------------------------------ sign-up


class SignupForm(FlaskForm):
    username = StringField(
        _l("Username or mobile number"),
        validators=[
            DataRequired(message=_l("Enter a username or your mobile number")),
            Length(max=64),
        ],
    )
    display_name = StringField(
        _l("Your name"),
        validators=[
            DataRequired(message=_l("Enter your name")),
            Length(max=100),
        ],
    )
    phone = StringField(_l("Mobile number"), validators=[Length(max=20)])
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(message=_l("Choose a password")),
            Length(max=128),
        ],
    )

    def validate_username(self, field: Any) -> None:
        value = (field.data or "").strip()
        if not (PHONE_RE.match(value) or USERNAME_RE.match(value)):
            raise ValidationError(
                _("Use 3 to 32 letters, digits, '.', '-' or '_', or a mobile number.")
            )

    def validate_phone(self, field: Any) -> None:
        """Required, except that a username which is a mobile number is the phone too."""
        value = normalise_recipient("sms", field.data or "")
        if not value and PHONE_RE.match((self.username.data or "").strip()):
            return
        if not value:
            raise ValidationError(_("Enter your mobile number: we send a code to it."))
        problem = recipient_problem("sms", value)
        if problem:
            raise ValidationError(_(problem))

    def validate_password(self, field: Any) -> None:
        """The policy is checked here too, so every problem shows at once."""
        try:
            check_password(
                field.data or "",
                min_length=_cfg()["password_min_length"],
                context=((self.username.data or "").strip(), (self.display_name.data or "")),
            )
        except IdentityError as exc:
            raise ValidationError(_(exc.message, **exc.params)) from exc


def _account_created(response: Any) -> bool:
    """Only an account created counts against ``SIGNUPS_PER_IP``."""
    return bool(g.get("shequ_account_created"))


def _pending_signup() -> dict[str, Any] | None:
    pending = cookie.get(SIGNUP_KEY)
    if not isinstance(pending, dict):
        return None
    if utcnow().timestamp() - float(pending.get("started", 0)) > SIGNUP_PENDING_SECONDS:
        cookie.pop(SIGNUP_KEY, None)
        return None
    return pending


@bp.route("/signup", methods=["GET", "POST"])
@limits.limiter.limit(
    SIGNUPS_PER_IP, methods=["POST"], deduct_when=_account_created, scope="signup-ip"
)
@limits.limiter.limit(SIGNUP_POSTS_PER_IP, methods=["POST"], scope="signup-posts-ip")
def signup():
    """Residents create their own account (when ``identity.signup_open``): the form, then
    the code sent to the phone. The account is not verified until it is matched with the
    registry (``/account/verify``)."""
    if current_user.is_authenticated:
        return redirect(url_for("account.index"))
    if not _cfg()["signup_open"]:
        return render_template("account/signup_closed.html"), 403
    step = request.form.get("step", "") if request.method == "POST" else ""
    if step == "restart":
        cookie.pop(SIGNUP_KEY, None)
        return redirect(url_for("account.signup"))
    pending = _pending_signup()
    if pending is not None and (request.method == "GET" or step in ("code", "resend")):
        return _signup_code(pending, step)
    form = SignupForm()
    status = 200 if request.method == "GET" else 400
    if step in ("code", "resend"):  # the pending sign-up ran out meanwhile
        form = SignupForm(formdata=None)
        form.form_errors.append(_("Your sign-up took too long. Fill in the form again."))
    elif form.validate_on_submit():
        session = current_session()
        try:
            pending = begin_signup(
                session,
                current_kernel(),
                current_kernel().hasher,
                username=form.username.data,
                display_name=form.display_name.data,
                phone=form.phone.data or "",
                password=form.password.data,
                min_length=_cfg()["password_min_length"],
                locale=_locale(),
                otp=otp,
            )
        except CodeError as exc:  # a code went to this number a moment ago
            session.rollback()
            field_errors(form, exc, {"code": "phone"})
            status = exc.status
            headers: dict[str, str] = {}
            _retry_after(headers, exc)
            return render_template("account/signup.html", form=form), status, headers
        except IdentityError as exc:
            session.rollback()
            field_errors(form, exc, {})
        else:
            session.commit()
            cookie[SIGNUP_KEY] = {**pending, "started": pending["at"]}
            return redirect(url_for("account.signup"))
    return render_template("account/signup.html", form=form), status


def _signup_code(pending: dict[str, Any], step: str):
    """Step two: the code. ``resend`` asks for another (after the wait)."""
    kernel = current_kernel()
    session = current_session()
    form = CodeForm()
    status = 200 if request.method == "GET" else 400
    headers: dict[str, str] = {}
    sent_again = False
    if step == "resend":
        form = CodeForm(formdata=None)
        try:
            resend_signup_code(session, kernel, pending, locale=_locale(), otp=otp)
        except CodeError as exc:
            session.rollback()
            field_errors(form, exc, {})
            status = exc.status
            _retry_after(headers, exc)
        else:
            session.commit()
            cookie[SIGNUP_KEY] = pending = {**pending, "at": utcnow().timestamp()}
            sent_again = True
            status = 200
    elif step == "code" and form.validate_on_submit():
        try:
            user = finish_signup(session, kernel, kernel.hasher, pending,
                                 code=form.code.data, bus=kernel.bus, otp=otp)
        except CodeError as exc:
            session.commit()  # a wrong try counts
            field_errors(form, exc, {})
            status = exc.status
        except IdentityError as exc:  # the number has an account, or the name was taken
            session.commit()  # the code is spent
            cookie.pop(SIGNUP_KEY, None)
            details = SignupForm(formdata=None, data={
                "username": pending["username"], "display_name": pending["display_name"],
                "phone": pending["phone"]})
            field_errors(details, exc, {})
            return render_template("account/signup.html", form=details,
                                   existing=exc.field == "phone"), 400
        except IntegrityError:  # the same name, chosen at the same moment by someone else
            session.rollback()
            form.code.errors = [_("This username is taken.")]
            cookie.pop(SIGNUP_KEY, None)
        else:
            return _signed_up(user)
    return render_template(
        "account/signup_code.html",
        form=form,
        phone=mask_phone(pending["phone"]),
        wait=resend_wait(kernel, pending),
        minutes=max(1, int(_cfg().get("otp_ttl_seconds", 300)) // 60),
        sent_again=sent_again,
    ), status, headers


def _signed_up(user: Any):
    from core.identity import Principal

    kernel = current_kernel()
    session = current_session()
    facts = request_facts()
    row, token = start_session(
        session, user, ip=facts.get("ip", ""), user_agent=facts.get("user_agent", "")
    )
    log_audit(session, "auth.signup", actor=user, target_type="user", target_id=user.id,
              facts=facts)
    session.commit()
    cookie.pop(SIGNUP_KEY, None)
    g.shequ_account_created = True
    login_user(
        Principal(
            user,
            resolve_permissions(user.role_names, kernel.roles_now()),
            token=token,
            session_row_id=row.id,
        )
    )
    flash(_("Your account has been created and you are signed in."), "success")
    return redirect(url_for("account.index"))


# ------------------------------------------------------------------------------ verification


class VerifyForm(FlaskForm):
    name = StringField(
        _l("Full name"),
        validators=[
            DataRequired(message=_l("Enter your full name as it is on your ID card")),
            Length(max=50),
        ],
    )
    id_number = StringField(
        _l("ID card number"),
        validators=[DataRequired(message=_l("Enter your ID card number")), Length(max=30)],
    )

    def validate_id_number(self, field: Any) -> None:
        problem = id_number_problem(field.data or "")
        if problem:
            raise ValidationError(_(problem))


def _verify_limit() -> tuple[Any, tuple[str, str]]:
    """The limit on verification attempts, keyed by account (not by address: a resident
    on a shared community-centre computer must not lock out the next person)."""
    from limits import parse

    return parse(_cfg()["verification_attempts"]), ("verify", str(current_user.user.id))


def _pending_verification(user_id: int) -> dict[str, Any] | None:
    pending = cookie.get(VERIFY_KEY)
    if not isinstance(pending, dict) or pending.get("uid") != user_id:
        return None
    if utcnow().timestamp() - float(pending.get("started", 0)) > SIGNUP_PENDING_SECONDS:
        cookie.pop(VERIFY_KEY, None)
        return None
    return pending


@bp.route("/verify", methods=["GET", "POST"])
@require_personal("identity.own.verification", verified=False)
def verify():
    """Self-service verification: name and ID number, then the code sent to the mobile
    number on that person's registry record."""
    user = _me()
    if user.is_verified:
        cookie.pop(VERIFY_KEY, None)
        return render_template("account/verify.html", form=None, user=user)
    step = request.form.get("step", "") if request.method == "POST" else ""
    if step == "restart":
        cookie.pop(VERIFY_KEY, None)
        return redirect(url_for("account.verify"))
    pending = _pending_verification(user.id)
    if pending is not None and (request.method == "GET" or step in ("code", "resend")):
        return _verify_code(user, pending, step)
    form = VerifyForm(formdata=None) if step in ("code", "resend") else VerifyForm()
    status = 200 if request.method == "GET" else 400
    throttled = False
    retry_at = ""
    headers: dict[str, str] = {}
    if step in ("code", "resend"):  # the pending verification ran out meanwhile
        form.form_errors.append(_("This took too long. Enter your details again."))
    elif form.validate_on_submit():
        session = current_session()
        facts = request_facts()
        item, key = _verify_limit()
        if not limits.hit(item, *key):
            reset = limits.reset_at(item, *key)
            record_verification_attempt(session, user, "throttled", facts=facts)
            session.commit()
            throttled = True
            status = 429
            retry_at = format_time(datetime.fromtimestamp(reset, tz=UTC), "HH:mm")
            headers["Retry-After"] = str(max(math.ceil(reset - time.time()), 1))
        else:
            pending = begin_self_verification(
                session, current_kernel(), user, name=form.name.data,
                id_number=form.id_number.data, locale=_locale(), facts=facts, otp=otp,
            )
            session.commit()  # the code and the audit entry of the attempt
            cookie[VERIFY_KEY] = {**pending, "started": pending["at"]}
            return redirect(url_for("account.verify"))
    # The ID number is never sent back to the browser (docs/requirements.md R09).
    form.id_number.data = ""
    return (
        render_template("account/verify.html", form=form, user=user, throttled=throttled,
                        retry_at=retry_at),
        status,
        headers,
    )


def _verify_code(user: Any, pending: dict[str, Any], step: str):
    """Step two: the code from the record's phone; the same page whatever step one found."""
    kernel = current_kernel()
    session = current_session()
    form = CodeForm()
    status = 200 if request.method == "GET" else 400
    headers: dict[str, str] = {}
    sent_again = False
    if step == "resend":
        form = CodeForm(formdata=None)
        try:
            pending = resend_self_verification(session, kernel, user, pending,
                                               locale=_locale(), otp=otp)
        except CodeError as exc:
            session.rollback()
            field_errors(form, exc, {})
            status = exc.status
            _retry_after(headers, exc)
        else:
            session.commit()
            cookie[VERIFY_KEY] = pending
            sent_again = True
            status = 200
    elif step == "code" and form.validate_on_submit():
        try:
            finish_self_verification(session, kernel, user, pending, code=form.code.data,
                                     bus=kernel.bus, facts=request_facts(), otp=otp)
        except IdentityError as exc:
            session.commit()  # a wrong try counts; the audit entry is kept
            cookie[VERIFY_KEY] = pending  # its count of tries, for a reference to nobody
            field_errors(form, exc, {})
            status = getattr(exc, "status", 422) or 422
        else:
            try:
                session.commit()
            except IntegrityError:  # bound to another account at the same moment
                session.rollback()
                form.code.errors = [_("This code is not valid any more. Ask for a new code.")]
                status = 422
            else:
                cookie.pop(VERIFY_KEY, None)
                flash(_("Your account is verified."), "success")
                return redirect(url_for("account.index"))
    return render_template(
        "account/verify_code.html",
        form=form,
        wait=resend_wait(kernel, pending),
        minutes=max(1, int(_cfg().get("otp_ttl_seconds", 300)) // 60),
        sent_again=sent_again,
    ), status, headers
