"""HTTP load generators, to 127.0.0.1 only: wrk when installed, else a Python fallback
(processes x threads, one ``http.client`` keep-alive connection per thread).

Both return a :class:`LoadResult`; the fallback is much less efficient than wrk and
competes for the same cores, so its absolute numbers are lower (ratios still compare).
"""

from __future__ import annotations

import http.client
import multiprocessing
import re
import shutil
import subprocess
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


def run_load(port: int, path: str, headers: dict[str, str], *, seconds: int, threads: int,
             connections: int, force_python: bool = False) -> LoadResult:
    if WRK and not force_python:
        return _wrk(port, path, headers, seconds, threads, connections)
    return _python(port, path, headers, seconds, threads, connections)


# ------------------------------------------------------------------------------ wrk

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _wrk(port: int, path: str, headers: dict[str, str], seconds: int, threads: int,
         connections: int) -> LoadResult:
    argv = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
            "--timeout", "10s"]
    for key, value in headers.items():
        argv += ["-H", f"{key}: {value}"]
    argv.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(argv, capture_output=True, text=True, check=False,
                         timeout=seconds + 60)
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


def _client_thread(port: int, path: str, headers: dict[str, str], deadline: float,
                   latencies: list[float], errors: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while True:
        start = time.perf_counter()
        if start >= deadline:
            break
        try:
            conn.request("GET", path, headers=headers)
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


def _client_process(args: tuple[int, str, dict[str, str], float, int]) -> tuple[list[float], int]:
    port, path, headers, seconds, nthreads = args
    deadline = time.perf_counter() + seconds
    per_thread: list[list[float]] = [[] for _ in range(nthreads)]
    errs = [[0] for _ in range(nthreads)]
    workers = [
        threading.Thread(target=_client_thread,
                         args=(port, path, headers, deadline, per_thread[i], errs[i]))
        for i in range(nthreads)
    ]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return [x for lat in per_thread for x in lat], sum(e[0] for e in errs)


def _python(port: int, path: str, headers: dict[str, str], seconds: int, threads: int,
            connections: int) -> LoadResult:
    per_proc = max(1, connections // threads)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(threads) as pool:
        jobs = [(port, path, headers, float(seconds), per_proc)] * threads
        parts = pool.map(_client_process, jobs)
    latencies = sorted(x for lat, _ in parts for x in lat)
    errors = sum(e for _, e in parts)
    if not latencies:
        raise RuntimeError("python load generator completed no request")

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    # Each client process measures its own window, so pool start-up is not counted.
    return LoadResult(len(latencies), float(seconds), len(latencies) / seconds, pct(50), pct(99),
                      errors)
