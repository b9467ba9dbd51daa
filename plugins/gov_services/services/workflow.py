"""An application's life: filing (online, assisted, at the counter), the workflow steps
through the service's stages with their due dates in working days, the events and
notifications each step sends, and the applicant's rating.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.toolkit import N_, Bilingual, Message, ScopeError, notify
from plugins.gov_services.catalogue import Service
from plugins.gov_services.models import Application, Step
from plugins.gov_services.services.context import Gov
from plugins.gov_services.services.eligibility import (
    check_eligibility,
    clean_answers,
    prefill,
    service_enabled,
    service_params,
)
from plugins.gov_services.services.material import (
    clean_missing,
    material_items,
    split_missing,
)
from plugins.gov_services.services.proactive import account_of, offer_service
from plugins.gov_services.services.thematic import add_membership
from plugins.gov_services.services.vocabulary import (
    ACTIONS,
    APPROVE,
    DECIDED_STATES,
    HANDLE,
    OPEN_STATES,
    PLUGIN,
    REVIEW,
    STAGE_PERMISSION,
    STATE_LABELS,
    GovError,
    RoleError,
    TransitionError,
    clean_text,
    clock,
    is_applicant,
    local_date,
    local_today,
    translated,
)


def _real(actor: Any) -> Any:
    """Who really acts: the worker in the assisted channel, else the actor."""
    return getattr(actor, "actor", None) or actor


def _actor_name(actor: Any, app: Application | None = None) -> str:
    """The name a timeline step records: staff by their account name; the applicant's own
    steps record no name (the page says "Applicant"), so no copy of the resident's name is
    kept in this plugin's tables."""
    real = _real(actor)
    if app is not None and real is not None and getattr(real, "person_id", None) == app.person_id:
        return ""
    return (getattr(real, "display_name", "") or getattr(real, "username", "") or "system")[:100]


def record_step(
    app: Application, action: str, from_state: str | None, actor: Any, comment: str
) -> None:
    real = _real(actor)
    app.steps.append(
        Step(
            action=action,
            from_state=from_state,
            to_state=app.state,
            actor_id=getattr(real, "id", None),
            actor_name=_actor_name(actor, app),
            comment=(comment or "")[:2000],
            at=clock(),
        )
    )


def _enter(
    g: Gov, app: Application, service: Service, state: str, *, today: date | None = None
) -> None:
    """Move to ``state`` and set its due date from the service's time limit in working
    days (public notice: its own length); closed and suspended states have none."""
    today = today or local_today(g.kernel)
    app.state = state
    if state == "public_notice":
        days = service.public_notice_days
    else:
        days = service.time_limits.get(state, 0) if state in OPEN_STATES else 0
    app.due_on = g.calendar.add(today, days) if days and state != "suspended" else None
    app.warned_on = None


def check_application(
    session: Session, g: Gov, service: Service, person: dict[str, Any], answers: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The check before commit: the answers as they would be stored, and every problem by
    field (an answer's own, or ``eligibility`` for the rules, a service not offered in the
    community and an open duplicate) — the same checks :func:`submit_application` makes,
    without filing anything, so the resident reviews a page that would be accepted as it
    stands."""
    if not service_enabled(session, service.code, person["community"]):
        return {}, {"eligibility": translated(N_("This service is not offered in your community."))}
    clean, errors = clean_answers(service, answers)
    if errors:
        return clean, errors
    reasons = check_eligibility(
        service, person, service_params(session, service, person["community"]), clean
    )
    if reasons:
        return clean, {"eligibility": "; ".join(reasons)}
    duplicate = session.scalar(
        select(Application.id).where(
            Application.person_id == person["person_id"],
            Application.service_code == service.code,
            Application.state.in_(OPEN_STATES),
        )
    )
    if duplicate is not None:
        return clean, {
            "eligibility": translated(N_("There is already an open application for this service."))
        }
    return clean, {}


def submit_application(
    session: Session,
    g: Gov,
    *,
    service_code: str,
    person_id: int,
    actor: Any,
    answers: dict[str, Any],
    user_id: int | None,
    filed_by: Any = None,
    comment: str = "",
) -> Application:
    """File an application for ``person_id``: the person is read from the registry (the
    actor must be the person or staff whose scope covers them), eligibility is checked
    against the registry and the answers, and ``gov_services.application.submitted`` is
    published. ``filed_by`` is the worker in the assisted or counter channel."""
    service = g.service(service_code)
    comment = clean_text(comment, "comment")
    channel = "online" if filed_by is None else ("assisted" if user_id else "counter")
    try:
        person = prefill(
            session, g, person_id, actor=actor, purpose=f"{channel} filing: {service.code}"
        )
    except ScopeError:
        raise GovError(N_("No such person within your scope."), "person_id") from None
    if not service_enabled(session, service.code, person["community"]):
        raise GovError(N_("This service is not offered in your community."), "service_code")
    clean, errors = clean_answers(service, answers)
    if errors:
        field, message = next(iter(errors.items()))
        raise GovError(message, field, errors=errors)
    reasons = check_eligibility(
        service, person, service_params(session, service, person["community"]), clean
    )
    if reasons:
        raise GovError("; ".join(reasons), "eligibility")
    duplicate = session.scalar(
        select(Application.id).where(
            Application.person_id == person_id,
            Application.service_code == service.code,
            Application.state.in_(OPEN_STATES),
        )
    )
    if duplicate is not None:
        raise GovError(N_("There is already an open application for this service."), "service_code")
    agent = filed_by
    app = Application(
        service_code=service.code,
        person_id=person_id,
        user_id=user_id,
        filed_by_id=getattr(agent, "id", None),
        channel=channel,
        community=person["community"],
        grid=person["grid"],
        answers=clean,
        missing=[],
        decision_reason="",
        review_flag="",
        rating_comment="",
        submitted_at=clock(),
    )
    session.add(app)
    _enter(g, app, service, "submitted")
    session.flush()
    app.reference = f"GS{local_date(app.submitted_at, g.kernel):%Y}{app.id:06d}"
    record_step(app, "submit", None, agent or actor, comment)
    session.flush()
    g.bus.publish(session, "gov_services.application.submitted", _payload(app, g))
    _notify(session, g, app, N_("Application received: %(service)s"))
    return app


def _payload(app: Application, g: Gov | None = None, **extra: Any) -> dict[str, Any]:
    """The event's payload: ids and codes, plus public catalogue data (the service's and
    office's names, the reference, the due date, when) so a consumer such as documents
    needs no copy of the catalogue. Never personal data."""
    out: dict[str, Any] = {
        "application_id": app.id,
        "service_code": app.service_code,
        "person_id": app.person_id,
        "community": app.community,
        "state": app.state,
        "reference": app.reference or None,
        "due_on": app.due_on.isoformat() if app.due_on else None,
        "at": clock().isoformat(),
    }
    service = g.catalogue.get(app.service_code) if g is not None else None
    if service is not None:
        dept = g.catalogue.departments.get(service.department, {})
        office = dept.get("office")
        entry = g.catalogue.offices.get(office or "", {})
        out.update(
            service_name=service.name_zh,
            service_name_en=service.name_en,
            office=office or service.department,
            office_name=entry.get("name_zh") or dept.get("zh") or service.department,
            office_name_en=entry.get("name_en") or dept.get("en") or service.department,
        )
    out.update(extra)
    return out


def _resident_user(session: Session, app: Application) -> int | None:
    if app.user_id:
        return app.user_id
    return account_of(session, app.person_id)


def _notify(session: Session, g: Gov, app: Application, title: str) -> None:
    """Tell the resident (the applicant's account, or the account bound to the person), in
    the resident's language, not the language of the worker whose step caused it. A 补正
    lists every item asked for, so the message alone says what to bring."""
    user_id = _resident_user(session, app)
    if user_id is None:
        return
    service = g.service(app.service_code)
    title = _STATE_TITLES.get(app.state, title)
    # Told as Messages, rendered for whoever reads them (the resident on an English page
    # reads English though the step was taken in Chinese); a 补正's items are the
    # service's bilingual labels, or what staff wrote for an "other" item.
    body = [Message(N_("Reference %(ref)s. Current state: %(state)s."),
                    ref=app.reference, state=Message(STATE_LABELS[app.state]))]
    if app.state == "needs_material":
        items: list[Any] = [
            i_zh["label"] if i_zh["other"] else Bilingual(i_en["label"], i_zh["label"])
            for i_en, i_zh in zip(material_items(service, app, "en"),
                                  material_items(service, app, "zh"), strict=True)
        ]
        body.append(Message(
            N_("Please provide, all at once: %(items)s. Upload each on the application "
               "page, then press Resubmit."),
            items=items,
        ))
    elif app.state in ("rejected", "not_accepted") and app.decision_reason:
        body.append(Message(N_("Reason: %(reason)s"), reason=app.decision_reason))
    notify(
        session,
        g.bus,
        user_id=user_id,
        title=Message(title, service=Bilingual(service.name_en, service.name_zh)),
        body=body,
        link=f"/gov-services/applications/{app.id}",
        source=PLUGIN,
    )


#: A notification's title says what happened, for the steps a resident must know of.
_STATE_TITLES = {
    "needs_material": N_("Material needed: %(service)s"),
    "approved": N_("Approved: %(service)s"),
    "rejected": N_("Not approved: %(service)s"),
    "not_accepted": N_("Not accepted: %(service)s"),
    "public_notice": N_("In public notice: %(service)s"),
    "completed": N_("Completed: %(service)s"),
    "withdrawn": N_("Withdrawn: %(service)s"),
}
#: Steps whose state alone would not say what happened (back to "submitted", say).
_ACTION_TITLES = {
    "accept": N_("Accepted for handling: %(service)s"),
    "resubmit": N_("Material received: %(service)s"),
    "pass": N_("Passed to the next step: %(service)s"),
    "suspend": N_("On hold: %(service)s"),
    "resume": N_("Handling resumed: %(service)s"),
}


def action_permission(app: Application, action: str) -> str | None:
    """The permission the action needs in the application's current state (None: the
    applicant's own action)."""
    if action in ("resubmit", "withdraw"):
        return None
    if action in ("pass", "reject", "suspend"):
        stage = app.resume_state if app.state == "suspended" else app.state
        if stage == "public_notice":  # an objection is decided by whoever approves
            return APPROVE
        return STAGE_PERMISSION.get(stage, HANDLE)
    if action == "end_notice":
        return APPROVE
    return HANDLE


_FROM: dict[str, tuple[str, ...]] = {
    "accept": ("submitted",),
    "not_accept": ("submitted",),
    "request_material": ("submitted", "community_check"),
    "resubmit": ("needs_material",),
    "pass": ("community_check", "street_review", "approval"),
    "reject": ("community_check", "street_review", "approval", "public_notice"),
    "suspend": ("community_check", "street_review", "approval"),
    "resume": ("suspended",),
    "end_notice": ("public_notice",),
    "complete": ("approved",),
    "withdraw": (
        "submitted",
        "needs_material",
        "community_check",
        "street_review",
        "approval",
        "suspended",
    ),
}
_ANY_PERMISSION = {
    "pass": (HANDLE, REVIEW, APPROVE),
    "reject": (HANDLE, REVIEW, APPROVE),
    "suspend": (HANDLE, REVIEW, APPROVE),
    "end_notice": (APPROVE,),
}


def available_actions(app: Application, user: Any) -> list[str]:
    """The actions ``user`` may take now (for the buttons on the page)."""
    perms = getattr(user, "permissions", frozenset())
    out = []
    for action, states in _FROM.items():
        if app.state not in states:
            continue
        if action == "end_notice" and app.due_on is not None and local_today() < app.due_on:
            continue  # the notice runs its whole period (an objection may still reject)
        need = action_permission(app, action)
        if (need is None and is_applicant(user, app)) or (need is not None and need in perms):
            out.append(action)
    return out


def transition(
    session: Session,
    g: Gov,
    app: Application,
    action: str,
    *,
    actor: Any,
    comment: str = "",
    missing: Iterable[str] = (),
    documents: Iterable[str] = (),
    today: date | None = None,
) -> Application:
    """Apply one workflow action. A role that may never take the action gets
    :class:`RoleError` (403); an action the state does not allow gets
    :class:`TransitionError` (409), as does ending a public notice before its period is
    over; a rejection or refusal without a reason, or a request for material without the
    complete list, gets :class:`GovError` (422).

    A request for material (补正) names ``documents`` (codes of the service's document
    list) and ``missing`` (descriptions of anything else; a service document code in it
    counts as that document) — one complete list, asked for once."""
    if action not in ACTIONS or action == "rate":
        raise GovError(N_("Unknown action."), "action")
    perms = getattr(actor, "permissions", frozenset())
    own = action in ("resubmit", "withdraw")
    if own and not is_applicant(actor, app):
        raise RoleError(N_("Only the applicant may do this."), "action")
    if not own and not (set(_ANY_PERMISSION.get(action, (HANDLE,))) & set(perms)):
        raise RoleError(N_("Your role may not do this."), "action")
    if app.state not in _FROM[action]:
        raise TransitionError(
            N_("This is not possible while the application is %(state)s."),
            "state",
            state=translated(STATE_LABELS[app.state]),
        )
    need = action_permission(app, action)
    if need is not None and need not in perms:
        raise RoleError(N_("This step needs another role."), "action")
    comment = clean_text(comment, "comment")
    service = g.service(app.service_code)
    before = app.state
    today = today or local_today(g.kernel)
    if action in ("not_accept", "reject") and not comment:
        raise GovError(N_("Give the reason."), "comment")
    if action == "suspend" and not comment:
        raise GovError(N_("Say why the case is suspended."), "comment")
    event = None
    if action == "accept":
        _enter(g, app, service, service.stages[0], today=today)
        event = "accepted"
    elif action == "not_accept":
        _close(g, app, service, "not_accepted", comment)
        event = "rejected"
    elif action == "request_material":
        codes, other = split_missing(service, missing)
        app.missing = clean_missing(service, [*documents, *codes], other)
        _enter(g, app, service, "needs_material", today=today)
    elif action == "resubmit":
        # The list stays: the worker who looks again sees what was asked for, ticked.
        _enter(g, app, service, "submitted", today=today)
    elif action == "pass":
        idx = service.stages.index(app.state)
        if idx + 1 < len(service.stages):
            _enter(g, app, service, service.stages[idx + 1], today=today)
        elif service.public_notice_days:
            _enter(g, app, service, "public_notice", today=today)
        else:
            event = _approve(session, g, app, service, today)
    elif action == "end_notice":
        if app.due_on is not None and today < app.due_on:
            raise TransitionError(
                N_("The public notice runs until %(date)s; it can be ended from that day on."),
                "state",
                date=app.due_on.isoformat(),
            )
        event = _approve(session, g, app, service, today)
    elif action == "reject":
        _close(g, app, service, "rejected", comment)
        event = "rejected"
    elif action == "suspend":
        app.resume_state = app.state
        app.remaining_days = g.calendar.between(today, app.due_on) if app.due_on else None
        _enter(g, app, service, "suspended", today=today)
    elif action == "resume":
        state = app.resume_state or service.stages[0]
        _enter(g, app, service, state, today=today)
        if app.remaining_days is not None:
            app.due_on = g.calendar.add(today, max(app.remaining_days, 1))
        app.resume_state, app.remaining_days = None, None
    elif action == "complete":
        _enter(g, app, service, "completed", today=today)
        app.closed_at = clock()
        event = "completed"
    elif action == "withdraw":
        _enter(g, app, service, "withdrawn", today=today)
        app.closed_at = clock()
    # Only what the person wrote: the items of a 补正 are shown from ``app.missing`` in the
    # reader's language (a stored label would be Chinese on an English page).
    record_step(app, action, before, actor, comment)
    session.flush()
    if event:
        g.bus.publish(
            session,
            f"gov_services.application.{event}",
            _payload(app, g, reason=app.decision_reason or None),
        )
    _notify(
        session, g, app, _ACTION_TITLES.get(action, N_("Your application changed: %(service)s"))
    )
    return app


def _close(g: Gov, app: Application, service: Service, state: str, reason: str) -> None:
    _enter(g, app, service, state)
    app.decision_reason = reason
    app.decided_at = app.closed_at = clock()


def _approve(session: Session, g: Gov, app: Application, service: Service, today: date) -> str:
    _enter(g, app, service, "approved", today=today)
    app.decided_at = clock()
    add_membership(
        session,
        g,
        person_id=app.person_id,
        database=service.database,
        service_code=service.code,
        application=app,
        today=today,
    )
    for code in service.offers:
        offer_service(session, g, person_id=app.person_id, service_code=code)
    return "approved"


def rate(
    session: Session, app: Application, *, actor: Any, rating: int, comment: str = ""
) -> Application:
    """The 5-level 好差评 rating, by the applicant, once the case is decided. An evaluation
    is a personal act: never in the assisted channel, where a worker acts for them."""
    if not is_applicant(actor, app):
        raise RoleError(N_("Only the applicant may rate the service."), "rating")
    if getattr(actor, "agent", None) is not None:
        raise RoleError(
            N_("Only the applicant may rate the service, not someone acting for them."), "rating"
        )
    if app.state not in DECIDED_STATES:
        raise TransitionError(N_("You can rate the service once your case is decided."), "state")
    if app.rating is not None:
        raise TransitionError(N_("You have rated this case already."), "rating")
    if rating not in (1, 2, 3, 4, 5):
        raise GovError(N_("Choose a rating from 1 to 5."), "rating")
    app.rating, app.rating_comment = rating, clean_text(comment, "comment")[:1000]
    record_step(app, "rate", app.state, actor, f"{rating}/5 {app.rating_comment}".strip())
    session.flush()
    return app
