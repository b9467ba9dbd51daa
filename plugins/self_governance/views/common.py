"""What every page of the plugin shares: the blueprint, who the viewer is (their person,
community and buildings), the committee member's places, a 404 for what is not theirs,
and a rule's message shown beside its field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, abort
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice

from core.toolkit import (
    MAX_ID,
    current_kernel,
    current_session,
    has_permission,
    local_zone,
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


# ----------------------------------------------------------------------------- pickers


def community_choices(*, every: bool = False) -> list[Any]:
    """The member's communities as a select's choices (name, with the street), instead
    of a typed 12-digit code; ``every`` adds "every community" for a district-wide
    assignment (who may address a notice to all)."""
    session = current_session()
    rows = sv.member_communities(session, kernel(), current_user)
    choices = [SelectChoice(c["code"], f"{c['name']} · {c['street_name']}") for c in rows]
    if every and sv.acts_for(current_user, None):
        choices.insert(0, SelectChoice("", _("Every community")))
    return choices


def building_choices(communities: list[Any]) -> list[Any]:
    """The buildings of the member's communities, named (estate and building)."""
    session = current_session()
    choices = [SelectChoice("", _("The whole community"))]
    for c in communities:
        if not c.value:
            continue
        for bid, name in sv.community_buildings(session, kernel(), c.value).items():
            choices.append(SelectChoice(str(bid), f"{c.label} · {name}"))
    return choices


# ----------------------------------------------------------------------------- time


def local_to_utc(value: datetime | None) -> datetime | None:
    """A naive date-time typed in a form, read in ``app.timezone``, as aware UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=local_zone())
    return value.astimezone(UTC)


def utc_to_local(value: datetime) -> datetime:
    """An aware (or naive UTC) instant as the naive local time a form field shows."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(local_zone()).replace(tzinfo=None)
