"""Validating a large CSV file in a second process while this one writes.

The child is a fresh interpreter that runs :func:`_validate_child` by its module path
(``core.registry.importer.parallel``, see :data:`_CHILD`); its batches come back pickled,
in file order, so the report is the same as from one process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from core.registry.importer.assemble import _Assembler, _Counter, _Forms, _Places
from core.registry.importer.reading import _fmt, _supply, read_table
from core.registry.importer.validate import _Checked, _checked_batches, _PlaceCodes
from core.registry.models import (
    Person,
)

#: From this many rows (estimated) up, a CSV file is read and validated in a second
#: process while this one writes (when the machine has a second CPU).
PARALLEL_MIN_ROWS = 50_000


#: The validating process: a fresh interpreter (nothing of this one — threads, open
#: connections, the ``__main__`` module — is inherited or re-run), told the interpreter's
#: import path first, then its arguments, on stdin.
_CHILD = ("import pickle, sys; sys.path[:0] = pickle.load(sys.stdin.buffer); "
          "from core.registry.importer.parallel import _validate_child; _validate_child()")


def _validate_child() -> None:
    """In the validating process: :func:`_checked_batches` over the file — and, for a
    load into an empty registry, :class:`_Assembler` too — each batch pickled to stdout as
    soon as it is ready, then None (or the error, as text)."""
    import gc
    import pickle
    import sys
    import traceback

    gc.disable()  # a million rows of short-lived tuples; nothing here makes cycles
    out = sys.stdout.buffer
    try:
        # Our own parent's arguments, on our own pipe.
        args = pickle.load(sys.stdin.buffer)  # noqa: S301
        source, fmt, mapping, width, codes_, today, chunk, assemble, community = args
        _headers, rows, _estimate = read_table(source, fmt)
        if community:
            rows = _supply(rows, width - 1, community)
        assembler = None
        if assemble is not None:
            forms, bases = assemble
            places = _Places(codes_.communities, codes_.grids, allocate=_Counter(bases),
                             forms=forms)
            assembler = _Assembler(places, forms)
            new_ids = _Counter(bases)
        writing = True
        for checked in _checked_batches(rows, mapping, width, codes_, today, chunk,
                                        text_only=True):
            if assembler is not None:
                writing = writing and not checked.rejected
                ids = new_ids(Person.__table__, len(checked.valid)) if writing else []
                checked.assembled = assembler.assemble(checked.valid, ids, writing=writing,
                                                       existing={})
                checked.valid = []
            pickle.dump(checked, out, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(None, out)
    except BaseException:  # the writer re-raises it
        pickle.dump(traceback.format_exc(), out)
    out.flush()


class _Validator:
    """:func:`_checked_batches` in a second process, read as an iterator. The batches
    arrive in file order, so the report is the same as in one process; the process is
    stopped (by its id) when the import ends early. ``assemble``: (forms, id bases) to
    have it build the rows too (an empty registry, ids read under the write lock)."""

    def __init__(self, source: str, fmt: str | None, mapping: dict[int, str], width: int,
                 places: _PlaceCodes, today: date, chunk: int,
                 assemble: tuple[_Forms, dict[str, int]] | None = None,
                 community: str | None = None) -> None:
        import pickle
        import subprocess
        import sys

        self.process = subprocess.Popen(  # this interpreter, our own code
            [sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        stdin = self.process.stdin
        assert stdin is not None and self.process.stdout is not None
        path = [os.path.abspath(p) if p else os.getcwd() for p in sys.path]
        pickle.dump(path, stdin)
        pickle.dump((str(Path(source).resolve()), fmt, mapping, width, places, today, chunk,
                     assemble, community), stdin)
        stdin.close()
        self.stdout = self.process.stdout

    def __iter__(self) -> Iterator[_Checked]:
        import pickle

        while True:
            try:
                item = pickle.load(self.stdout)  # noqa: S301 - our child, our pipe
            except EOFError:
                raise RuntimeError("the validating process ended without a result") from None
            if item is None:
                return
            if isinstance(item, str):
                raise RuntimeError(f"the validating process failed:\n{item}")
            yield item

    def close(self) -> None:
        self.stdout.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _use_process(source: Any, fmt: str | None, estimate: int, parallel: bool | None) -> bool:
    if parallel is not None:
        return parallel and isinstance(source, str | Path) and _fmt(source, fmt) == "csv"
    if not isinstance(source, str | Path) or _fmt(source, fmt) != "csv":
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return cpus >= 2 and estimate >= PARALLEL_MIN_ROWS
