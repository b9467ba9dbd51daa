"""``/imports``: importing persons from CSV or XLSX files."""

from __future__ import annotations

import base64

from flask import abort
from flask.views import MethodView
from flask_login import current_user

from core.api.blueprint import ApiBlueprint
from core.api.endpoints import endpoint
from core.current import current_kernel
from core.db import current_session
from core.registry.api.common import refuse
from core.registry.api.importing import (
    import_record,
    report_dict,
    revert_dict,
    run_import,
)
from core.registry.api.schemas import (
    IMPORT,
    ImportList,
    ImportListQuery,
    ImportReportSchema,
    ImportRequest,
    RevertReportSchema,
)
from core.registry.errors import RegistryError
from core.registry.importer import (
    ImportReport,
    RowError,
    import_within,
    list_imports,
    revert_import,
)
from core.registry.models import RegistryImport
from core.rules import MAX_ID, N_

imports = ApiBlueprint(
    "registry_imports", __name__, description="Importing persons from CSV or XLSX files"
)


# ------------------------------------------------------------------------------ imports


@imports.route("/imports")
class Imports(MethodView):
    @endpoint(imports, IMPORT, errors=(409, 422), descriptions={
        409: "A correction run without its reason (fields.reason)",
        422: "Invalid fields (not base64, not .csv or .xlsx)",
    })
    @imports.arguments(ImportRequest)
    @imports.response(200, ImportReportSchema, description="A dry run, or rows were "
                                                           "rejected: nothing was written")
    @imports.alt_response(201, schema=ImportReportSchema, description="Imported")
    def post(self, data):
        """Import persons from a CSV or XLSX file (the template of docs/registry.md), sent
        as JSON ``{filename, content_base64, dry_run, community, blank_clears, correction,
        reason}``. Every row is validated and the
        report lists each rejected row with its reasons (values masked). All or nothing:
        when any row is rejected — including rows outside the places you are assigned —
        nothing is written. ``dry_run`` (the default) says what would change, per row
        (``diffs``: each field from what to what, masked; a row whose ID number is
        registered under another name is a ``conflict``, applied only in a ``correction``
        run, which needs a ``reason``). A written run answers its ``import_id``. A file that
        cannot be read at all (not CSV/XLSX, required columns missing) is reported as
        row 1 (the header row)."""
        session = current_session()
        if data.get("correction") and len((data.get("reason") or "").strip()) < 4:
            # a rule between two fields the schema cannot express: 409 (docs/api.md)
            refuse(session, RegistryError(N_("A correction run needs its reason (at least "
                                             "4 characters)."), "reason"))
        content = base64.b64decode(data["content_base64"])
        options = {k: data.get(k) for k in ("community", "blank_clears", "correction")}
        try:
            report = run_import(session, content, data["filename"], dry_run=data["dry_run"],
                                community=options["community"],
                                blank_clears=bool(options["blank_clears"]),
                                correction=bool(options["correction"]),
                                reason=data.get("reason") or "")
        except RegistryError as exc:  # the file as a whole: unreadable, columns missing
            session.rollback()
            report = ImportReport(source=data["filename"], dry_run=data["dry_run"])
            report.rejected = [RowError(1, exc.field or "file", str(exc))]
        if report.committed and not report.dry_run:
            session.commit()
            return report_dict(report), 201
        session.rollback()
        return report_dict(report)

    @endpoint(imports, IMPORT, errors=(422,), descriptions={422: "Invalid limit"})
    @imports.arguments(ImportListQuery, location="query")
    @imports.response(200, ImportList)
    def get(self, args):
        """The committed imports of the caller's places, newest first (every person they
        touched within them; district staff see all): who imported which file with which
        options, what it did, and whether (and by whom) it was reverted."""
        session = current_session()
        rows = [r for r in list_imports(session, limit=args["limit"])
                if import_within(session, r, current_user)]  # only imports of one's places
        return {"items": [import_record(r) for r in rows]}


@imports.route("/imports/<int:import_id>/revert")
class ImportRevert(MethodView):
    @endpoint(imports, IMPORT, errors=(404, 409), descriptions={
        404: "No such import",
        409: "Reverted already, its undo data has expired, or a person it touched changed "
             "since (fields.import says which)",
    })
    @imports.response(200, RevertReportSchema)
    def post(self, import_id):
        """Revert an import as a whole: every field it changed back to its value before,
        the persons (and households, dwellings) it created deleted, through the services,
        so the history and events record the revert. Refused with 409 — nothing
        changed — when it cannot be undone exactly."""
        session = current_session()
        record = session.get(RegistryImport, import_id) if 0 < import_id <= MAX_ID else None
        if record is None or not import_within(session, record, current_user):
            abort(404)
        try:
            result = revert_import(session, import_id, bus=current_kernel().bus,
                                   actor=current_user)
        except RegistryError as exc:
            refuse(session, exc)
        session.commit()
        return revert_dict(result)
