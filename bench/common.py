"""What every benchmark shares: results and targets, settings, machine facts, the table,
and starting/stopping server processes (always by process id)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"


def shipped_plugins() -> list[str]:
    """The plugins the platform ships enabled (``config/default.toml`` ``[plugins]``), read
    the way the tests read them, so every benchmark measures the platform as installed
    rather than a hand-kept list that falls behind when a plugin is added."""
    from core.config import DEFAULT_CONFIG, load_config

    return list(load_config(DEFAULT_CONFIG, environ={}).plugins_enabled)


def log(message: str) -> None:
    """A progress line (stderr, so stdout keeps only the table)."""
    stamp = time.strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Settings:
    quick: bool = False
    #: HTTP load: seconds per measured run, interleaved rounds, warm-up seconds per server.
    duration: int = 8
    rounds: int = 3
    warmup: int = 3
    connections: int = 32
    threads: int = 2
    #: Dispatch: timeit repeats (median taken) and seconds per repeat.
    repeats: int = 7
    repeat_seconds: float = 0.2
    #: Start-up: fresh processes per configuration (median taken).
    startup_runs: int = 5
    #: Force the Python load generator even if wrk is installed.
    python_load: bool = False
    #: Registry: persons in the imported file (and so in the searched registry), search
    #: queries per kind.
    registry_rows: int = 1_000_000
    registry_queries: int = 300
    #: Events: events published per measured delivery run, runs per worker count (median),
    #: publishes timed per batch for ``event_publish``.
    delivery_events: int = 6000
    delivery_runs: int = 2
    publish_batch: int = 400
    #: Memory: requests before the first reading and between the two readings.
    memory_requests: int = 10_000
    #: The result names a suite should produce (set by ``__main__``; empty: all of them).
    parts: frozenset[str] = frozenset()

    @classmethod
    def make(cls, quick: bool, python_load: bool = False) -> Settings:
        if quick:
            return cls(
                quick=True,
                duration=2,
                rounds=3,
                warmup=1,
                repeats=3,
                repeat_seconds=0.1,
                startup_runs=3,
                python_load=python_load,
                registry_rows=100_000,
                registry_queries=100,
                delivery_events=1500,
                delivery_runs=1,
                publish_batch=150,
                memory_requests=2000,
            )
        return cls(python_load=python_load)


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class Target:
    """``on`` is ``ratio`` or ``value``; e.g. ``Target("ratio", "<=", 5)``."""

    on: str
    op: str
    bound: float

    def check(self, value: float | None, ratio: float | None) -> bool | None:
        subject = ratio if self.on == "ratio" else value
        if subject is None:
            return None
        return {
            "<=": subject <= self.bound,
            "<": subject < self.bound,
            ">=": subject >= self.bound,
            ">": subject > self.bound,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.on} {self.op} {self.bound:g}"


@dataclass
class Result:
    name: str
    value: float | None
    unit: str
    floor: float | None
    target: Target | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.floor:
            return None
        return self.value / self.floor

    @property
    def passed(self) -> bool | None:
        if self.meta.get("error"):
            return False  # a benchmark that could not measure has not met anything
        return self.target.check(self.value, self.ratio) if self.target else None

    def as_json(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "name": self.name,
            "value": _round(self.value),
            "unit": self.unit,
            "floor": _round(self.floor),
            "ratio": round(ratio, 3) if ratio is not None else None,
            "target": str(self.target) if self.target else None,
            "pass": self.passed,
            "meta": self.meta,
        }


def _round(x: float | None) -> float | None:
    if x is None:
        return None
    return round(x, 1) if abs(x) >= 10 else round(x, 3)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


# ------------------------------------------------------------------------------ machine


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "-"


def machine_info(load_generator: str, postgres: str | None) -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_usable": usable,
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres,
        "load_generator": load_generator,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "git_commit": commit or None,
        "packages": {
            d: _version(d)
            for d in (
                "flask",
                "sqlalchemy",
                "marshmallow",
                "pluggy",
                "gunicorn",
                "psycopg",
                "flask-smorest",
                "flask-login",
            )
        },
    }


# ------------------------------------------------------------------------------ output


def format_table(results: list[Result]) -> str:
    head = ("benchmark", "value", "floor", "ratio", "target", "pass")
    rows = [head]
    for r in results:
        ratio = r.ratio
        rows.append(
            (
                r.name,
                _fmt(r.value, r.unit),
                _fmt(r.floor, r.unit),
                f"{ratio:.2f}" if ratio is not None else "-",
                str(r.target) if r.target else "-",
                {True: "yes", False: "NO", None: "-"}[r.passed],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = []
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(results: list[Result]) -> str:
    lines = [
        "| benchmark | value | floor | ratio | target | pass |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in results:
        ratio = r.ratio
        lines.append(
            f"| {r.name} | {_fmt(r.value, r.unit)} | {_fmt(r.floor, r.unit)} | "
            f"{f'{ratio:.2f}' if ratio is not None else '-'} | "
            f"{r.target or '-'} | {({True: 'yes', False: '**NO**', None: '-'})[r.passed]} |"
        )
    return "\n".join(lines)


def _fmt(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f} {unit}"
    if abs(x) >= 10:
        return f"{x:.1f} {unit}"
    return f"{x:.2f} {unit}"


def write_results(results: list[Result], machine: dict[str, Any], *, merge: bool) -> Path:
    """``latest.json`` is a list of results; ``machine.json`` beside it describes the run.
    With ``merge`` (a partial run), results replace same-named entries of the last file."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "latest.json"
    entries = [r.as_json() for r in results]
    if merge and path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = []
        names = {e["name"] for e in entries}
        if isinstance(old, list):
            entries = [e for e in old if e.get("name") not in names] + entries
    path.write_text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n")
    (RESULTS_DIR / "machine.json").write_text(json.dumps(machine, indent=2) + "\n")
    return path


# ------------------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process started in its own session; stopped by its id (TERM, then KILL
    for it and its process group, i.e. its gunicorn workers)."""

    def __init__(
        self, name: str, argv: list[str], *, env: dict[str, str], port: int, log_path: Path
    ) -> None:
        self.name = name
        self.port = port
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_ready(
        self, path: str, headers: dict[str, str] | None = None, timeout: float = 60.0
    ) -> bytes:
        """Poll ``path`` until it answers 200; returns the body."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}{path}"
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            try:
                req = urllib.request.Request(url, headers=headers or {})
                with urllib.request.urlopen(req, timeout=5) as resp:  # 127.0.0.1 only
                    return resp.read()
            except urllib.error.HTTPError as exc:
                raise RuntimeError(
                    f"{self.name}: GET {path} answered {exc.code}: {exc.read()[:300]!r}"
                ) from None
            except OSError as exc:
                last = str(exc)
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s ({last}):\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        proc = self.proc
        try:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        finally:
            # Workers share the master's process group (its id); make sure none survive.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            self._log.close()
