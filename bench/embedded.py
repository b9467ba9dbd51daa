"""``embedded_concurrency``: the embedded default serving several people at once.

The configuration ``make run`` uses, unchanged: ``config/default.toml`` (development,
SQLite under the instance directory, events delivered by the app's own delivery thread,
``[server] threads = 8``) with only the instance directory moved to a temporary one;
``shequ db upgrade``, ``shequ demo``, then ``shequ run`` as ``make run`` starts it (so one
process, gunicorn's ``gthread`` worker). Then:

1. 16 clients (2 processes x 8 threads, one keep-alive ``http.client`` connection each,
   as browsers hold them) load the demo resident's home page (``GET /``, signed in through
   the real login form) without a pause, for the whole run;
2. after a warm-up and a quiet window (no other work), two staff sessions of the demo
   administrator, signed in through the same form, start at once: an export of every
   demo person (``POST /registry/export``, all communities, any status, CSRF token taken
   from the form like a browser) and an import of 10,000 new persons (``POST
   /registry/import`` multipart upload → the check page → ``POST /registry/import/<token>``
   to confirm); the background window lasts until both are done;
3. the home page's p50/p99 in the quiet window and in the background window.

Results: ``embedded_concurrency`` (p99 with the background work against p99 without:
target ratio <= 3) and ``embedded_concurrency_failed`` (failed requests of the whole run,
home page and background alike: target 0). Progress goes to stderr every few seconds.

``BENCH_EMBEDDED_THREADS=1`` replaces ``server.threads`` in the copied configuration (a
what-if: 1 is the single sync worker ``make run`` served with before issue 23).

Set-up that is not a page: the demo administrator has no place scope in the demo data
(the demo worker has the first community only), so before the server starts the bench
gives it ``("all", "")`` through ``core.identity.services.set_scopes``, as an
installation does for district staff; "all demo persons" means exactly that.
"""

from __future__ import annotations

import contextlib
import csv
import http.client
import json
import math
import multiprocessing
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.common import ROOT, Result, Server, Settings, Target, free_port, log, median
from bench.http import USER_AGENT, base_env, fetch, shequ_argv, sign_in

CLIENT_PROCESSES = 2
CLIENT_THREADS = 8  # 16 clients in all
IMPORT_ROWS = 10_000
#: The demo accounts this bench signs in as (core/demo.py DEMO_ACCOUNTS).
RESIDENT = ("resident", "morning-tea-28")
ADMIN = ("admin", "jade-lantern-41")


def _percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


# ------------------------------------------------------------------------------ clients


def _client_thread(port: int, headers: dict[str, str], stop: Any, out: list, counter: Any) -> None:
    """One browser-like client: the home page over and over on one keep-alive connection
    (re-opened when the server closed it, and an idle-closed connection retried once, as
    browsers retry an idempotent GET). Records (start, seconds, status)."""
    conn: http.client.HTTPConnection | None = None
    while not stop.is_set():
        t0 = time.monotonic()
        status = 0
        for attempt in (1, 2):
            reused = conn is not None
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                conn.request("GET", "/", headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                status = resp.status if b"/account/logout" in body else -resp.status
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
                break
            except (http.client.HTTPException, OSError):
                with contextlib.suppress(Exception):
                    conn.close()
                conn = None
                if not (reused and attempt == 1):
                    status = -1
                    break
        out.append((t0, time.monotonic() - t0, status))
        with counter.get_lock():
            counter.value += 1
    if conn is not None:
        conn.close()


def _client_process(port: int, headers: dict[str, str], stop: Any, counter: Any,
                    results: Any) -> None:
    """CLIENT_THREADS clients in one process; their records go back through ``results``."""
    records: list[list[tuple[float, float, int]]] = [[] for _ in range(CLIENT_THREADS)]
    threads = [
        threading.Thread(target=_client_thread, args=(port, headers, stop, rec, counter),
                         daemon=True)
        for rec in records
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put([r for rec in records for r in rec])


# ------------------------------------------------------------------------------ pages


def _cookie_headers(signed_in: dict[str, str], extra: dict[str, str] | None = None
                    ) -> dict[str, str]:
    return {**signed_in, **(extra or {})}


def _csrf(body: bytes) -> str:
    found = re.search(rb'name="csrf_token"(?: type="hidden")? value="([^"]+)"', body)
    if found is None:
        raise RuntimeError("no csrf_token on the form")
    return found.group(1).decode()


def _multipart(fields: dict[str, str], file_field: str, filename: str,
               data: bytes) -> tuple[bytes, str]:
    boundary = "----shequbench" + secrets.token_hex(12)
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
                 f'filename="{filename}"\r\nContent-Type: text/csv\r\n\r\n'.encode())
    parts.append(data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _export(port: int, signed_in: dict[str, str], done: dict[str, Any]) -> None:
    """Every demo person, masked, as the export page downloads it."""
    t0 = time.monotonic()
    status, _h, body = fetch(port, "GET", "/registry/export", signed_in)
    if status != 200:
        raise RuntimeError(f"GET /registry/export answered {status}")
    form = urlencode({"csrf_token": _csrf(body), "community": "", "status": "any",
                      "lang": "zh", "purpose": ""}).encode()
    status, headers, body = fetch(
        port, "POST", "/registry/export",
        _cookie_headers(signed_in, {"Content-Type": "application/x-www-form-urlencoded"}),
        form)
    if status != 200 or not headers.get("content-type", [""])[0].startswith("text/csv"):
        raise RuntimeError(f"POST /registry/export answered {status}: {body[:300]!r}")
    persons = int(headers.get("x-exported-persons", ["0"])[0])
    done.update(seconds=round(time.monotonic() - t0, 2), persons=persons, bytes=len(body))
    log(f"embedded: export done in {done['seconds']:.1f}s ({persons:,} persons, "
        f"{len(body) / 1e6:.1f} MB)")


def _import(port: int, signed_in: dict[str, str], data: bytes, instance: Path,
            done: dict[str, Any]) -> None:
    """Upload → check page → confirm, as the import pages are used."""
    t0 = time.monotonic()
    status, _h, body = fetch(port, "GET", "/registry/import", signed_in)
    if status != 200:
        raise RuntimeError(f"GET /registry/import answered {status}")
    payload, ctype = _multipart({"csrf_token": _csrf(body), "community": ""}, "file",
                                "bench-import.csv", data)
    status, headers, body = fetch(port, "POST", "/registry/import",
                                  _cookie_headers(signed_in, {"Content-Type": ctype}), payload)
    if status != 303:
        raise RuntimeError(f"the import upload answered {status}: {body[:500]!r}")
    location = headers["location"][0]
    path = "/" + location.split("/", 3)[3] if location.startswith("http") else location
    token = path.rsplit("/", 1)[1]
    checked = time.monotonic()
    log(f"embedded: import checked (dry run) in {checked - t0:.1f}s")
    status, _h, body = fetch(port, "GET", path, signed_in)
    if status != 200:
        raise RuntimeError(f"the import check page answered {status}")
    meta = json.loads((instance / "registry-imports" / f"{token}.json").read_text("utf-8"))
    report = meta["report"]
    if report["rejected_rows"] or report["created"] != IMPORT_ROWS:
        raise RuntimeError(f"the dry run would not import {IMPORT_ROWS} persons: created "
                           f"{report['created']}, rejected {report['rejected_rows']}: "
                           f"{report['rejected'][:3]}")
    form = urlencode({"csrf_token": _csrf(body)}).encode()
    status, _h, body = fetch(
        port, "POST", path,
        _cookie_headers(signed_in, {"Content-Type": "application/x-www-form-urlencoded"}),
        form)
    if status != 303:
        raise RuntimeError(f"the import confirmation answered {status}: {body[:300]!r}")
    meta = json.loads((instance / "registry-imports" / f"{token}.json").read_text("utf-8"))
    if not (meta.get("done") and meta["report"]["committed"]):
        raise RuntimeError(f"the import was not committed: {meta['report']}")
    done.update(seconds=round(time.monotonic() - t0, 2),
                check_seconds=round(checked - t0, 2),
                created=meta["report"]["created"])
    log(f"embedded: import committed in {done['seconds']:.1f}s "
        f"({done['created']:,} persons created)")


# ------------------------------------------------------------------------------ set-up


def _import_file(path: Path, rows: int) -> None:
    """``rows`` new persons in the demo's three communities: the registry benchmark's
    generator (valid, unique ID numbers and phones), its fourth community folded into the
    first three, the estates renamed and the household numbers moved past the demo's, so
    every row creates a person and none meets a demo dwelling or household."""
    from bench.registry_data import HEADERS, write_persons_csv

    raw = path.with_suffix(".raw.csv")
    write_persons_csv(raw, rows)
    col = {h: i for i, h in enumerate(HEADERS)}
    demo_communities = ["110105001001", "110105001002", "110105001003"]
    with raw.open(encoding="utf-8", newline="") as src, \
            path.open("w", encoding="utf-8", newline="") as dst:
        reader, writer = csv.reader(src), csv.writer(dst)
        writer.writerow(next(reader))
        for row in reader:
            community = row[col["社区代码"]]
            if community not in demo_communities:
                mapped = demo_communities[int(community[-3:]) % 3]
                row[col["网格编码"]] = mapped + row[col["网格编码"]][-3:]
                row[col["社区代码"]] = mapped
                row[col["小区"]] = f"{row[col['小区']]}二期"
            row[col["小区"]] = f"压测{row[col['小区']]}"
            if row[col["户号"]]:
                hno = row[col["户号"]]
                row[col["户号"]] = f"{hno[:-6]}{int(hno[-6:]) + 500_000:06d}"
            writer.writerow(row)
    raw.unlink()


_SCOPE_ALL = """
from core.app import create_app
from core.config import load_config
from core.identity.models import User
from core.identity.services import set_scopes
from sqlalchemy import select
app = create_app(load_config())
with app.app_context(), app.extensions["shequ"].db.session_scope() as s:
    admin = s.scalar(select(User).where(User.username == {name!r}))
    set_scopes(s, admin, [("all", "")], admin=admin)
"""


def _run(argv: list[str], env: dict[str, str], what: str, timeout: int = 900) -> str:
    out = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                         check=False, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return out.stdout


# ------------------------------------------------------------------------------ benchmark


def embedded_concurrency(settings: Settings) -> list[Result]:
    target = Target("ratio", "<=", 3)
    tmp = Path(tempfile.mkdtemp(prefix="shequ-bench-embedded-"))
    server: Server | None = None
    stop = multiprocessing.get_context("spawn").Event()
    procs: list[Any] = []
    try:
        instance = tmp / "instance"
        config = tmp / "shequ.toml"
        default = (ROOT / "config" / "default.toml").read_text(encoding="utf-8")
        moved, n = re.subn(r'(?m)^instance_path = "[^"]*"', f'instance_path = "{instance}"',
                           default)
        if n != 1:
            raise RuntimeError("config/default.toml has no [app] instance_path line to move")
        threads = os.environ.get("BENCH_EMBEDDED_THREADS", "")
        if threads:  # a what-if: e.g. 1 is the single sync worker of before issue 23
            moved, n = re.subn(r"(?m)^threads = \d+", f"threads = {int(threads)}", moved)
            if n != 1:
                raise RuntimeError("config/default.toml has no [server] threads line")
        config.write_text("# bench/embedded.py: config/default.toml (what make run uses), "
                          "with the instance directory moved\n" + moved, encoding="utf-8")
        env = base_env()
        env["SHEQU_CONFIG"] = str(config)
        log("embedded: migrating a fresh SQLite instance (make migrate)")
        _run([*shequ_argv(), "db", "upgrade"], env, "shequ db upgrade")
        log("embedded: loading the demo data (make demo)")
        t0 = time.monotonic()
        _run([*shequ_argv(), "demo"], env, "shequ demo")
        log(f"embedded: demo data loaded in {time.monotonic() - t0:.0f}s; the demo "
            "administrator gets the place scope 'all'")
        _run([sys.executable, "-c", _SCOPE_ALL.format(name=ADMIN[0])], env, "set the scope")
        upload = tmp / "import.csv"
        _import_file(upload, IMPORT_ROWS)
        data = upload.read_bytes()
        log(f"embedded: wrote the import file ({IMPORT_ROWS:,} rows, {len(data) / 1e6:.1f} MB)")

        port = free_port()
        server = Server("shequ", [*shequ_argv(), "run", "--host", "127.0.0.1", "--port",
                                  str(port)], env=env, port=port,
                        log_path=tmp / "shequ.log")
        server.wait_ready("/healthz", timeout=120)
        worker_line = next((ln for ln in server.tail(200).splitlines()
                            if "Using worker" in ln), "")
        worker_class = worker_line.rsplit(":", 1)[-1].strip() or "?"
        booted = sum("Booting worker" in ln for ln in server.tail(200).splitlines())
        log(f"embedded: shequ run is serving on port {port} (worker: {worker_class}, "
            f"{booted} process)")

        resident = sign_in(port, *RESIDENT)
        status, _h, body = fetch(port, "GET", "/", resident)
        if status != 200 or b"/account/logout" not in body:
            raise RuntimeError(f"the resident's home page answered {status} signed out")
        admins = [sign_in(port, *ADMIN), sign_in(port, *ADMIN)]

        ctx = multiprocessing.get_context("spawn")
        counter = ctx.Value("i", 0)
        results = ctx.Queue()
        procs = [ctx.Process(target=_client_process,
                             args=(port, {**resident, "User-Agent": USER_AGENT}, stop,
                                   counter, results), daemon=True)
                 for _ in range(CLIENT_PROCESSES)]
        for p in procs:
            p.start()
        clients = CLIENT_PROCESSES * CLIENT_THREADS
        quiet_seconds = max(6, settings.duration * 2)
        warm = max(2, settings.warmup)
        log(f"embedded: {clients} clients on GET / as the demo resident; warm-up {warm}s")
        time.sleep(warm)

        def progress(label: str, seconds: float, until: Any = None) -> None:
            """Wait ``seconds`` (or until ``until()`` is true), printing the request rate."""
            start = last_t = time.monotonic()
            last_n = counter.value
            while True:
                time.sleep(min(2.5, max(0.05, start + seconds - time.monotonic()))
                           if until is None else 2.5)
                now, n = time.monotonic(), counter.value
                log(f"embedded: {label}: {(n - last_n) / (now - last_t):,.0f} home pages/s "
                    f"({n:,} so far)")
                last_t, last_n = now, n
                if (until is None and now - start >= seconds) or (until is not None
                                                                  and until()):
                    return

        quiet_start = time.monotonic()
        progress("quiet", quiet_seconds)
        background_start = time.monotonic()
        export_done: dict[str, Any] = {}
        import_done: dict[str, Any] = {}
        errors: list[str] = []

        def guarded(fn: Any, *args: Any) -> None:
            try:
                fn(*args)
            except Exception as exc:  # reported as a failed request, and the reason
                errors.append(f"{fn.__name__.strip('_')}: {type(exc).__name__}: {exc}"[:1500])
                log(f"embedded: background {fn.__name__.strip('_')} FAILED: {exc}\n"
                    f"server log:\n{server.tail(60) if server else ''}")

        work = [threading.Thread(target=guarded, args=(_export, port, admins[0], export_done)),
                threading.Thread(target=guarded, args=(_import, port, admins[1], data, instance,
                                                       import_done))]
        log("embedded: background work starts: export of every demo person and an import "
            f"of {IMPORT_ROWS:,} rows, through the staff pages")
        for t in work:
            t.start()
        progress("background", 0, until=lambda: not any(t.is_alive() for t in work))
        background_end = time.monotonic()
        progress("after", 2)
        stop.set()
        records: list[tuple[float, float, int]] = []
        for _ in procs:
            records += results.get(timeout=120)
        for p in procs:
            p.join(timeout=30)
        if server.proc.poll() is not None:
            raise RuntimeError(f"shequ run died during the run:\n{server.tail()}")
    except Exception as exc:
        log(f"embedded: FAILED: {exc}")
        err = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        return [Result("embedded_concurrency", None, "ms", None, target, meta=err),
                Result("embedded_concurrency_failed", None, "requests", None,
                       Target("value", "<=", 0), meta=err)]
    finally:
        stop.set()
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def window(lo: float, hi: float) -> tuple[list[float], int]:
        inside = [r for r in records if lo <= r[0] < hi]
        return [r[1] * 1000 for r in inside if r[2] > 0], sum(r[2] <= 0 for r in inside)

    quiet, quiet_failed = window(quiet_start, background_start)
    busy, busy_failed = window(background_start, background_end)
    failed_pages = sum(r[2] <= 0 for r in records)
    failed = failed_pages + len(errors)
    q_p99, b_p99 = _percentile(quiet, 0.99), _percentile(busy, 0.99)
    bg_seconds = background_end - background_start
    meta: dict[str, Any] = {
        "configuration": "make run: config/default.toml (development, SQLite, delivery "
                         "thread, server.threads), instance in a temporary directory, demo "
                         "data; shequ run as make run starts it",
        "worker_class": worker_class,
        "threads_override": os.environ.get("BENCH_EMBEDDED_THREADS") or None,
        "server_processes": booted,
        "clients": f"{clients} ({CLIENT_PROCESSES} processes x {CLIENT_THREADS} threads, "
                   "keep-alive http.client) on GET / as the demo resident",
        "background": f"POST /registry/export (every demo person, masked) and POST "
                      f"/registry/import + confirm ({IMPORT_ROWS:,} rows), as the demo "
                      "administrator, at the same time",
        "quiet_seconds": round(background_start - quiet_start, 1),
        "background_seconds": round(bg_seconds, 1),
        "quiet_requests": len(quiet),
        "background_requests": len(busy),
        "quiet_rps": round(len(quiet) / max(0.001, background_start - quiet_start), 1),
        "background_rps": round(len(busy) / max(0.001, bg_seconds), 1),
        "quiet_p50_ms": round(median(quiet), 2) if quiet else None,
        "quiet_p99_ms": round(q_p99, 2),
        "background_p50_ms": round(median(busy), 2) if busy else None,
        "background_p99_ms": round(b_p99, 2),
        "background_max_ms": round(max(busy), 1) if busy else None,
        "export": export_done,
        "import": import_done,
        "failed_home_pages": failed_pages,
        "failed_home_pages_quiet": quiet_failed,
        "failed_home_pages_background": busy_failed,
    }
    if errors:
        meta["background_errors"] = errors
    log(f"embedded: home page p50/p99 quiet {meta['quiet_p50_ms']}/{q_p99:.1f} ms, with the "
        f"background work {meta['background_p50_ms']}/{b_p99:.1f} ms; {failed} failed")
    main = Result("embedded_concurrency", b_p99, "ms", q_p99, target, meta=meta)
    if errors or not busy:
        main.meta["error"] = "; ".join(errors) or "no home page was served during the work"
    return [main, Result("embedded_concurrency_failed", float(failed), "requests", None,
                         Target("value", "<=", 0), meta={k: meta[k] for k in (
                             "failed_home_pages", "failed_home_pages_quiet",
                             "failed_home_pages_background")} | (
                             {"background_errors": errors} if errors else {}))]
