"""Writing spreadsheets people open: CSV cells that can never run as formulas.

Why: a resident may be registered as ``=HYPERLINK("http://…"&C2,"…")``; a worker who opens
the registry export in Excel or WPS would run it (OWASP "CSV injection"). Every CSV or
XLSX the platform writes passes its cells through :func:`csv_safe`: a text cell that
begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
apostrophe, which spreadsheets show as text and do not evaluate. Numbers stay numbers;
``-5`` as text is prefixed too (the rule is about the first character, not the meaning).

XLSX has cell types, so there the value stays exactly as it is: :func:`xlsx_row` stores
such text as a plain string cell with Excel's "quote prefix" (what typing an apostrophe
does), never as a formula — it shows as typed, survives editing, and re-imports unchanged.
A CSV cell has no type, so the apostrophe is part of the text: a revealed CSV export of a
person named ``=x`` re-imports as ``'=x`` (use XLSX to round-trip such values).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

#: OWASP's list of characters a spreadsheet treats as the start of a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """``value`` made inert for a spreadsheet; non-strings pass through unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    """Each cell of ``row`` through :func:`csv_safe`."""
    return [csv_safe(v) for v in row]


def xlsx_row(worksheet: Any, row: Iterable[Any]) -> list[Any]:
    """``row`` ready for ``worksheet.append`` (openpyxl, write-only or not): text that
    begins like a formula becomes a string cell with the quote prefix, everything else
    passes unchanged (openpyxl would otherwise store ``=...`` as a live formula)."""
    from openpyxl.cell import WriteOnlyCell

    out: list[Any] = []
    for value in row:
        if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
            cell = WriteOnlyCell(worksheet, value=value)
            cell.data_type = "s"
            cell.quotePrefix = True
            out.append(cell)
        else:
            out.append(value)
    return out


class _SafeWriter:
    """``csv.writer`` with every row passed through :func:`safe_row`."""

    def __init__(self, stream: IO[str], **kwargs: Any) -> None:
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream: IO[str], **kwargs: Any) -> _SafeWriter:
    """A ``csv.writer`` over ``stream`` whose cells are neutralised (the one helper for
    every export)."""
    return _SafeWriter(stream, **kwargs)
