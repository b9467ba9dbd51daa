"""What every page of the plugin shares: the blueprint, who the viewer is (their person,
community and buildings), the committee member's places, a 404 for what is not theirs,
and a rule's message shown beside its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, abort
from flask_login import current_user
from flask_wtf import FlaskForm

from core.toolkit import (
    MAX_ID,
    current_kernel,
    current_session,
    has_permission,
)
from plugins.self_governance import PUBLISH, info
from plugins.self_governance import services as sv

#: The plugin's pages. ``root_path`` is the plugin's package, where ``templates/`` is: the
#: blueprint is defined one level down, in this package.
bp = Blueprint(
    "self_governance",
    __name__,
    root_path=str(Path(__file__).resolve().parent.parent),
    template_folder="templates",
)


# ----------------------------------------------------------------------------- helpers


def kernel() -> Any:
    return current_kernel()


def assisted() -> bool:
    """Whether a worker is acting for the resident (the assisted channel): personal acts
    — a ballot, the committee's evaluation — are then refused (``require_personal``)."""
    return getattr(current_user, "agent", None) is not None


def settings() -> dict[str, Any]:
    return kernel().plugins.settings(info.id)


def my_person() -> int | None:
    return current_user.person_id if getattr(current_user, "is_verified", False) else None


def my_community() -> str | None:
    return sv.person_community(current_session(), kernel(), my_person())


def viewer_buildings() -> Any:
    """Which building notices the viewer sees: all for the committee, their own
    building's for a verified resident, none otherwise."""
    if has_permission(current_user, PUBLISH):
        return lambda _building: True
    if my_person() is None:
        return None
    return sv.lives_in(current_session(), kernel(), my_person())


def get_or_404(model: type, ident: int) -> Any:
    if not 0 < ident <= MAX_ID:  # beyond any stored id (and PostgreSQL's integer)
        abort(404)
    obj = current_session().get(model, ident)
    if obj is None:
        abort(404)
    return obj


def covers(community: str | None) -> bool:
    return sv.acts_for(current_user, community)


def require_covers(community: str | None) -> None:
    """404 for an object outside the member's communities (existence does not leak)."""
    if not covers(community):
        abort(404)


def fail(form: FlaskForm, exc: sv.GovernanceError) -> None:
    """Show a rule's message beside its field (or at the top)."""
    message = exc.text()
    field = getattr(form, exc.field, None)
    if field is not None and hasattr(field, "errors"):
        if not isinstance(field.errors, list):
            field.errors = list(field.errors)
        field.errors.append(message)
    else:
        form.form_errors.append(message)
