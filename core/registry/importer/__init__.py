"""Importing residents from CSV or XLSX, and exporting them.

The rules (docs/registry.md has the template):

* **Template.** One header row; Chinese or English headers (:data:`COLUMNS`), in any
  order; unknown columns are reported and ignored. Required: name, document number,
  community code.
* **Every row is validated** with the same rules as one-by-one registration
  (``services.clean_person``) plus the place and household columns; the report lists each
  rejected row (its spreadsheet row number) with every reason.
* **All or nothing.** If any row is rejected, nothing of the batch is written (the session
  is rolled back; run imports in a session of their own). Validation goes on to the end so
  the report is complete.
* **Dry run** reads and validates everything and says what would be created, updated or
  left unchanged, writing nothing.
* **Idempotent.** Rows are matched to persons by document number: a re-import of the
  same file changes nothing; a changed row updates the person through the services
  (history, ``registry.person.updated``/``moved`` events).
* **Fast.** New persons go in through :class:`core.registry.bulk.BulkWriter` (Core
  executemany in chunks, ids allocated up front, indexes rebuilt after a large load) and
  one ``registry.import.completed`` event per batch instead of one per person.

The package follows the path of a row: :mod:`.reading` (the template and the file),
:mod:`.validate` (the rules, and the fast path for the common row), :mod:`.assemble`
(validated rows into database rows), :mod:`.parallel` (validation in a second process),
:mod:`.load` (:func:`import_persons`, the writing half), :mod:`.revert` (an import's record and undo
data; :func:`revert_import`, :func:`list_imports`) and :mod:`.export`. This module
re-exports what callers use, so ``from core.registry.importer import ...`` stays the
one import.
"""

from __future__ import annotations

from core.registry.errors import ScopeError
from core.registry.importer.assemble import _Assembler, _Places
from core.registry.importer.export import (
    ACCESS_BATCH,
    EXPORT_PURPOSE,
    export_persons,
    write_template,
)
from core.registry.importer.load import import_persons
from core.registry.importer.parallel import PARALLEL_MIN_ROWS, _validate_child, _Validator
from core.registry.importer.reading import (
    COLUMN_KEYS,
    COLUMNS,
    COMMUNITY_HINT,
    DIFF_LIMIT,
    Column,
    ImportFileError,
    ImportReport,
    Progress,
    RowDiff,
    RowError,
    estimate_rows,
    map_headers,
    read_table,
    write_report,
)
from core.registry.importer.revert import (
    UNDO_RETENTION_DAYS,
    RevertReport,
    import_within,
    list_imports,
    purge_undo,
    revert_import,
)
from core.registry.importer.validate import (
    _as_valid,
    _checked_batches,
    _FastRows,
    _PlaceCodes,
    _validate_row,
)

#: The public names, and the private ones the tests reach (the two validation paths, the
#: validating process and its entry point).
__all__ = [
    "ACCESS_BATCH",
    "COLUMNS",
    "COLUMN_KEYS",
    "COMMUNITY_HINT",
    "DIFF_LIMIT",
    "EXPORT_PURPOSE",
    "PARALLEL_MIN_ROWS",
    "UNDO_RETENTION_DAYS",
    "Column",
    "ImportFileError",
    "ImportReport",
    "Progress",
    "RevertReport",
    "RowDiff",
    "RowError",
    "ScopeError",
    "_Assembler",
    "_FastRows",
    "_PlaceCodes",
    "_Places",
    "_Validator",
    "_as_valid",
    "_checked_batches",
    "_validate_child",
    "_validate_row",
    "estimate_rows",
    "export_persons",
    "import_persons",
    "import_within",
    "list_imports",
    "map_headers",
    "purge_undo",
    "read_table",
    "revert_import",
    "write_report",
    "write_template",
]
