"""Message templates for the external channels, in zh and en.

A template is a subject and a body msgid with ``%(name)s`` placeholders; :func:`render`
writes them in the recipient's language. SMS providers send by their own registered
template (``[messaging]`` config maps these names to the provider's template codes) with
the same parameters, so the names here are the contract between the two.
"""

from __future__ import annotations

from typing import Any

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


def render(template: str, params: dict[str, Any], locale: str = "zh") -> tuple[str, str]:
    """The subject and body of ``template`` in ``locale``; outside an app context (a CLI
    without one, a test) the English text."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown message template {template!r}")
    subject, body = TEMPLATES[template]
    try:
        from flask import has_app_context
        from flask_babel import force_locale, gettext

        if has_app_context():
            with force_locale(locale or "zh"):
                return gettext(subject, **params), gettext(body, **params)
    except ImportError:  # pragma: no cover - flask_babel is a dependency
        pass
    return subject % params, body % params
