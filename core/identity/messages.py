"""Message templates for the external channels, in zh and en.

A template is a subject and a body msgid with ``%(name)s`` placeholders; :func:`render`
writes them in the recipient's language. SMS providers send by their own registered
template (``[messaging.aliyun] template_codes`` maps these names to the provider's codes)
with the same parameters, so the names here — and their placeholders,
:data:`core.config.MESSAGE_TEMPLATE_PARAMS` — are the contract between the two.

An operator may reword a template per language (``[messaging.templates.<name>] zh = "..."``,
``en``, ``zh_subject``, ``en_subject``): the configured text is used as written, for that
language, instead of the translation. ``core.config`` checks its placeholders at start-up.
"""

from __future__ import annotations

from typing import Any

from core.config import MESSAGE_TEMPLATE_PARAMS
from core.rules import N_

TEMPLATES: dict[str, tuple[str, str]] = {
    "otp": (
        N_("Your Shequ code"),
        N_("Your Shequ code is %(code)s. It is valid for %(minutes)s minutes. "
           "Never tell it to anyone, staff included."),
    ),
    "notice": (N_("%(title)s"), N_("%(body)s")),
    "plain": (N_("%(subject)s"), N_("%(body)s")),
}

#: The one-time code's wording per purpose (core.identity.otp.PURPOSES): saying what the
#: code is for lets someone who did not ask for it notice.
OTP_WORDING: dict[str, tuple[str, str]] = {
    "signup": (
        N_("Your Shequ sign-up code"),
        N_("Your code to create a Shequ account is %(code)s, valid for %(minutes)s minutes. "
           "Never tell it to anyone, staff included."),
    ),
    "verify": (
        N_("Your Shequ verification code"),
        N_("Your code to verify your Shequ account is %(code)s, valid for %(minutes)s "
           "minutes. Never tell it to anyone, staff included."),
    ),
    "reset": (
        N_("Your Shequ password reset code"),
        N_("Your code to reset your Shequ password is %(code)s, valid for %(minutes)s "
           "minutes. If you did not ask for it, ignore this message."),
    ),
    "login": (
        N_("Your Shequ sign-in code"),
        N_("Your code to sign in to Shequ is %(code)s, valid for %(minutes)s minutes. "
           "If you are not signing in, someone knows your password: change it."),
    ),
    "email": (
        N_("Confirm your e-mail address for Shequ"),
        N_("Your code to confirm this address for your Shequ account is %(code)s, valid "
           "for %(minutes)s minutes."),
    ),
}

#: What a sent code is replaced with in the outbox (the body kept for the record).
MASKED_CODE = "******"


def _wording(template: str, params: dict[str, Any]) -> tuple[str, str]:
    if template not in TEMPLATES:
        raise ValueError(f"unknown message template {template!r}")
    if template == "otp" and params.get("purpose") in OTP_WORDING:
        return OTP_WORDING[str(params["purpose"])]
    return TEMPLATES[template]


def _overrides(template: str, locale: str) -> tuple[str | None, str | None]:
    """The operator's subject and body for ``template`` in ``locale``, if configured."""
    try:
        from core.current import current_kernel

        table = current_kernel().config.messaging.get("templates", {}).get(template, {})
    except (RuntimeError, AttributeError, KeyError):  # no app, or a config without it
        return None, None
    return table.get(f"{locale}_subject"), table.get(locale)


def render(template: str, params: dict[str, Any], locale: str = "zh") -> tuple[str, str]:
    """The subject and body of ``template`` in ``locale``; outside an app context (a CLI
    without one, a test) the English text."""
    subject, body = _wording(template, params)
    values = {name: params.get(name, "") for name in MESSAGE_TEMPLATE_PARAMS.get(template, ())}
    values.update(params)
    locale = locale if locale in ("zh", "en") else "zh"
    try:
        from flask import has_app_context
        from flask_babel import force_locale, gettext
    except ImportError:  # pragma: no cover - flask_babel is a dependency
        return subject % values, body % values
    if not has_app_context():
        return subject % values, body % values
    own_subject, own_body = _overrides(template, locale)
    with force_locale(locale):
        return (
            own_subject % values if own_subject else gettext(subject, **values),
            own_body % values if own_body else gettext(body, **values),
        )


def masked(template: str, params: dict[str, Any], locale: str = "zh") -> tuple[str, str]:
    """The subject and body with the code replaced by :data:`MASKED_CODE`: what the outbox
    keeps of a one-time code once it is sent or expired."""
    return render(template, {**params, "code": MASKED_CODE}, locale)
