"""``python -m bench`` (``make bench``): every benchmark against its floor, in one run.

    python -m bench                      # everything (~10-13 minutes)
    python -m bench --quick              # shortened runs (~6-8 minutes)
    python -m bench --only api_read      # one benchmark (repeatable, or comma-separated)
    python -m bench --python-load        # use the Python load generator even if wrk exists
    python -m bench --strict             # exit 1 when a target is missed

Prints a table and writes ``bench/results/latest.json`` (a list of
``{name, value, unit, floor, ratio, target, pass, meta}``) and ``bench/results/machine.json``.
A partial run (``--only``) replaces its own entries in ``latest.json`` and keeps the rest.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable

from bench import dispatch, embedded, events, http, memory, registry, startup
from bench.common import (
    Result,
    Settings,
    format_markdown,
    format_table,
    log,
    machine_info,
    write_results,
)
from bench.load import generator_name

#: name -> (function, names of the results it produces). Several names may share one
#: function (a suite: one instance and one pair of servers for all its parts); it is
#: called once, with ``settings.parts`` naming the selected parts.
BENCHMARKS: dict[str, tuple[Callable[[Settings], list[Result]], tuple[str, ...]]] = {
    "hook_dispatch": (dispatch.hook_dispatch, ("hook_dispatch",)),
    "hook_ui_slot": (dispatch.hook_ui_slot, ("hook_ui_slot",)),
    "event_publish": (events.event_publish, ("event_publish", "event_publish_pg")),
    "api_read": (http.http_suite, ("api_read", "api_read_p99")),
    "api_read_sensitive": (http.http_suite, ("api_read_sensitive",)),
    "page_resident_home": (http.http_suite, ("page_resident_home",)),
    "api_read_pg": (http.http_suite_pg, ("api_read_pg", "api_read_pg_p99")),
    "api_read_sensitive_pg": (http.http_suite_pg, ("api_read_sensitive_pg",)),
    "event_delivery": (events.event_delivery, ("event_delivery_1", "event_delivery_2")),
    "memory": (memory.memory, ("memory", "memory_growth")),
    "startup": (startup.startup, ("startup",)),
    "embedded_concurrency": (
        embedded.embedded_concurrency,
        ("embedded_concurrency", "embedded_concurrency_failed"),
    ),
    "registry_import": (registry.registry_import, ("registry_import",)),
    "registry_import_pg": (registry.registry_import_pg, ("registry_import_pg",)),
    "registry_search": (
        registry.registry_search,
        tuple(
            f"registry_search_{kind}{db}" for db in ("", "_pg") for kind in registry.SEARCH_KINDS
        ),
    ),
}
GROUPS = {
    "dispatch": ["hook_dispatch", "hook_ui_slot"],
    "http": [
        "api_read",
        "api_read_sensitive",
        "page_resident_home",
        "api_read_pg",
        "api_read_sensitive_pg",
    ],
    "events": ["event_publish", "event_delivery"],
    "registry": ["registry_import", "registry_import_pg", "registry_search"],
}
#: About how long each benchmark takes in a full run on a quiet 2-core machine (seconds;
#: measured 2026-12-07, eight plugins), for ``--help`` and the progress lines.
DURATIONS: dict[str, int] = {
    "hook_dispatch": 10,
    "hook_ui_slot": 15,
    "event_publish": 40,
    "api_read": 50,  # the SQLite HTTP suite together: set-up, 3 sides x (3 s + 3 x 8 s)
    "api_read_sensitive": 40,
    "page_resident_home": 90,  # demo data (8,000 persons) for the page and its floor
    "api_read_pg": 50,
    "api_read_sensitive_pg": 40,
    "event_delivery": 90,
    "memory": 150,
    "startup": 25,
    "embedded_concurrency": 150,
    "registry_import": 80,
    "registry_import_pg": 80,
    "registry_search": 50,
}
#: A ``--quick`` run takes about this share of the full one.
QUICK_SHARE = 0.5


def _durations_help() -> str:
    """What ``--help`` says about time: each group's and the whole run's."""
    def mins(names: list[str]) -> str:
        s = sum(DURATIONS.get(n, 0) for n in names)
        return f"~{s / 60:.1f} min" if s >= 90 else f"~{s} s"

    grouped = {n for names in GROUPS.values() for n in names}
    lines = [f"  {g:<22} {mins(names):>10}  ({', '.join(names)})" for g, names in GROUPS.items()]
    lines += [f"  {n:<22} {mins([n]):>10}" for n in BENCHMARKS if n not in grouped]
    total = sum(DURATIONS.get(n, 0) for n in BENCHMARKS)
    return (
        "time on a quiet 2-core machine (full run; --quick about half):\n"
        + "\n".join(lines)
        + f"\n  {'everything':<22} ~{total / 60:.0f} min"
    )


PG_BENCHMARKS = {
    "api_read_pg",
    "api_read_sensitive_pg",
    "event_publish",
    "event_delivery",
    "registry_import_pg",
    "registry_search",
}


def _selected(only: list[str]) -> tuple[list[str], set[str]]:
    """The benchmarks to run, and the result names wanted from them (a result name given
    on its own, e.g. ``event_publish_pg``, asks its benchmark for that result only)."""
    if not only:
        return list(BENCHMARKS), {o for _, outs in BENCHMARKS.values() for o in outs}
    wanted: list[str] = []
    outputs: set[str] = set()
    for item in only:
        for name in filter(None, (s.strip() for s in item.split(","))):
            keys = GROUPS.get(name, [name] if name in BENCHMARKS else [])
            for key in keys:
                wanted.append(key)
                outputs.update(BENCHMARKS[key][1])
            if keys:
                continue
            owner = next((b for b, (_, outs) in BENCHMARKS.items() if name in outs), None)
            if owner is None:
                choices = ", ".join([*BENCHMARKS, *GROUPS])
                raise SystemExit(f"unknown benchmark '{name}'; choose from: {choices}")
            wanted.append(owner)
            outputs.add(name)
            if name == f"{owner}_p99" or name.endswith("_p99"):
                outputs.add(name.removesuffix("_p99"))  # p99 comes from the same runs
    return [b for b in BENCHMARKS if b in wanted], outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.split("\n")[0],
        epilog=_durations_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="shortened runs (~6-8 minutes)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these ({', '.join([*BENCHMARKS, *GROUPS])})",
    )
    parser.add_argument(
        "--python-load",
        action="store_true",
        help="use the Python load generator even if wrk is installed",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = parser.parse_args(argv)

    settings = Settings.make(args.quick, args.python_load)
    names, wanted_outputs = _selected(args.only)
    gen = generator_name(settings.python_load)
    needs_pg = bool(PG_BENCHMARKS & set(names))
    machine = machine_info(gen, http.postgres_version() if needs_pg else None)
    log(
        f"{'quick' if settings.quick else 'full'} run of {', '.join(names)}; "
        f"{machine['cpu_usable']} CPUs, Python {machine['python']}, "
        f"SQLite {machine['sqlite']}, load generator: {gen}"
    )
    started = time.monotonic()
    results: list[Result] = []
    calls: dict[Callable[[Settings], list[Result]], list[str]] = {}
    for name in names:
        calls.setdefault(BENCHMARKS[name][0], []).append(name)
    share = QUICK_SHARE if settings.quick else 1.0
    expected = {fn: share * sum(DURATIONS.get(p, 60) for p in parts) for fn, parts in calls.items()}
    left = sum(expected.values())
    log(f"{len(calls)} step(s), about {left / 60:.0f} min in all")
    for step, (fn, parts) in enumerate(calls.items(), 1):
        label = ", ".join(parts)
        log(
            f"--- [{step}/{len(calls)}] {label} (about {expected[fn]:.0f} s; "
            f"{time.monotonic() - started:.0f} s elapsed, about {left / 60:.1f} min left)"
        )
        left -= expected[fn]
        t0 = time.monotonic()
        outputs = frozenset(
            out for part in parts for out in BENCHMARKS[part][1] if out in wanted_outputs
        )
        try:
            results += fn(dataclasses.replace(settings, parts=outputs))
        except Exception as exc:  # one broken benchmark must not hide the others
            log(f"{label}: FAILED: {type(exc).__name__}: {exc}")
            results += [
                Result(
                    part,
                    None,
                    "-",
                    None,
                    None,
                    meta={"error": f"{type(exc).__name__}: {exc}"[:2000]},
                )
                for part in parts
            ]
        log(f"{label} took {time.monotonic() - t0:.0f}s")
    for r in results:
        r.meta.setdefault("date", machine["date"])
        if settings.quick:
            r.meta["quick"] = True
    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    path = write_results(results, machine, merge=bool(args.only))

    print()
    print(
        f"Shequ benchmarks ({'quick' if settings.quick else 'full'}), {machine['date']}; "
        f"{machine['cpu_usable']} CPUs ({machine['cpu_model']}), Python {machine['python']}, "
        f"SQLite {machine['sqlite']}, PostgreSQL {machine['postgresql'] or '-'}; "
        f"load: {gen}"
    )
    busy = max(machine["loadavg_at_start"][0], machine["loadavg_at_end"][0])
    print(
        f"load average {machine['loadavg_at_start'][0]} at start, "
        f"{machine['loadavg_at_end'][0]} at end"
        + (
            "  (other work shared the CPUs: read the ratios, not absolute numbers)"
            if busy > 0.5 * machine["cpu_usable"]
            else ""
        )
    )
    print(format_table(results))
    if args.markdown:
        print()
        print(format_markdown(results))
    missed = [r.name for r in results if r.passed is False]
    print(
        f"\n{len(results)} results in {time.monotonic() - started:.0f}s -> {path}"
        + (f"; targets missed: {', '.join(missed)}" if missed else "")
    )
    if any(m.startswith("api_read") for m in missed):
        print("where the time goes: python -m bench.profile [--pg]; see docs/performance.md")
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
