"""What the ``/account`` pages share: their blueprint and the small helpers both
:mod:`core.identity.account_views` (my account, sessions, tokens, notifications, access
log, assisted channel) and :mod:`core.identity.signup_views` (sign-up, verification) use.
The app factory registers the blueprint after importing both, so every route is on it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from core.current import current_kernel
from core.db import current_session
from core.identity.models import User
from core.identity.services import IdentityError

bp = Blueprint("account", __name__, url_prefix="/account")


def _cfg() -> dict[str, Any]:
    return current_kernel().config.identity


def _me() -> User:
    """The account the pages are about (the resident, when a worker acts for one)."""
    return current_session().merge(current_user.user)


def field_errors(form: FlaskForm, exc: IdentityError, fields: dict[str, str]) -> None:
    """Put a service's error beside the field it concerns (``fields`` maps the service's
    field names onto the form's), so the error summary can link to it."""
    name = fields.get(exc.field, exc.field)
    target = getattr(form, name, None) or next(iter(form))
    target.errors = [*target.errors, _(exc.message, **exc.params)]
