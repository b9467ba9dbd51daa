"""The blueprint and what the pages share: settings, labels, the reader, form errors, the
object check (404 for a matter the viewer may not see) and the console slot."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, render_template
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from core.toolkit import (
    RegistryError,
    ScopeError,
    current_session,
    log_audit,
    mask_name,
    mask_phone,
    plugin_settings,
    registry_reader,
)
from plugins.matters import info
from plugins.matters import services as svc
from plugins.matters.forms import ConsoleForm
from plugins.matters.models import Matter

bp = Blueprint("matters", "plugins.matters", template_folder="templates")


def settings() -> dict[str, Any]:
    return plugin_settings(info.id)


def lang() -> str:
    return str(get_locale() or "zh")[:2]


def reader(purpose: str) -> Any:
    """The plugin's reader for the signed-in user. The matter itself is the grant
    (a department answers whoever filed), so place scope is not enforced; every read is
    logged in the person's access log under the real viewer with the purpose."""
    return registry_reader(current_session(), info.id, actor=current_user, purpose=purpose,
                           enforce_place=False)


def category_choices() -> list[tuple[str, str]]:
    return [("", _("Choose")), *((k, svc.label(svc.CATEGORIES, k, lang()))
                                 for k in svc.CATEGORIES)]


def community_choices() -> list[tuple[str, str]]:
    try:
        rows = reader("").communities()
    except (ScopeError, RegistryError):
        rows = []
    return [("", _("Choose a community")), *((c["code"], c["name"]) for c in rows)]


def form_errors(form: FlaskForm) -> list[tuple[str, str]]:
    return [(f.id, str(e)) for f in form for e in f.errors]


def put_error(form: FlaskForm, exc: svc.MatterError, errors: list) -> None:
    target = getattr(form, exc.field, None) if exc.field else None
    if target is not None:
        target.errors = [*list(target.errors or []), exc.text()]
        errors.append((target.id, exc.text()))
    else:
        errors.append(("", exc.text()))


def visible_matter(matter_id: int) -> Matter:
    matter = svc.get_matter(current_session(), matter_id)
    if matter is None or not svc.can_see(current_session(), current_user, matter):
        abort(404)
    return matter


def contact(matter: Matter) -> dict[str, Any]:
    """Who the matter is from, as this viewer may see it: a registry person through the
    reader (masked, logged in their access log), or the caller's own copy masked and the
    display audited against the matter. The resident sees their own matter unmasked."""
    if svc.queries.is_own(current_user, matter):
        return {}
    if matter.person_id:
        try:
            person = reader(f"matter {matter.reference}").person(matter.person_id)
        except (ScopeError, RegistryError, ValueError):
            return {"name": "—", "in_registry": True}
        name = person.get("name") or ""
        return {"name": mask_name(name) if name else "—", "in_registry": True}
    if matter.caller_name or matter.caller_phone:
        log_audit(current_session(), "matters.caller.shown", target_type="matters_matter",
                  target_id=str(matter.id), detail={"masked": True})
        return {"name": mask_name(matter.caller_name) if matter.caller_name else "",
                "phone": mask_phone(matter.caller_phone) if matter.caller_phone else "",
                "in_registry": False}
    return {}


@bp.app_template_global()
def matters_label(kind: str, code: str | None) -> str:
    table = {"category": svc.CATEGORIES, "state": svc.STATES, "rating": svc.RATINGS,
             "source": svc.SOURCES, "step": svc.rules.STEP_KINDS}[kind]
    return svc.label(table, code, lang())


@bp.app_template_global()
def matters_department(code: str | None) -> str:
    if not code:
        return ""
    names = g.get("_matters_departments")
    if names is None:
        names = g._matters_departments = svc.department_map(current_session())
    dept = names.get(code)
    if dept is None:
        return code
    return dept.name if lang() == "zh" or not dept.name_en else dept.name_en


def console_slot(person_id: Any, community: Any) -> str:
    """The console's 'a matter for the government' form, under the caller (or the
    unregistered-caller form when ``person_id`` is None): posts to ``/matters/console``."""
    form = ConsoleForm(formdata=None, prefix="matter", data={"person_id": person_id or ""})
    form.category.choices = category_choices()
    form.community.choices = community_choices()
    return render_template("matters/console_slot.html", form=form, person_id=person_id,
                           community=community)
