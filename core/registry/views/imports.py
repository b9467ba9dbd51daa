"""Import (upload → check → confirm → result) and export."""

from __future__ import annotations

import io
import json
import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.validators import Optional, ValidationError

from core.audit.web import request_facts
from core.current import current_kernel
from core.db import current_session, local_today
from core.exports import csv_writer
from core.identity import has_permission, require
from core.registry import api as shared
from core.registry import codes
from core.registry.errors import RegistryError, ScopeError
from core.registry.importer import export_persons, import_within, list_imports, revert_import
from core.registry.models import Community, RegistryImport
from core.registry.views.common import (
    EXPORT,
    IMPORT,
    IMPORT_TTL,
    REVEAL,
    TOKEN_RE,
    bp,
    field_errors,
    field_label,
    lang,
    message,
    refusal,
    scope_communities,
)
from core.rules import MAX_ID
from core.web.forms import CheckboxesField, Length, choices, printable

# ------------------------------------------------------------------------------ import


def _imports_dir() -> Path:
    path = Path(current_app.instance_path) / "registry-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _clean_old_imports(folder: Path) -> None:
    cutoff = time.time() - IMPORT_TTL
    for item in folder.iterdir():
        try:
            if item.stat().st_mtime < cutoff:
                item.unlink()
        except OSError:
            pass


def _load_import(token: str) -> tuple[dict[str, Any], Path]:
    """An upload of the signed-in user (404 for anyone else's or an expired one)."""
    if not TOKEN_RE.match(token):
        abort(404)
    folder = _imports_dir()
    meta_path = folder / f"{token}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        abort(404)
    if meta.get("user_id") != current_user.id or time.time() - meta.get("at", 0) > IMPORT_TTL:
        abort(404)
    return meta, folder / f"{token}.data"


def _save_import(token: str, meta: dict[str, Any]) -> None:
    (_imports_dir() / f"{token}.json").write_text(json.dumps(meta, ensure_ascii=False),
                                                  encoding="utf-8")


#: Fields whose values in a diff are national codes, shown by their label.
_DIFF_CODES = {"id_type": codes.ID_TYPES, "sex": codes.SEXES, "hukou_type": codes.HUKOU_TYPES,
               "ethnicity": codes.ETHNICITIES, "relation": codes.RELATIONS,
               "status": codes.STATUSES}


def _code_text(field: str, value: str | None) -> str | None:
    table = _DIFF_CODES.get(field)
    if table is None or value is None:
        return value
    if table is codes.ETHNICITIES:  # names only (GB 3304), not (zh, en) pairs
        return codes.ethnicity_label(value, lang())
    return codes.label(table, value, lang()) or value


def _report_view(report: dict[str, Any]) -> dict[str, Any]:
    """The saved report for the check page: rejected rows with their problems, and per
    row what would change (field labels, old → new as the importer masked them), a
    conflict row with the reasons it is refused."""
    rows: dict[int, dict[str, Any]] = {}
    for e in report["rejected"]:
        row = rows.setdefault(e["row"], {"row": e["row"], "name": e["name"], "problems": []})
        row["name"] = row["name"] or e["name"]
        row["problems"].append({"field": field_label(e["field"]),
                                "message": message(e["message"]), "value": e["value"]})
    diffs = []
    for d in report.get("diffs") or ():
        if report["rejected"] and d["action"] != "conflict":
            continue  # nothing will be written: only the rows to fix are listed
        problems = rows.get(d["row"], {}).get("problems", [])
        diffs.append({**d, "changes": [{**c, "label": field_label(c["field"]),
                                        "old": _code_text(c["field"], c["old"]),
                                        "new": _code_text(c["field"], c["new"])}
                                       for c in d["changes"]],
                      "reasons": problems if d["action"] == "conflict" else []})
    return {**report, "rows": [rows[k] for k in sorted(rows)], "diff_rows": diffs}


@bp.route("/import", methods=["GET", "POST"])
@require(IMPORT)
def import_start():
    """Upload a CSV or XLSX file; the next page says what it would do (a dry run).
    ``community``: the community of every row, for a roster without that column (only
    the user's communities are offered, and the importer checks the scope again);
    ``blank_clears``: a blank cell clears the field of a registered person;
    ``correction`` with its required ``reason``: a correction run, which applies a row
    whose ID number is registered under another name and records every change with the
    reason."""
    errors: list[tuple[str, str]] = []
    session = current_session()
    communities = scope_communities(session)
    community = (request.form.get("community") or "").strip()
    blank_clears = request.form.get("blank_clears") == "yes"
    correction = request.form.get("correction") == "yes"
    reason = " ".join((request.form.get("reason") or "").split())
    if request.method == "POST":
        upload = request.files.get("file")
        filename = (upload.filename or "").strip() if upload else ""
        data = upload.read() if upload else b""
        if not filename or not data:
            errors.append(("file", _("Choose the file to import")))
        elif not filename.lower().endswith((".csv", ".xlsx")):
            errors.append(("file", _("The file must be a CSV or an XLSX file")))
        if community and community not in {c for c, _n in communities}:
            errors.append(("community", _("This community is outside the places you are "
                                          "assigned.")))
        if correction and len(reason) < 4:
            errors.append(("reason", _("Say why this is a correction run (at least 4 "
                                       "characters)")))
        elif len(reason) > 500:
            errors.append(("reason", _("Say why in 4 to 500 characters")))
        if not errors:
            safe_name = re.sub(r"[^\w.\-]+", "_", Path(filename).name)[-100:] or "import.csv"
            try:
                report = shared.run_import(session, data, safe_name, dry_run=True,
                                           community=community or None,
                                           blank_clears=blank_clears,
                                           correction=correction, reason=reason)
            except RegistryError as exc:
                session.rollback()
                errors.append(("file", refusal(exc)))
            else:
                session.rollback()
                folder = _imports_dir()
                _clean_old_imports(folder)
                token = secrets.token_urlsafe(24)
                (folder / f"{token}.data").write_bytes(data)
                _save_import(token, {"user_id": current_user.id, "at": time.time(),
                                     "filename": safe_name, "community": community,
                                     "blank_clears": blank_clears,
                                     "correction": correction,
                                     "reason": reason if correction else "",
                                     "report": shared.report_dict(report)})
                return redirect(url_for("registry.import_check", token=token), 303)
    return render_template("registry/import.html", errors=errors,
                           columns=_template_columns(), communities=communities,
                           community=community, blank_clears=blank_clears,
                           correction=correction, reason=reason,
                           ), 400 if errors else 200


def _template_columns() -> list[dict[str, Any]]:
    from core.registry.importer import COLUMNS

    return [{"zh": c.zh, "en": c.en, "required": c.required} for c in COLUMNS]


@bp.route("/import/template.csv")
@require(IMPORT)
def import_template():
    from core.registry.importer import write_template

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "template.csv"
        write_template(target, lang="zh" if lang() == "zh" else "en")
        body = target.read_bytes()
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=registry-template.csv"})


@bp.route("/import/<token>")
@require(IMPORT)
def import_check(token: str):
    """Check before importing: what would be created, updated and left as it is, and each
    rejected row with its reasons."""
    meta, _data = _load_import(token)
    code = meta.get("community")
    name = current_session().scalar(select(Community.name).where(Community.code == code)) \
        if code else None
    return render_template("registry/import_check.html", token=token, meta=meta,
                           community_name=name or code, report=_report_view(meta["report"]))


@bp.route("/import/<token>", methods=["POST"])
@require(IMPORT)
def import_confirm(token: str):
    meta, data_path = _load_import(token)
    if meta.get("done"):
        return redirect(url_for("registry.import_check", token=token), 303)
    try:
        data = data_path.read_bytes()
    except OSError:
        abort(404)
    session = current_session()
    try:
        report = shared.run_import(session, data, meta["filename"], dry_run=False,
                                   community=meta.get("community") or None,
                                   blank_clears=bool(meta.get("blank_clears")),
                                   correction=bool(meta.get("correction")),
                                   reason=meta.get("reason") or "")
    except RegistryError as exc:
        session.rollback()
        flash(refusal(exc), "error")
        return redirect(url_for("registry.import_start"), 303)
    if report.committed:
        session.commit()
        data_path.unlink(missing_ok=True)
        meta["done"] = True
    else:
        session.rollback()
    meta["report"] = shared.report_dict(report)
    _save_import(token, meta)
    return redirect(url_for("registry.import_check", token=token), 303)


@bp.route("/import/<token>/rejected.csv")
@require(IMPORT)
def import_rejected(token: str):
    """The rejected rows as CSV (values masked, as on the page)."""
    meta, _data = _load_import(token)
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow([_("Row"), _("Full name"), _("Column"), _("Problem"), _("Value")])
    for e in sorted(meta["report"]["rejected"], key=lambda e: (e["row"], e["field"])):
        writer.writerow([e["row"], _csv_safe(e["name"]), field_label(e["field"]),
                         message(e["message"]), _csv_safe(e["value"])])
    body = "\ufeff" + out.getvalue()
    return Response(body.encode("utf-8"), mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=rejected-rows.csv"})


@bp.route("/imports")
@require(IMPORT)
def import_history():
    """The committed imports, newest first, each with a Revert button (until reverted)."""
    session = current_session()
    rows = [r for r in list_imports(session, limit=100)
            if import_within(session, r, current_user)]  # only imports of one's places
    codes = {r.community for r in rows if r.community}
    names = dict(session.execute(select(Community.code, Community.name).where(
        Community.code.in_(codes))).all()) if codes else {}
    return render_template("registry/imports.html", rows=rows, community_names=names)


def _import_record(session: Any, import_id: int) -> RegistryImport:
    """The import, if it exists and lies within the viewer's places; else 404."""
    record = session.get(RegistryImport, import_id) if 0 < import_id <= MAX_ID else None
    if record is None or not import_within(session, record, current_user):
        abort(404)
    return record


@bp.route("/imports/<int:import_id>/revert", methods=["GET", "POST"])
@require(IMPORT)
def import_revert(import_id: int):
    """Revert an import as a whole, after a confirmation step (GET shows what will be
    undone, the POST with ``confirm`` does it). A refusal (reverted already, undo data
    expired, a person changed since) is shown on the page, and nothing is changed."""
    session = current_session()
    record = _import_record(session, import_id)
    refused = ""
    if request.method == "POST" and request.form.get("confirm") == "yes":
        try:
            result = revert_import(session, import_id, bus=current_kernel().bus,
                                   actor=current_user)
        except RegistryError as exc:
            session.rollback()
            refused = refusal(exc)
        else:
            session.commit()
            done = shared.revert_dict(result)
            flash(_("Import %(number)s was reverted: %(restored)s residents restored, "
                    "%(deleted)s removed.", number=import_id,
                    restored=done["reverted"].get("restored", 0),
                    deleted=done["reverted"].get("deleted_persons", 0)), "success")
            return redirect(url_for("registry.import_history"), 303)
    return render_template("registry/import_revert.html", record=record, refused=refused
                           ), 409 if refused else 200


def _csv_safe(value: str) -> str:
    """No formulas for spreadsheets (CSV injection): a leading = + - @ is quoted."""
    text = str(value or "")
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# ------------------------------------------------------------------------------ export


class ExportForm(FlaskForm):
    community = SelectField(_l("Community"), validators=[Optional()])
    status = SelectField(_l("Status"), validators=[Optional()], default="active")
    lang = RadioField(_l("Column headings"), default="zh",
                      choices=choices([("zh", "中文"), ("en", "English")]))
    reveal = CheckboxesField(_l("Full values"), validators=[Optional()])
    purpose = TextAreaField(
        _l("Why do you need the full values?"),
        validators=[Optional(), Length(max=500), printable],
        description=_l("Needed only for full values. Every person exported is written to "
                       "their access log with this purpose and your name."),
    )

    def validate_purpose(self, field: Any) -> None:
        if self.reveal.data and len((field.data or "").strip()) < 4:
            raise ValidationError(_l("Say why you need the full values"))


@bp.route("/export", methods=["GET", "POST"])
@require(EXPORT)
def export():
    """Download persons as CSV in the import template's columns, masked; full values only
    with registry.person.reveal and a purpose, each person logged."""
    session = current_session()
    form = ExportForm()
    form.community.choices = choices([("", _("All my communities")),
                                      *[(c, f"{n} ({c})") for c, n in
                                        scope_communities(session)]])
    form.status.choices = choices([*[(k, codes.label(codes.STATUSES, k, lang()))
                                     for k in codes.STATUSES], ("any", _("Any status"))])
    can_reveal = has_permission(current_user, REVEAL)
    form.reveal.choices = choices([("yes", _("Show ID numbers, phones, birth dates and "
                                             "addresses in full"))] if can_reveal else [])
    if form.validate_on_submit():
        reveal = bool(form.reveal.data) and can_reveal
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "persons.csv"
            try:
                count = export_persons(
                    session, target, actor=current_user, reveal=reveal,
                    purpose=(form.purpose.data or "").strip(),
                    community=form.community.data or None,
                    status=None if form.status.data == "any" else (form.status.data
                                                                   or "active"),
                    lang=form.lang.data or "zh", via="export", facts=request_facts())
            except (RegistryError, ScopeError) as exc:
                session.rollback()
                form.purpose.errors = [*form.purpose.errors, refusal(exc)
                                       if isinstance(exc, RegistryError) else _("Not allowed")]
            else:
                body = target.read_bytes()
                session.commit()
                name = f"persons-{local_today():%Y%m%d}{'-full' if reveal else ''}.csv"
                return Response(body, mimetype="text/csv", headers={
                    "Content-Disposition": f"attachment; filename={name}",
                    "X-Exported-Persons": str(count)})
    status = 400 if request.method == "POST" else 200
    return render_template("registry/export.html", form=form, errors=field_errors(form),
                           can_reveal=can_reveal), status
