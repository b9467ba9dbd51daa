"""``/dashboard`` and ``/export``: the population figures of the caller's places, and the
persons of those places as CSV.

The same services as the pages: :func:`core.registry.dashboard.population` (the numbers
the dashboard draws) and :func:`core.registry.importer.export_persons` (the export page's
file: the import template's columns, masked unless revealed with the permission and a
purpose, every exported person written to their access log).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flask import Response, abort
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user

from core.api.blueprint import ApiBlueprint
from core.api.endpoints import endpoint
from core.audit.web import request_facts
from core.db import current_session, local_today
from core.identity import has_permission
from core.registry.api.common import lang, refuse, scope_communities
from core.registry.api.schemas import REVEAL
from core.registry.api.schemas_reviews import (
    DASHBOARD,
    EXPORT,
    DashboardQuery,
    DashboardSchema,
    ExportRequest,
)
from core.registry.dashboard import Row, population
from core.registry.errors import RegistryError, ScopeError
from core.registry.importer import export_persons
from core.rules import N_

reports = ApiBlueprint(
    "registry_reports", __name__,
    description="The population dashboard's figures and the persons export",
)


def _community(code: str | None) -> str | None:
    """``code`` when it is one of the caller's communities; 404 otherwise (the page's
    list offers only those)."""
    if code and code not in {c for c, _name in scope_communities(current_session())}:
        abort(404, description=_("No such community within your places."))
    return code or None


def _rows(rows: list[Row], total: int) -> list[dict[str, Any]]:
    return [{"key": r.key, "label": r.label, "count": r.count, "share": r.share(total)}
            for r in rows]


@reports.route("/dashboard")
class Dashboard(MethodView):
    @endpoint(reports, DASHBOARD, errors=(404, 422), descriptions={
        404: "The community is not one of yours", 422: "Not a 12-digit community code"})
    @reports.arguments(DashboardQuery, location="query")
    @reports.response(200, DashboardSchema)
    def get(self, args):
        """Active persons within your places (or one of your communities) by community,
        ten-year age band, sex and hukou type: the numbers the dashboard page draws.
        Counts only, so nobody's access log is written."""
        session = current_session()
        community = _community(args.get("community"))
        stats = population(session, current_user, community=community, lang=lang(),
                           unknown_label=_("Unknown"))
        return {
            "total": stats.total, "community": community,
            "by_community": _rows(stats.by_community, stats.total),
            "by_age": _rows(stats.by_band, stats.total),
            "by_sex": _rows(stats.by_sex, stats.total),
            "by_hukou": _rows(stats.by_hukou, stats.total),
        }


@reports.route("/export")
class Export(MethodView):
    @endpoint(reports, EXPORT, errors=(404, 409, 422), descriptions={
        403: "Lacks registry.export (or registry.person.reveal, for `reveal`)",
        404: "The community is not one of yours",
        409: "`reveal` without a purpose of 4 or more characters (fields.purpose)",
    })
    @reports.arguments(ExportRequest)
    @reports.response(200, description="The persons as CSV (UTF-8 with a BOM), in the import "
                                        "template's columns; X-Exported-Persons counts them",
                      content_type="text/csv")
    def post(self, data):
        """The persons of your places (or one of your communities) as the export page
        downloads them: masked, or in full with ``reveal`` (needs registry.person.reveal)
        and a ``purpose``. Every exported person gets an entry in their access log with
        your name and the purpose, exactly as the page writes it."""
        session = current_session()
        community = _community(data.get("community"))
        reveal = bool(data.get("reveal"))
        if reveal and not has_permission(current_user, REVEAL):
            abort(403, description=_("Showing full values needs registry.person.reveal."))
        purpose = (data.get("purpose") or "").strip()
        if reveal and len(purpose) < 4:
            refuse(session, RegistryError(N_("Say why you need the full values"), "purpose"))
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "persons.csv"
            try:
                count = export_persons(
                    session, target, actor=current_user, reveal=reveal, purpose=purpose,
                    community=community, status=None if data["status"] == "any"
                    else data["status"], lang=data["lang"], via="export",
                    facts=request_facts())
            except ScopeError:
                session.rollback()
                abort(403, description=_("Showing full values is not allowed to you."))
            except RegistryError as exc:
                refuse(session, exc)
            body = target.read_bytes()
        session.commit()  # the access-log entries, with the file
        name = f"persons-{local_today():%Y%m%d}{'-full' if reveal else ''}.csv"
        return Response(body, mimetype="text/csv", headers={
            "Content-Disposition": f"attachment; filename={name}",
            "X-Exported-Persons": str(count)})
