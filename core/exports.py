"""Writing spreadsheets people open: CSV cells that can never run as formulas.

Why: a resident may be registered as ``=HYPERLINK("http://…"&C2,"…")``; a worker who opens
the registry export in Excel or WPS would run it (OWASP "CSV injection"). Every CSV or
XLSX the platform writes passes its cells through :func:`csv_safe`: a text cell that
begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
apostrophe, which spreadsheets show as text and do not evaluate. Numbers stay numbers;
``-5`` as text is prefixed too (the rule is about the first character, not the meaning).
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
    return [csv_safe(v) for v in row]


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
