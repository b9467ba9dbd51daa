"""How an application is shown: sensitive answers masked by default, shown in full only
to the handler at a step that checks them, and every display written to the applicant's
access log. The one place the API, the pages and exports read a case through.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from core.toolkit import N_, log_person_access, mask_id_number, mask_name, mask_phone, scope_allows
from plugins.gov_services.models import Application
from plugins.gov_services.services.context import Gov
from plugins.gov_services.services.vocabulary import (
    HANDLE,
    PLUGIN,
    STATE_LABELS,
    GovError,
    RoleError,
    TransitionError,
    clean_text,
    is_applicant,
    translated,
)

#: The states in which the handler's step needs the sensitive answers in full: checking
#: them against the documents before accepting (``submitted``) and in the community check,
#: and arranging the payment once approved (the bank card, before ``complete``).
REVEAL_STATES = ("submitted", "community_check", "approved")
HIDDEN = "***"


def mask_answer(kind: str, value: Any) -> Any:
    """A sensitive answer as shown by default: a bank card or another account or
    certificate number keeps its last four characters, ID numbers, phones and names are
    masked as the registry masks them, free text naming people is hidden."""
    if value is None or value == "" or isinstance(value, bool):
        return value
    text = str(value)
    if kind == "id_number":
        return mask_id_number(text)
    if kind == "phone":
        return mask_phone(text)
    if kind == "name":
        return mask_name(text)
    if kind in ("bank_card", "number"):
        return "*" * (len(text) - 4) + text[-4:] if len(text) > 4 else "*" * len(text)
    return HIDDEN


def sensitive_of(g: Gov, app: Application) -> dict[str, str]:
    """``{answer: kind}`` of the application's sensitive answers. A service no longer in
    the catalogue (its plugin was disabled) has every answer treated as sensitive."""
    service = g.catalogue.get(app.service_code)
    if service is None:
        return {k: "text" for k in (app.answers or {})}
    return service.sensitive_fields()


def may_reveal(app: Application, actor: Any) -> bool:
    """Whether ``actor`` may see the sensitive answers in full now: staff holding the handle
    permission whose places cover the case, at a step that checks them (:data:`REVEAL_STATES`).
    Never read-only staff (committee members, auditors), the reviewers of later stages, an
    assisted session (the agent acts with the resident's account) or the applicant's own
    view (they typed it; masked there too, so a shoulder or an agent never sees it)."""
    if actor is None or getattr(actor, "agent", None) is not None or is_applicant(actor, app):
        return False
    if HANDLE not in (getattr(actor, "permissions", None) or ()):
        return False
    return app.state in REVEAL_STATES and scope_allows(
        actor, community=app.community, grid=app.grid
    )


def log_display(
    session: Session,
    app: Application,
    *,
    viewer: Any,
    purpose: str,
    fields: Iterable[str] | None = None,
    masked: bool = True,
) -> None:
    """Write the display of ``app`` to the applicant's access log (nothing when the viewer
    is the applicant). ``fields`` default: ``application`` and the answers it holds."""
    if fields is None:
        fields = ["application", *sorted(app.answers or {})]
    log_person_access(
        session,
        person_id=app.person_id,
        fields=list(fields),
        purpose=purpose,
        plugin=PLUGIN,
        actor=viewer,
        masked=masked,
    )


def application_view(
    session: Session,
    g: Gov,
    app: Application,
    *,
    viewer: Any,
    purpose: str | None = None,
    reveal: Iterable[str] = (),
) -> dict[str, Any]:
    """The application as ``viewer`` may see it — sensitive answers masked unless named in
    ``reveal`` (already allowed by :func:`reveal_answers`) — and its display written to
    the applicant's access log. The one way the API, the pages and exports show a case."""
    sensitive = sensitive_of(g, app)
    shown = set(reveal) & set(sensitive)
    answers = {
        k: v if k not in sensitive or k in shown else mask_answer(sensitive[k], v)
        for k, v in (app.answers or {}).items()
    }
    masked = sorted(k for k in sensitive if k in (app.answers or {}) and k not in shown)
    log_display(
        session, app, viewer=viewer, purpose=purpose or f"application {app.reference}"
    )
    return {
        "id": app.id,
        "reference": app.reference,
        "service_code": app.service_code,
        "person_id": app.person_id,
        "channel": app.channel,
        "community": app.community,
        "grid": app.grid,
        "state": app.state,
        "answers": answers,
        "masked": masked,
        "revealed": sorted(shown),
        "missing": list(app.missing or []),
        "decision_reason": app.decision_reason,
        "due_on": app.due_on,
        "review_flag": app.review_flag,
        "rating": app.rating,
        "submitted_at": app.submitted_at,
        "decided_at": app.decided_at,
        "steps": list(app.steps),
    }


def reveal_answers(
    session: Session,
    g: Gov,
    app: Application,
    *,
    actor: Any,
    purpose: str,
    fields: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Show sensitive answers in full, once, for a stated purpose: only to a handler at a
    step that needs them (:func:`may_reveal`; 403 for the role or place, 409 for the
    step), and logged in the applicant's access log as a full display with the purpose.
    ``fields`` default: every sensitive answer the application holds."""
    purpose = clean_text(purpose, "purpose")
    if not purpose:
        raise GovError(N_("Say why you need to see the full values."), "purpose")
    if len(purpose) > 200:
        raise GovError(N_("At most %(n)s characters."), "purpose", n=200)
    sensitive = sensitive_of(g, app)
    held = [k for k in sensitive if (app.answers or {}).get(k) not in (None, "")]
    wanted = sorted(set(fields if fields is not None else held))
    unknown = [f for f in wanted if f not in sensitive]
    if unknown:
        raise GovError(
            N_("%(fields)s is not a masked answer of this service."),
            "fields",
            fields=", ".join(unknown),
        )
    if not wanted:
        raise GovError(N_("This application has no masked answers."), "fields")
    perms = getattr(actor, "permissions", None) or ()
    if (
        HANDLE not in perms
        or getattr(actor, "agent", None) is not None
        or not scope_allows(actor, community=app.community, grid=app.grid)
    ):
        raise RoleError(N_("Only the handler of the case may see the full values."), "action")
    if not may_reveal(app, actor):
        raise TransitionError(
            N_("The full values are not needed while the application is %(state)s."),
            "state",
            state=translated(STATE_LABELS[app.state]),
        )
    log_display(
        session,
        app,
        viewer=actor,
        purpose=f"application {app.reference} ({app.state}): {purpose}",
        fields=wanted,
        masked=False,
    )
    return application_view(session, g, app, viewer=actor, reveal=wanted)
