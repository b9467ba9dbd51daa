"""The rules of gov_services: applications and their workflow, eligibility, prefill from the
registry, attachments, thematic databases, proactive offers and the registry-event
handlers. Plain functions over a session; they flush, the caller commits (a request, a
command, the demo seeder, an event delivery), so events published here exist exactly when
the change does.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.orm import Session

from core.toolkit import (
    RegistryReader,
    ScopeError,
    SearchPage,
    accounts_for_person,
    code_label,
    current_kernel,
    find_person_ids,
    log_person_access,
    mask_id_number,
    mask_name,
    mask_phone,
    notify,
    registry_reader,
    scope_allows,
    utcnow,
)
from plugins.gov_services.catalogue import (
    DERIVED_GROUPS,
    Calendar,
    Catalogue,
    Service,
    calendar_from,
    load_catalogue,
)
from plugins.gov_services.models import (
    Application,
    Attachment,
    Membership,
    Offer,
    Setting,
    Step,
)

PLUGIN = "gov_services"
APPLY = "gov_services.application.apply"
READ = "gov_services.application.read"
HANDLE = "gov_services.application.handle"
REVIEW = "gov_services.application.review"
APPROVE = "gov_services.application.approve"
THEMATIC_READ = "gov_services.thematic.read"
THEMATIC_EXPORT = "gov_services.thematic.export"
MANAGE = "gov_services.catalogue.manage"

STAGE_PERMISSION = {"community_check": HANDLE, "street_review": REVIEW, "approval": APPROVE}
OPEN_STATES = (
    "submitted",
    "needs_material",
    "community_check",
    "street_review",
    "approval",
    "suspended",
    "public_notice",
)
DECIDED_STATES = ("approved", "rejected", "not_accepted", "completed")
CLOSED_STATES = (*DECIDED_STATES, "withdrawn")
STATES = (*OPEN_STATES, *CLOSED_STATES)
ACTIONS = (
    "accept",
    "not_accept",
    "request_material",
    "resubmit",
    "pass",
    "reject",
    "suspend",
    "resume",
    "end_notice",
    "complete",
    "withdraw",
)
ALLOWED_TYPES = {
    "application/pdf": (b"%PDF",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}
EXTENSIONS = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated when shown."""
    return message


class GovError(ValueError):
    """A rule was broken: 422 in the API, a message beside the field on a page."""

    status = 422

    def __init__(
        self, message: str, field: str = "", *, errors: dict[str, str] | None = None, **params: Any
    ):
        super().__init__(message)
        self.message, self.field, self.params = message, field, params
        #: Every field's message when several are wrong at once (the form's answers).
        self.errors = errors or {}

    def text(self) -> str:
        return _tr(self.message, **self.params)


class UnknownService(GovError):
    """A service code the catalogue does not have: the thing asked for does not exist
    (404), as for an unknown id — its format was fine."""

    status = 404


class TransitionError(GovError):
    """The action is not possible in the application's state (409)."""

    status = 409


class RoleError(GovError):
    """The user's role may not take this action (403)."""

    status = 403


def _tr(message: str, **params: Any) -> str:
    """Translate now if there is a request or app context, else format the English."""
    try:
        from flask_babel import gettext

        return gettext(message, **params)
    except Exception:  # no app context (a script): the English text
        return message % params if params else message


def lang() -> str:
    try:
        from flask_babel import get_locale

        loc = get_locale()
        return "en" if loc is not None and loc.language == "en" else "zh"
    except Exception:
        return "zh"


# ------------------------------------------------------------------------------ context


@dataclass
class Gov:
    """What the services need from the app: the kernel (bus, settings, plugin scopes),
    the merged catalogue and the working-day calendar."""

    kernel: Any
    catalogue: Catalogue
    calendar: Calendar
    settings: dict[str, Any]

    @property
    def bus(self) -> Any:
        return self.kernel.bus

    def database_label(self, code: str, lang: str = "zh") -> str:
        return self.catalogue.database_label(code, lang)

    def department_label(self, code: str, lang: str = "zh") -> str:
        return self.catalogue.department_label(code, lang)

    def service(self, code: str) -> Service:
        service = self.catalogue.get(code)
        if service is None:
            raise UnknownService(N_("There is no such service."), "service_code")
        return service


def gov(kernel: Any = None) -> Gov:
    """The per-app context, built once and kept in the kernel's state for this plugin
    (``Kernel.state``: it lives with the app, so tests building many apps in one process
    never see each other's catalogue). Without ``kernel``: the current app's."""
    kernel = kernel if kernel is not None else current_kernel()
    state = kernel.state(PLUGIN)
    found = state.get("gov")
    if found is None:
        extra = [
            (pid, items) for pid, items in kernel.plugins.call_ordered("gov_services_service_types")
        ]
        settings = kernel.plugins.settings(PLUGIN)
        found = Gov(
            kernel=kernel,
            catalogue=load_catalogue(extra),
            calendar=calendar_from(settings),
            settings=settings,
        )
        state["gov"] = found
    return found


def reader_for(session: Session, g: Gov, actor: Any, purpose: str) -> RegistryReader:
    """The scoped, logged registry reader for this plugin: every person it returns is in
    that person's access log under ``purpose``."""
    return registry_reader(session, PLUGIN, actor=actor, purpose=purpose, kernel=g.kernel)


# ------------------------------------------------------------------------------ settings


def service_params(session: Session, service: Service, community: str | None) -> dict[str, Any]:
    """The thresholds in force in ``community``: the catalogue's defaults, overridden by
    the community's setting row."""
    params = service.params()
    if community:
        row = session.scalar(
            select(Setting).where(
                Setting.community == community, Setting.service_code == service.code
            )
        )
        if row is not None:
            params.update({k: v for k, v in (row.params or {}).items() if k in params})
    return params


def service_enabled(session: Session, service_code: str, community: str | None) -> bool:
    if not community:
        return True
    row = session.scalar(
        select(Setting).where(Setting.community == community, Setting.service_code == service_code)
    )
    return row is None or row.enabled


def set_service(
    session: Session,
    g: Gov,
    *,
    community: str,
    service_code: str,
    enabled: bool,
    params: dict[str, Any] | None = None,
) -> Setting:
    """An admin's local rule: switch a service on or off in a community and override its
    thresholds (only the parameters the catalogue declares, with values of the same kind)."""
    service = g.service(service_code)
    if not community or len(community) != 12 or not community.isdigit():
        raise GovError(N_("Enter a 12-digit community code."), "community")
    defaults = service.params()
    clean: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if key not in defaults:
            raise GovError(N_("%(param)s is not a parameter of this service."), "params", param=key)
        default = defaults[key]
        if isinstance(default, dict):
            if (
                not isinstance(value, dict)
                or set(value) - set(default)
                or not all(isinstance(v, int) and 0 <= v <= 150 for v in value.values())
            ):
                raise GovError(N_("%(param)s needs whole numbers by sex."), "params", param=key)
        elif isinstance(default, bool) or not isinstance(value, type(default)):
            raise GovError(N_("%(param)s has the wrong kind of value."), "params", param=key)
        elif isinstance(value, int) and not 0 <= value <= 10_000_000:
            raise GovError(N_("%(param)s is out of range."), "params", param=key)
        clean[key] = value
    row = session.scalar(
        select(Setting).where(Setting.community == community, Setting.service_code == service_code)
    )
    if row is None:
        row = Setting(community=community, service_code=service_code)
        session.add(row)
    row.enabled, row.params = bool(enabled), clean
    session.flush()
    return row


# ------------------------------------------------------------------------------ prefill


def prefill(
    session: Session, g: Gov, person_id: int, *, actor: Any, purpose: str = "application form"
) -> dict[str, Any]:
    """What the registry knows for the form: name, masked ID number, age, sex, hukou,
    address (masked), community, grid and household size. The resident confirms it and is
    asked only for the rest; corrections go through the registry's correction request.

    Read through the scoped reader each time and never stored with the application (see
    "Personal data" in docs/plugins/gov_services.md): the case keeps ``person_id`` and the
    registry is the record of what it showed. Household members' names are not part of
    it — the form needs only how many they are (minimum necessity)."""
    reader = reader_for(session, g, actor, purpose)
    view = reader.person(person_id)
    household = reader.household(person_id)
    return {
        "person_id": person_id,
        "name": view["name"],
        "sex": view["sex"],
        "id_number": view.get("id_number"),
        "age": view.get("age"),
        "status": view["status"],
        "hukou_type": view.get("hukou_type"),
        "address": view.get("address"),
        "community": view.get("community"),
        "community_name": view.get("community_name"),
        "grid": view.get("grid"),
        "household_number": household["number"] if household else None,
        "household_size": len(household["members"]) if household else 1,
    }


# ------------------------------------------------------------------------------ eligibility


def _threshold(rule: dict[str, Any], params: dict[str, Any], sex: str | None) -> Any:
    value = params.get(rule["param"], rule.get("value")) if "param" in rule else rule.get("value")
    if isinstance(value, dict):
        return value.get(sex or "", max(value.values()) if value else None)
    return value


def check_eligibility(
    service: Service,
    person: dict[str, Any],
    params: dict[str, Any],
    answers: dict[str, Any] | None = None,
) -> list[str]:
    """Every rule the person (and, when given, the answers) do not meet, as translated
    sentences that say what is needed and what the registry shows ("Longevity allowance
    needs age 80 or over; you are 76"). Answer rules are skipped when ``answers`` is None
    (the check before the form)."""
    name = service.name(lang())
    out: list[str] = []
    if person.get("status") != "active":
        out.append(
            _tr(N_("%(service)s is only for residents registered as living here."), service=name)
        )
        return out
    age, sex = person.get("age"), person.get("sex")
    for rule in service.eligibility:
        kind = rule["rule"]
        limit = _threshold(rule, params, sex)
        if kind == "age_min" and (age is None or age < limit):
            out.append(
                _tr(
                    N_("%(service)s needs age %(min)s or over; you are %(age)s."),
                    service=name,
                    min=limit,
                    age=age if age is not None else "?",
                )
            )
        elif kind == "age_max" and (age is None or age > limit):
            out.append(
                _tr(
                    N_("%(service)s is for people up to age %(max)s; you are %(age)s."),
                    service=name,
                    max=limit,
                    age=age if age is not None else "?",
                )
            )
        elif kind == "sex" and sex != limit:
            out.append(
                _tr(N_("%(service)s is for women only."), service=name)
                if limit == "F"
                else _tr(N_("%(service)s is for men only."), service=name)
            )
        elif kind == "hukou" and person.get("hukou_type") != limit:
            out.append(
                _tr(
                    N_("%(service)s needs a %(hukou)s registration; the registry shows %(yours)s."),
                    service=name,
                    hukou=_hukou(limit),
                    yours=_hukou(person.get("hukou_type")),
                )
            )
        elif answers is None:
            continue
        elif kind == "answer" and answers.get(rule["field"]) is not True:
            out.append(
                _tr(
                    N_("%(service)s needs: %(what)s."),
                    service=name,
                    what=_label(service, rule["field"]),
                )
            )
        elif kind == "answer_false" and answers.get(rule["field"]) is True:
            out.append(
                _tr(
                    N_("%(service)s is not possible with: %(what)s."),
                    service=name,
                    what=_label(service, rule["field"]),
                )
            )
        elif kind == "answer_min" and _num(answers.get(rule["field"])) < limit:
            out.append(
                _tr(
                    N_("%(service)s needs %(what)s of at least %(min)s."),
                    service=name,
                    what=_label(service, rule["field"]),
                    min=limit,
                )
            )
        elif kind == "answer_max" and _num(answers.get(rule["field"])) > limit:
            out.append(
                _tr(
                    N_("%(service)s needs %(what)s of at most %(max)s."),
                    service=name,
                    what=_label(service, rule["field"]),
                    max=limit,
                )
            )
        elif kind == "answer_in" and answers.get(rule["field"]) not in (limit or ()):
            out.append(
                _tr(
                    N_("%(service)s: %(what)s does not qualify."),
                    service=name,
                    what=_label(service, rule["field"]),
                )
            )
        elif kind == "income_per_head_max":
            per_head = _num(answers.get(rule["field"])) / max(1, person.get("household_size") or 1)
            if per_head >= limit:
                out.append(
                    _tr(
                        N_(
                            "%(service)s needs an income per person below %(max)s yuan a "
                            "month; yours is %(yours)s."
                        ),
                        service=name,
                        max=limit,
                        yours=round(per_head),
                    )
                )
    return out


def _bad_chars(value: str) -> bool:
    """Control characters (PostgreSQL refuses NUL) and unpaired surrogates (which cannot be
    encoded) are refused in every free text."""
    return any((ord(c) < 32 and c not in "\n\r\t") or 0xD800 <= ord(c) <= 0xDFFF for c in value)


def _text(value: str | None, field: str) -> str:
    value = (value or "").strip()
    if _bad_chars(value):
        raise GovError(N_("Contains a character that is not allowed."), field)
    return value


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _hukou(code: str | None) -> str:
    return code_label("hukou", code or "", lang()) or "—"


def _label(service: Service, field_name: str) -> str:
    for f in service.fields:
        if f["name"] == field_name:
            return f["label_en"] if lang() == "en" else f["label_zh"]
    return field_name


def clean_answers(service: Service, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Check the form's answers against the service's field schema: ``(answers, errors)``
    with errors by field name. The same check for the page and the API."""
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in service.fields:
        name, kind = f["name"], f.get("type", "text")
        value = raw.get(name)
        if kind == "bool":
            answers[name] = value in (True, "y", "on", "true", "1", 1)
            if f.get("required") and not answers[name]:
                errors[name] = _tr(N_("Confirm this to apply."))
            continue
        value = "" if value is None else str(value).strip()
        if not value:
            if f.get("required"):
                errors[name] = _tr(N_("Enter %(what)s."), what=_label(service, name))
            continue
        if _bad_chars(value):
            errors[name] = _tr(N_("Contains a character that is not allowed."))
            continue
        if kind == "number":
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                errors[name] = _tr(N_("Enter a number."))
                continue
            if ("min" in f and number < f["min"]) or ("max" in f and number > f["max"]):
                errors[name] = _tr(
                    N_("Enter a number from %(min)s to %(max)s."),
                    min=f.get("min", 0),
                    max=f.get("max", "∞"),
                )
                continue
            answers[name] = int(number) if number.is_integer() else number
        elif kind == "date":
            try:
                answers[name] = date.fromisoformat(value).isoformat()
            except ValueError:
                errors[name] = _tr(N_("Enter a date like 2024-03-01."))
        elif kind == "select":
            if value not in [c["value"] for c in f.get("choices", ())]:
                errors[name] = _tr(N_("Choose one of the options."))
            else:
                answers[name] = value
        else:
            limit = f.get("max", 500 if kind == "text" else 2000)
            if len(value) > limit:
                errors[name] = _tr(N_("At most %(n)s characters."), n=limit)
            else:
                answers[name] = value
    return answers, errors


# ------------------------------------------------------------------------------ answers

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
    if actor is None or getattr(actor, "agent", None) is not None or _owner(actor, app):
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
    purpose = _text(purpose, "purpose")
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
            state=_tr(STATE_LABELS[app.state]),
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


# ------------------------------------------------------------------------------ applying


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


def _step(app: Application, action: str, from_state: str | None, actor: Any, comment: str) -> None:
    real = _real(actor)
    app.steps.append(
        Step(
            action=action,
            from_state=from_state,
            to_state=app.state,
            actor_id=getattr(real, "id", None),
            actor_name=_actor_name(actor, app),
            comment=(comment or "")[:2000],
            at=utcnow(),
        )
    )


def _enter(
    g: Gov, app: Application, service: Service, state: str, *, today: date | None = None
) -> None:
    """Move to ``state`` and set its due date from the service's time limit in working
    days (public notice: its own length); closed and suspended states have none."""
    today = today or date.today()
    app.state = state
    if state == "public_notice":
        days = service.public_notice_days
    else:
        days = service.time_limits.get(state, 0) if state in OPEN_STATES else 0
    app.due_on = g.calendar.add(today, days) if days and state != "suspended" else None
    app.warned_on = None


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
    comment = _text(comment, "comment")
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
    )
    session.add(app)
    _enter(g, app, service, "submitted")
    session.flush()
    app.reference = f"GS{app.submitted_at:%Y}{app.id:06d}"
    _step(app, "submit", None, agent or actor, comment)
    session.flush()
    g.bus.publish(session, "gov_services.application.submitted", _payload(app))
    _notify(session, g, app, N_("Application received: %(service)s"))
    return app


def _payload(app: Application, **extra: Any) -> dict[str, Any]:
    out = {
        "application_id": app.id,
        "service_code": app.service_code,
        "person_id": app.person_id,
        "community": app.community,
        "state": app.state,
    }
    out.update(extra)
    return out


def _resident_user(session: Session, app: Application) -> int | None:
    if app.user_id:
        return app.user_id
    return _account_of(session, app.person_id)


def _account_of(session: Session, person_id: int) -> int | None:
    """The account bound to a registry person (whom to notify), if any."""
    accounts = accounts_for_person(session, person_id)
    return accounts[0].id if accounts else None


def _notify(session: Session, g: Gov, app: Application, title: str) -> None:
    """Tell the resident (the applicant's account, or the account bound to the person)."""
    user_id = _resident_user(session, app)
    if user_id is None:
        return
    service = g.service(app.service_code)
    notify(
        session,
        g.bus,
        user_id=user_id,
        title=_tr(title, service=service.name_zh)[:200],
        body=_tr(
            N_("Reference %(ref)s. Current state: %(state)s."),
            ref=app.reference,
            state=_tr(STATE_LABELS[app.state]),
        ),
        link=f"/gov-services/applications/{app.id}",
        source=PLUGIN,
    )


STATE_LABELS = {
    "submitted": N_("Submitted"),
    "needs_material": N_("Needs material"),
    "not_accepted": N_("Not accepted"),
    "community_check": N_("Community check"),
    "street_review": N_("Street review"),
    "approval": N_("Approval"),
    "suspended": N_("Suspended (home visit)"),
    "public_notice": N_("Public notice"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "completed": N_("Completed"),
    "withdrawn": N_("Withdrawn"),
}
ACTION_LABELS = {
    "submit": N_("Submitted"),
    "accept": N_("Accept"),
    "not_accept": N_("Do not accept"),
    "request_material": N_("Ask for material"),
    "resubmit": N_("Resubmit"),
    "pass": N_("Pass to the next step"),
    "reject": N_("Reject"),
    "suspend": N_("Suspend"),
    "resume": N_("Resume"),
    "end_notice": N_("End the public notice"),
    "complete": N_("Complete"),
    "withdraw": N_("Withdraw"),
    "rate": N_("Rated"),
    "flag": N_("Flagged for review"),
}


# ------------------------------------------------------------------------------ workflow


def _owner(actor: Any, app: Application) -> bool:
    return bool(actor is not None and getattr(actor, "person_id", None) == app.person_id)


def action_permission(app: Application, action: str) -> str | None:
    """The permission the action needs in the application's current state (None: the
    applicant's own action)."""
    if action in ("resubmit", "withdraw"):
        return None
    if action in ("pass", "reject", "suspend"):
        stage = app.resume_state if app.state == "suspended" else app.state
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
        need = action_permission(app, action)
        if (need is None and _owner(user, app)) or (need is not None and need in perms):
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
    today: date | None = None,
) -> Application:
    """Apply one workflow action. A role that may never take the action gets
    :class:`RoleError` (403); an action the state does not allow gets
    :class:`TransitionError` (409); a rejection or refusal without a reason, or a request
    for material without the complete list, gets :class:`GovError` (422)."""
    if action not in ACTIONS or action == "rate":
        raise GovError(N_("Unknown action."), "action")
    perms = getattr(actor, "permissions", frozenset())
    own = action in ("resubmit", "withdraw")
    if own and not _owner(actor, app):
        raise RoleError(N_("Only the applicant may do this."), "action")
    if not own and not (set(_ANY_PERMISSION.get(action, (HANDLE,))) & set(perms)):
        raise RoleError(N_("Your role may not do this."), "action")
    if app.state not in _FROM[action]:
        raise TransitionError(
            N_("This is not possible while the application is %(state)s."),
            "state",
            state=_tr(STATE_LABELS[app.state]),
        )
    need = action_permission(app, action)
    if need is not None and need not in perms:
        raise RoleError(N_("This step needs another role."), "action")
    comment = _text(comment, "comment")
    missing = [_text(m, "missing") for m in missing]
    service = g.service(app.service_code)
    before = app.state
    today = today or date.today()
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
        wanted = [m.strip() for m in missing if m and m.strip()]
        if not wanted:
            raise GovError(N_("List everything that is missing, at once."), "missing")
        app.missing = wanted[:30]
        _enter(g, app, service, "needs_material", today=today)
    elif action == "resubmit":
        app.missing = []
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
        app.closed_at = utcnow()
        event = "completed"
    elif action == "withdraw":
        _enter(g, app, service, "withdrawn", today=today)
        app.closed_at = utcnow()
    _step(
        app,
        action,
        before,
        actor,
        comment
        if action != "request_material"
        else "; ".join(app.missing) + (f" — {comment}" if comment else ""),
    )
    session.flush()
    if event:
        g.bus.publish(
            session,
            f"gov_services.application.{event}",
            _payload(app, reason=app.decision_reason or None),
        )
    _notify(session, g, app, N_("Your application changed: %(service)s"))
    return app


def _close(g: Gov, app: Application, service: Service, state: str, reason: str) -> None:
    _enter(g, app, service, state)
    app.decision_reason = reason
    app.decided_at = app.closed_at = utcnow()


def _approve(session: Session, g: Gov, app: Application, service: Service, today: date) -> str:
    _enter(g, app, service, "approved", today=today)
    app.decided_at = utcnow()
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
    if not _owner(actor, app):
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
    app.rating, app.rating_comment = rating, _text(comment, "comment")[:1000]
    _step(app, "rate", app.state, actor, f"{rating}/5 {app.rating_comment}".strip())
    session.flush()
    return app


# ------------------------------------------------------------------------------ queries


def scope_filter(actor: Any, community_col: Any, grid_col: Any) -> Any:
    """Restrict a staff list to the actor's communities and grids (deny by default)."""
    scopes = {(s.kind, s.code) for s in (getattr(actor, "scopes", None) or [])}
    if ("all", "") in scopes:
        return None
    comms = [c for k, c in scopes if k == "community"]
    grids = [c for k, c in scopes if k == "grid"]
    conds = []
    if comms:
        conds.append(community_col.in_(comms))
    if grids:
        conds.append(grid_col.in_(grids))
    return or_(*conds) if conds else false()


def queue_query(
    actor: Any,
    *,
    state: str | None = None,
    service: str | None = None,
    community: str | None = None,
    overdue: bool = False,
    flagged: bool = False,
    today: date | None = None,
) -> Select[tuple[Application]]:
    """The staff queue: applications in the actor's places, oldest due first."""
    today = today or date.today()
    query = select(Application)
    where = scope_filter(actor, Application.community, Application.grid)
    if where is not None:
        query = query.where(where)
    if state:
        query = query.where(Application.state == state)
    if service:
        query = query.where(Application.service_code == service)
    if community:
        query = query.where(Application.community == community)
    if overdue:
        query = query.where(Application.state.in_(OPEN_STATES), Application.due_on < today)
    if flagged:
        query = query.where(Application.review_flag != "")
    return query.order_by(Application.due_on.is_(None), Application.due_on, Application.id)


def my_applications(session: Session, person_id: int | None) -> list[Application]:
    if person_id is None:
        return []
    return list(
        session.scalars(
            select(Application)
            .where(Application.person_id == person_id)
            .order_by(Application.id.desc())
        )
    )


def deadline_status(app: Application, g: Gov, today: date | None = None) -> str:
    """``overdue``, ``due_soon`` (within the warning window) or ``""``."""
    today = today or date.today()
    if app.due_on is None or app.state not in OPEN_STATES:
        return ""
    if app.due_on < today:
        return "overdue"
    if g.calendar.between(today, app.due_on) <= g.settings.get("warn_days", 1):
        return "due_soon"
    return ""


def statistics(session: Session, actor: Any, today: date | None = None) -> dict[str, Any]:
    """Applications per service and state, average handling time (days from submission to
    decision) and the overdue rate, within the actor's places."""
    today = today or date.today()
    where = scope_filter(actor, Application.community, Application.grid)
    base = select(Application)
    if where is not None:
        base = base.where(where)
    rows = list(session.scalars(base))
    per_service: dict[str, int] = {}
    per_state: dict[str, int] = {}
    durations = []
    open_n = overdue_n = 0
    for app in rows:
        per_service[app.service_code] = per_service.get(app.service_code, 0) + 1
        per_state[app.state] = per_state.get(app.state, 0) + 1
        if app.decided_at is not None:
            durations.append((app.decided_at - app.submitted_at).total_seconds() / 86400)
        if app.state in OPEN_STATES:
            open_n += 1
            if app.due_on is not None and app.due_on < today:
                overdue_n += 1
    ratings = [a.rating for a in rows if a.rating]
    return {
        "total": len(rows),
        "per_service": per_service,
        "per_state": per_state,
        "average_days": round(sum(durations) / len(durations), 1) if durations else None,
        "open": open_n,
        "overdue": overdue_n,
        "overdue_rate": round(overdue_n / open_n, 3) if open_n else 0.0,
        "average_rating": round(sum(ratings) / len(ratings), 2) if ratings else None,
    }


# ------------------------------------------------------------------------------ attachments


def attachment_dir(instance_path: str | Path) -> Path:
    return Path(instance_path) / "gov_services" / "attachments"


def add_attachment(
    session: Session,
    g: Gov,
    app: Application,
    *,
    document: str,
    filename: str,
    data: bytes,
    actor: Any,
    instance_path: str | Path,
) -> Attachment:
    """Store a file outside the web root after checking its type by content (PDF, JPEG,
    PNG) and its size against ``max_attachment_kb``."""
    service = g.service(app.service_code)
    if document not in [d["code"] for d in service.documents]:
        raise GovError(N_("This service does not ask for that document."), "document")
    if app.state in CLOSED_STATES:
        raise TransitionError(N_("The case is closed."), "state")
    limit = int(g.settings.get("max_attachment_kb", 5120)) * 1024
    if not data:
        raise GovError(N_("The file is empty."), f"doc_{document}")
    if len(data) > limit:
        raise GovError(
            N_("The file is larger than %(kb)s KB."), f"doc_{document}", kb=limit // 1024
        )
    content_type = next(
        (t for t, magics in ALLOWED_TYPES.items() if any(data.startswith(m) for m in magics)), None
    )
    if content_type is None:
        raise GovError(N_("Attach a PDF, JPEG or PNG file."), f"doc_{document}")
    stored = secrets.token_hex(16) + EXTENSIONS[content_type]
    folder = attachment_dir(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / stored).write_bytes(data)
    safe_name = "".join(c for c in Path(filename or "file").name if c.isprintable())[:200]
    att = Attachment(
        application_id=app.id,
        document=document,
        filename=safe_name or "file",
        content_type=content_type,
        size=len(data),
        stored_as=stored,
        uploaded_by_id=getattr(actor, "id", None),
    )
    session.add(att)
    session.flush()
    return att


# ------------------------------------------------------------------------------ thematic


def add_membership(
    session: Session,
    g: Gov,
    *,
    person_id: int,
    database: str,
    service_code: str,
    application: Application | None = None,
    today: date | None = None,
) -> Membership:
    """Add the person to a thematic database (idempotent: an active membership stays) and
    publish ``gov_services.membership.changed``."""
    existing = session.scalar(
        select(Membership).where(
            Membership.person_id == person_id,
            Membership.database == database,
            Membership.ended_on.is_(None),
        )
    )
    if existing is not None:
        return existing
    row = Membership(
        person_id=person_id,
        database=database,
        service_code=service_code,
        application_id=application.id if application else None,
        community=application.community if application else None,
        grid=application.grid if application else None,
        started_on=today or date.today(),
        end_reason="",
        review_flag="",
    )
    session.add(row)
    session.flush()
    g.bus.publish(
        session,
        "gov_services.membership.changed",
        {
            "membership_id": row.id,
            "person_id": person_id,
            "database": database,
            "change": "added",
            "service_code": service_code,
            "reason": None,
        },
    )
    return row


def end_membership(
    session: Session, g: Gov, row: Membership, *, reason: str, today: date | None = None
) -> Membership:
    """End a membership (termination, death): kept as history, never deleted."""
    reason = _text(reason, "reason")
    if not reason:
        raise GovError(N_("Give the reason."), "reason")
    if row.ended_on is not None:
        raise TransitionError(N_("This membership has ended already."), "state")
    row.ended_on, row.end_reason = today or date.today(), reason[:200]
    session.flush()
    g.bus.publish(
        session,
        "gov_services.membership.changed",
        {
            "membership_id": row.id,
            "person_id": row.person_id,
            "database": row.database,
            "change": "ended",
            "service_code": row.service_code,
            "reason": row.end_reason,
        },
    )
    return row


def memberships_query(
    actor: Any, *, database: str | None = None, community: str | None = None, active: bool = True
) -> Select[tuple[Membership]]:
    query = select(Membership)
    where = scope_filter(actor, Membership.community, Membership.grid)
    if where is not None:
        query = query.where(where)
    if database:
        query = query.where(Membership.database == database)
    if community:
        query = query.where(Membership.community == community)
    if active:
        query = query.where(Membership.ended_on.is_(None))
    return query.order_by(Membership.id)


def membership_counts(session: Session, actor: Any) -> dict[str, dict[str, dict[str, int]]]:
    """Active members per database, community and grid within the actor's places:
    ``{database: {community: {grid: n}}}`` (grid ``"-"`` when the case had none)."""
    query = (
        select(Membership.database, Membership.community, Membership.grid, func.count())
        .where(Membership.ended_on.is_(None))
        .group_by(Membership.database, Membership.community, Membership.grid)
    )
    where = scope_filter(actor, Membership.community, Membership.grid)
    if where is not None:
        query = query.where(where)
    out: dict[str, dict[str, dict[str, int]]] = {}
    for database, community, grid, n in session.execute(query):
        out.setdefault(database, {}).setdefault(community or "?", {})[grid or "-"] = n
    return out


def deadline_warnings(session: Session, g: Gov, *, today: date | None = None) -> int:
    """Warn before a deadline: each open case due within ``warn_days`` working days (or
    overdue) notifies the staff member who last acted on it, once per due date."""
    today = today or date.today()
    horizon = g.calendar.add(today, int(g.settings.get("warn_days", 1)))
    made = 0
    rows = session.scalars(
        select(Application).where(
            Application.state.in_(OPEN_STATES),
            Application.due_on.isnot(None),
            Application.due_on <= horizon,
            or_(Application.warned_on.is_(None), Application.warned_on < Application.due_on),
        )
    )
    for app in rows:
        staff = [
            s.actor_id
            for s in app.steps
            if s.actor_id is not None and s.actor_id not in (app.user_id, app.filed_by_id)
        ] or ([app.filed_by_id] if app.filed_by_id else [])
        app.warned_on = app.due_on
        if not staff:
            continue
        overdue = app.due_on < today
        notify(
            session,
            g.bus,
            user_id=staff[-1],
            title=_tr(
                N_("Overdue: %(ref)s") if overdue else N_("Due soon: %(ref)s"), ref=app.reference
            ),
            body=_tr(N_("Due by %(day)s."), day=app.due_on.isoformat()),
            link=f"/gov-services/applications/{app.id}",
            kind="warning",
            source=PLUGIN,
        )
        made += 1
    session.flush()
    return made


def derived_group(
    session: Session,
    g: Gov,
    actor: Any,
    group: str,
    *,
    community: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> SearchPage:
    """One page of a derived group (60+, 80+, women 15–49), computed from the registry on
    every call, never copied. The group is selected by id (nothing shown, nothing logged)
    and only the page shown is read through the reader, so exactly the persons on the
    page are in their access logs."""
    spec = DERIVED_GROUPS[group]
    page, per_page = max(1, page), max(1, per_page)
    ids, total = find_person_ids(
        session,
        PLUGIN,
        actor=actor,
        community=community or None,
        age_min=spec.get("age_min"),
        age_max=spec.get("age_max"),
        sex=spec.get("sex"),
        offset=(page - 1) * per_page,
        limit=per_page,
        kernel=g.kernel,
    )
    items = reader_for(session, g, actor, f"derived group {group}").persons(ids)
    return SearchPage(items=items, total=total, page=page, per_page=per_page)


def group_count(session: Session, g: Gov, actor: Any, group: str) -> int:
    """How many people in the actor's places are in a derived group: a count shows nobody,
    so it reads no person and writes no access-log entry."""
    spec = DERIVED_GROUPS[group]
    return find_person_ids(
        session,
        PLUGIN,
        actor=actor,
        age_min=spec.get("age_min"),
        age_max=spec.get("age_max"),
        sex=spec.get("sex"),
        limit=0,
        kernel=g.kernel,
    )[1]


# ------------------------------------------------------------------------------ proactive


def offer_service(session: Session, g: Gov, *, person_id: int, service_code: str) -> bool:
    """Tell the person's account that they may apply for ``service_code`` (once)."""
    service = g.catalogue.get(service_code)
    if service is None:
        return False
    if session.scalar(
        select(Offer.id).where(Offer.person_id == person_id, Offer.service_code == service_code)
    ):
        return False
    user_id = _account_of(session, person_id)
    session.add(Offer(person_id=person_id, service_code=service_code, user_id=user_id))
    if user_id is not None:
        notify(
            session,
            g.bus,
            user_id=user_id,
            title=_tr(N_("You may apply for: %(service)s"), service=service.name_zh)[:200],
            body=_tr(
                N_(
                    "The registry shows you qualify. Apply online; your details are "
                    "filled in for you."
                )
            ),
            link=f"/gov-services/services/{service.code}",
            kind="offer",
            source=PLUGIN,
        )
    session.flush()
    return True


def proactive_longevity(
    session: Session, g: Gov, *, person_ids: Iterable[int] | None = None, today: date | None = None
) -> int:
    """Offer the longevity allowance to residents who have reached its age (80 by default,
    the community's own threshold where set) and neither hold it nor were offered it.
    Without ``person_ids``: everyone in the registry (the daily job)."""
    service = g.catalogue.get("longevity_allowance")
    if service is None:
        return 0
    reader = reader_for(session, g, None, "gov_services proactive offer")
    candidates: list[dict[str, Any]] = []
    if person_ids is not None:
        candidates = reader.persons(list(person_ids))
    else:
        low = min(_all_thresholds(session, service))
        for page in range(1, 1000):
            chunk = reader.search(age_min=low, page=page, per_page=100, with_total=False)
            candidates.extend(chunk.items)
            if len(chunk.items) < 100:
                break
    made = 0
    for person in candidates:
        if person.get("status") != "active":
            continue
        params = service_params(session, service, person.get("community"))
        if check_eligibility(service, dict(person, household_size=1), params):
            continue
        if not service_enabled(session, service.code, person.get("community")):
            continue
        holds = session.scalar(
            select(Membership.id).where(
                Membership.person_id == person["id"],
                Membership.database == service.database,
                Membership.ended_on.is_(None),
            )
        )
        if holds is None and offer_service(
            session, g, person_id=person["id"], service_code=service.code
        ):
            made += 1
    return made


def _all_thresholds(session: Session, service: Service) -> list[int]:
    values = [service.params().get("min_age", 80)]
    for row in session.scalars(select(Setting).where(Setting.service_code == service.code)):
        if isinstance((row.params or {}).get("min_age"), int):
            values.append(row.params["min_age"])
    return values


# ------------------------------------------------------------------------------ handlers


def _flag(session: Session, g: Gov, person_id: int, text: str) -> int:
    """Flag the person's open applications and active memberships for review (nothing is
    deleted or decided automatically: a person decides)."""
    n = 0
    for app in session.scalars(
        select(Application).where(
            Application.person_id == person_id, Application.state.in_(OPEN_STATES)
        )
    ):
        if app.review_flag != text:
            app.review_flag = text
            _step(app, "flag", app.state, None, text)
            n += 1
    for row in session.scalars(
        select(Membership).where(Membership.person_id == person_id, Membership.ended_on.is_(None))
    ):
        row.review_flag = text
        n += 1
    session.flush()
    return n


def handler_for(name: str) -> Any:
    """Subscribers run inside the app context the dispatcher provides, so the kernel is
    looked up at delivery time."""

    def on_moved(event: Any, session: Session) -> None:
        p = event.payload
        where = p.get("to_community") or "outside the area"
        _flag(
            session,
            gov(),
            p["person_id"],
            # the communities only (the case's place): when and where exactly is the
            # registry's to say, read and logged when someone looks
            f"moved {p.get('from_community') or '?'} → {where}",
        )

    def on_deceased(event: Any, session: Session) -> None:
        g = gov()
        p = event.payload
        _flag(session, g, p["person_id"], "deceased")  # the date stays in the registry
        for row in list(
            session.scalars(
                select(Membership).where(
                    Membership.person_id == p["person_id"], Membership.ended_on.is_(None)
                )
            )
        ):
            end_membership(session, g, row, reason="deceased")

    def on_person(event: Any, session: Session) -> None:
        p = event.payload
        if event.name == "registry.person.updated" and "birth_date" not in p.get("fields", []):
            return
        proactive_longevity(session, gov(), person_ids=[p["person_id"]])

    return {"moved": on_moved, "deceased": on_deceased, "person": on_person}[name]
