"""Who may apply for what: a community's local settings (a service switched on or off,
its thresholds), the prefill read from the registry, the eligibility rules and the form's
answers checked against the service's fields. The same checks serve the page, the API
and the proactive offers.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.toolkit import N_, code_label
from plugins.gov_services.catalogue import Service
from plugins.gov_services.models import Setting
from plugins.gov_services.services.context import Gov, reader_for
from plugins.gov_services.services.vocabulary import GovError, has_bad_chars, lang, translated


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
            translated(
                N_("%(service)s is only for residents registered as living here."), service=name
            )
        )
        return out
    age, sex = person.get("age"), person.get("sex")
    for rule in service.eligibility:
        kind = rule["rule"]
        limit = _threshold(rule, params, sex)
        if kind == "age_min" and (age is None or age < limit):
            out.append(
                translated(
                    N_("%(service)s needs age %(min)s or over; you are %(age)s."),
                    service=name,
                    min=limit,
                    age=age if age is not None else "?",
                )
            )
        elif kind == "age_max" and (age is None or age > limit):
            out.append(
                translated(
                    N_("%(service)s is for people up to age %(max)s; you are %(age)s."),
                    service=name,
                    max=limit,
                    age=age if age is not None else "?",
                )
            )
        elif kind == "sex" and sex != limit:
            out.append(
                translated(N_("%(service)s is for women only."), service=name)
                if limit == "F"
                else translated(N_("%(service)s is for men only."), service=name)
            )
        elif kind == "hukou" and person.get("hukou_type") != limit:
            out.append(
                translated(
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
                translated(
                    N_("%(service)s needs: %(what)s."),
                    service=name,
                    what=_label(service, rule["field"]),
                )
            )
        elif kind == "answer_false" and answers.get(rule["field"]) is True:
            out.append(
                translated(
                    N_("%(service)s is not possible with: %(what)s."),
                    service=name,
                    what=_label(service, rule["field"]),
                )
            )
        elif kind == "answer_min" and _num(answers.get(rule["field"])) < limit:
            out.append(
                translated(
                    N_("%(service)s needs %(what)s of at least %(min)s."),
                    service=name,
                    what=_label(service, rule["field"]),
                    min=limit,
                )
            )
        elif kind == "answer_max" and _num(answers.get(rule["field"])) > limit:
            out.append(
                translated(
                    N_("%(service)s needs %(what)s of at most %(max)s."),
                    service=name,
                    what=_label(service, rule["field"]),
                    max=limit,
                )
            )
        elif kind == "answer_in" and answers.get(rule["field"]) not in (limit or ()):
            out.append(
                translated(
                    N_("%(service)s: %(what)s does not qualify."),
                    service=name,
                    what=_label(service, rule["field"]),
                )
            )
        elif kind == "income_per_head_max":
            per_head = _num(answers.get(rule["field"])) / max(1, person.get("household_size") or 1)
            if per_head >= limit:
                out.append(
                    translated(
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
                errors[name] = translated(N_("Confirm this to apply."))
            continue
        value = "" if value is None else str(value).strip()
        if not value:
            if f.get("required"):
                errors[name] = translated(N_("Enter %(what)s."), what=_label(service, name))
            continue
        if has_bad_chars(value):
            errors[name] = translated(N_("Contains a character that is not allowed."))
            continue
        if kind == "number":
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                errors[name] = translated(N_("Enter a number."))
                continue
            if ("min" in f and number < f["min"]) or ("max" in f and number > f["max"]):
                errors[name] = translated(
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
                errors[name] = translated(N_("Enter a date like 2024-03-01."))
        elif kind == "select":
            if value not in [c["value"] for c in f.get("choices", ())]:
                errors[name] = translated(N_("Choose one of the options."))
            else:
                answers[name] = value
        else:
            limit = f.get("max", 500 if kind == "text" else 2000)
            if len(value) > limit:
                errors[name] = translated(N_("At most %(n)s characters."), n=limit)
            else:
                answers[name] = value
    return answers, errors
