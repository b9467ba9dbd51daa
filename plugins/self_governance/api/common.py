"""What every module of the API shares: the one blueprint, the 409 of a rule refused in
the state things are in now, the caller's person and community, and a 404 for an id that
names nothing (or nothing the caller may see)."""

from __future__ import annotations

from typing import Any, NoReturn

from flask_login import current_user
from flask_smorest import abort

from core.toolkit import (
    MAX_ID,
    ApiBlueprint,
    current_kernel,
    current_session,
    has_permission,
    refuse,
)
from plugins.self_governance import MODERATE, info
from plugins.self_governance import services as sv

blp = ApiBlueprint(
    "self_governance_api",
    __name__,
    description="Community affairs: notices, finances and questions, proposals and their "
    "progress, votes and their management, the forum and its moderation, the yearly "
    "evaluation, the committee's record and statistics",
)


def conflict(exc: sv.GovernanceError, *, fields: bool = True) -> NoReturn:
    """A well-formed request a rule refuses in the state things are in now: 409 (the area
    answers every schema-valid refusal with 409, docs/api.md "422 or 409?") with the
    rule's message and, unless ``fields=False``, its field.

    The message is in the request's language, by the API's one rule (docs/api.md,
    "Language"); clients match on ``code`` and the field names."""
    if not fields:
        abort(409, message=exc.text())
    refuse(exc, 409)


def kernel() -> Any:
    return current_kernel()


def settings() -> dict[str, Any]:
    return kernel().plugins.settings(info.id)


def person() -> int | None:
    """The caller's registry person, when the account is verified."""
    return current_user.person_id if getattr(current_user, "is_verified", False) else None


def community() -> str | None:
    """The caller's registry community (None: not a registered resident)."""
    return sv.person_community(current_session(), kernel(), person())


def signed_in() -> bool:
    return bool(getattr(current_user, "is_authenticated", False))


def moderator() -> bool:
    return signed_in() and has_permission(current_user, MODERATE)


def get(model: type, ident: int) -> Any:
    """The row, or 404 (ids beyond any stored id, and PostgreSQL's integer, too)."""
    if not 0 < ident <= MAX_ID:
        abort(404, message="Not found.")
    obj = current_session().get(model, ident)
    if obj is None:
        abort(404, message="Not found.")
    return obj


def covered(community_code: str | None) -> None:
    """404 for an object of a community the committee member does not act for: as on
    the pages, existence does not leak outside the member's places."""
    if not sv.acts_for(current_user, community_code):
        abort(404, message="Not found.")


def acts_for(community_code: str | None) -> None:
    """403 for a community named in the request that the member does not act for (the
    caller chose it: nothing leaks by saying so)."""
    if not sv.acts_for(current_user, community_code):
        abort(403, message="You do not act for this community.")
