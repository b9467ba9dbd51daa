"""What every rule module shares: the error they raise, id look-ups that cannot overflow,
and the place scoping (communities and grids) that every staff query goes through.

Kept apart so the scoping is written once: cameras, incidents, alerts and footage
requests all filter with :func:`place_filter` / :func:`in_place`, the same scopes core's
registry uses.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, or_
from sqlalchemy.orm import Session

from core.toolkit import MAX_ID, N_, RuleError

PLUGIN = "surveillance"


class SurveillanceError(RuleError):
    """A broken rule, naming the field it concerns (422 in the API, a field message on
    pages). ``status`` is 409 for a workflow step that is not allowed from the current
    state, 404 for something that does not exist or is outside the actor's places.

    A :class:`RuleError` (toolkit), so core's API handler and :func:`refuse` know it; the
    constructor keeps this plugin's signature (``status`` may be given by position)."""

    def __init__(
        self, message: str, field: str = "", status: int | None = None, **params: Any
    ) -> None:
        super().__init__(message, field, status=status, **params)


def get_row(session: Session, model: Any, row_id: Any) -> Any:
    """``session.get`` for an id from a URL or a body: out-of-range ids are simply not
    found (the database would refuse to compare them)."""
    if not isinstance(row_id, int) or not 0 < row_id <= MAX_ID:
        return None
    return session.get(model, row_id)


# ------------------------------------------------------------------------------ places


def place_scope(actor: Any) -> tuple[set[str], set[str]] | None:
    """``None`` when ``actor`` sees every place (an admin, an ``all`` scope, a system job);
    else the community and grid codes they are assigned to (empty sets: nothing)."""
    if actor is None:
        return None
    if "admin" in (getattr(actor, "role_names", None) or ()):
        return None
    scopes = {(s.kind, s.code) for s in (getattr(actor, "scopes", None) or ())}
    if ("all", "") in scopes:
        return None
    return ({c for k, c in scopes if k == "community"}, {c for k, c in scopes if k == "grid"})


def place_filter(actor: Any, model: Any) -> Any:
    """A WHERE clause restricting ``model`` (with community_code/grid_code) to ``actor``."""
    scope = place_scope(actor)
    if scope is None:
        return None
    communities, grids = scope
    conds = []
    if communities:
        conds.append(model.community_code.in_(sorted(communities)))
    if grids:
        conds.append(model.grid_code.in_(sorted(grids)))
    return or_(*conds) if conds else false()


def in_place(actor: Any, community_code: str | None, grid_code: str | None) -> bool:
    scope = place_scope(actor)
    if scope is None:
        return True
    communities, grids = scope
    return bool(
        (community_code and community_code in communities) or (grid_code and grid_code in grids)
    )


def _scoped(query: Select, actor: Any, model: Any) -> Select:
    cond = place_filter(actor, model)
    return query if cond is None else query.where(cond)


def actor_name(actor: Any) -> str:
    if actor is None:
        return "system"
    return (getattr(actor, "display_name", "") or getattr(actor, "username", "") or "")[:100]


def _check_choice(value: str, choices: tuple[str, ...], field: str) -> None:
    if value not in choices:
        raise SurveillanceError(N_("Choose one of the listed values."), field)
