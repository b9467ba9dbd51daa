"""HTTP load generators, to 127.0.0.1 only: wrk when installed, else a Python fallback
(processes x threads, one ``http.client`` keep-alive connection per thread).

Both send one request over and over: a method, a path, headers and an optional body
(wrk gets a small Lua script for a method other than GET or a body).

Both return a :class:`LoadResult`; the fallback is much less efficient than wrk and
competes for the same cores, so its absolute numbers are lower (ratios still compare).
"""

from __future__ import annotations

import http.client
import multiprocessing
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

WRK = shutil.which("wrk")


@dataclass
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx responses plus socket errors

    def summary(self) -> str:
        errors = f", {self.errors} errors" if self.errors else ""
        return f"{self.rps:,.0f} req/s, p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms{errors}"


def generator_name(force_python: bool = False) -> str:
    if WRK and not force_python:
        out = subprocess.run([WRK, "--version"], capture_output=True, text=True, check=False)
        first = (out.stdout or out.stderr).strip().splitlines()
        return first[0].split(" Copyright")[0] if first else "wrk"
    return "python (http.client, keep-alive)"


def run_load(
    port: int,
    path: str,
    headers: dict[str, str],
    *,
    seconds: int,
    threads: int,
    connections: int,
    force_python: bool = False,
    method: str = "GET",
    body: bytes | None = None,
) -> LoadResult:
    if WRK and not force_python:
        return _wrk(port, path, headers, seconds, threads, connections, method, body)
    return _python(port, path, headers, seconds, threads, connections, method, body)


# ------------------------------------------------------------------------------ wrk

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _lua_string(text: str) -> str:
    """A Lua long-bracket literal holding ``text`` verbatim (no escapes to get wrong)."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def wrk_script(method: str, body: bytes | None) -> str:
    """The Lua script that makes wrk send ``method`` with ``body`` on every request."""
    lines = [f"wrk.method = {_lua_string(method)}"]
    if body is not None:
        lines.append(f"wrk.body = {_lua_string(body.decode())}")
    return "\n".join(lines) + "\n"


def _wrk(
    port: int,
    path: str,
    headers: dict[str, str],
    seconds: int,
    threads: int,
    connections: int,
    method: str = "GET",
    body: bytes | None = None,
) -> LoadResult:
    argv = [
        WRK,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    for key, value in headers.items():
        argv += ["-H", f"{key}: {value}"]
    with tempfile.TemporaryDirectory(prefix="shequ-bench-wrk-") as tmp:
        if method != "GET" or body is not None:
            script = f"{tmp}/request.lua"
            with open(script, "w", encoding="utf-8") as f:
                f.write(wrk_script(method, body))
            argv += ["-s", script]
        argv.append(f"http://127.0.0.1:{port}{path}")
        out = subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=seconds + 60
        )
    text = out.stdout
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr or text}")
    try:
        requests = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", text).group(1))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
        p50 = _ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
        p99 = _ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
    except AttributeError:
        raise RuntimeError(f"cannot read wrk output:\n{text}") from None
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(x) for x in m.groups())
    return LoadResult(requests, float(seconds), rps, p50, p99, errors)


# ------------------------------------------------------------------------------ python


def _client_thread(
    port: int,
    path: str,
    headers: dict[str, str],
    deadline: float,
    latencies: list[float],
    errors: list[int],
    method: str = "GET",
    body: bytes | None = None,
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while True:
        start = time.perf_counter()
        if start >= deadline:
            break
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if not 200 <= resp.status < 400:
                errors[0] += 1
            if resp.will_close:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        except (OSError, http.client.HTTPException):
            errors[0] += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            continue
        latencies.append((time.perf_counter() - start) * 1000)
    conn.close()


def _client_process(
    args: tuple[int, str, dict[str, str], float, int, str, bytes | None],
) -> tuple[list[float], int]:
    port, path, headers, seconds, nthreads, method, body = args
    deadline = time.perf_counter() + seconds
    per_thread: list[list[float]] = [[] for _ in range(nthreads)]
    errs = [[0] for _ in range(nthreads)]
    workers = [
        threading.Thread(
            target=_client_thread,
            args=(port, path, headers, deadline, per_thread[i], errs[i], method, body),
        )
        for i in range(nthreads)
    ]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return [x for lat in per_thread for x in lat], sum(e[0] for e in errs)


def _python(
    port: int,
    path: str,
    headers: dict[str, str],
    seconds: int,
    threads: int,
    connections: int,
    method: str = "GET",
    body: bytes | None = None,
) -> LoadResult:
    per_proc = max(1, connections // threads)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(threads) as pool:
        jobs = [(port, path, headers, float(seconds), per_proc, method, body)] * threads
        parts = pool.map(_client_process, jobs)
    latencies = sorted(x for lat, _ in parts for x in lat)
    errors = sum(e for _, e in parts)
    if not latencies:
        raise RuntimeError("python load generator completed no request")

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    # Each client process measures its own window, so pool start-up is not counted.
    return LoadResult(
        len(latencies), float(seconds), len(latencies) / seconds, pct(50), pct(99), errors
    )


# ------------------------------------------------------------------------------ counted


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None


def run_count(
    port: int, mix: list[Request], total: int, *, concurrency: int = 4
) -> tuple[int, int, float]:
    """Send exactly ``total`` requests, cycling through ``mix`` in order, from
    ``concurrency`` threads (each its own connection). For the memory benchmark, where the
    number of requests matters and throughput does not. Returns (sent, errors, seconds)."""
    counter = iter(range(total))
    lock = threading.Lock()
    errors = [0]

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            req = mix[i % len(mix)]
            try:
                conn.request(req.method, req.path, body=req.body, headers=req.headers)
                resp = conn.getresponse()
                resp.read()
                ok = 200 <= resp.status < 400
                if resp.will_close:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            if not ok:
                with lock:
                    errors[0] += 1
        conn.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return total, errors[0], time.perf_counter() - started
