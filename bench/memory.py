"""``memory``: resident set size of one gunicorn worker after N mixed requests.

Shequ (``shequ run --workers 1``, production, the shipped plugins, demo data loaded) receives
exactly N requests (10,000; 2,000 in ``--quick``) cycling through four kinds — the person
read (bearer token), the reveal (JSON body, one access-log row each), the resident home
page (session cookie from the real login form) and ``/api/v1/identity/me`` — from four
client threads; then the worker's ``VmRSS`` is read from ``/proc``. The floor, bare Flask
(``gunicorn -w 1 bench.floors.bare_app:app``), gets the same count cycling through its
equivalents (``/person/<id>`` twice, ``/page``, ``/user/<id>``). Then both get N more and
are read again.

* ``memory``: Shequ's worker RSS after N requests, MiB, against the floor's (ratio
  reported, no target).
* ``memory_growth``: how much Shequ's worker grew between N and 2N requests, MiB. Target:
  under 2 MiB, i.e. under 210 bytes per request. A leak of one small object per request
  (a dict, a list of a few items, an ORM row kept alive: 200 bytes to a few KiB) would
  exceed it; the noise it has to stay above is allocator arenas and bounded caches that
  warm up (SQLAlchemy's statement cache, Jinja's template cache, Babel's catalogues), which
  are full long before N requests. The floor's growth is in ``meta`` for comparison.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Result, Server, Settings, Target, free_port, log
from bench.http import (
    REVEAL_BODY,
    expect,
    prepare_instance,
    sign_in,
    start_floor,
    start_shequ,
)
from bench.load import Request, run_count

#: Largest growth between N and 2N requests that passes (MiB); see the module docstring.
GROWTH_LIMIT_MIB = 2.0


def worker_pid(server: Server) -> int:
    """The only gunicorn worker of ``server`` (a child of its master process)."""
    pid = server.proc.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    if len(children) != 1:
        raise RuntimeError(f"{server.name}: expected one worker, found {children}")
    return int(children[0])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def memory(settings: Settings) -> list[Result]:
    n = settings.memory_requests
    target = Target("value", "<", GROWTH_LIMIT_MIB)
    tmp = Path(tempfile.mkdtemp(prefix="shequ-bench-"))
    servers: list[Server] = []
    try:
        log(
            f"memory: migrating a sqlite instance with demo data; {n:,} + {n:,} requests per server"
        )
        inst = prepare_instance("sqlite", tmp, demo=True)
        shequ = start_shequ(inst, free_port(), workers=1)
        servers.append(shequ)
        shequ.wait_ready("/healthz")
        cookie = sign_in(shequ.port, inst.resident, inst.resident_password)
        page = Request("GET", "/", cookie)
        page_bytes = len(expect(shequ.port, page, lambda b: b"/account/logout" in b, "home page"))
        floor = start_floor(inst, free_port(), workers=1, page_bytes=page_bytes)
        servers.append(floor)
        floor.wait_ready("/page")
        mixes = {
            "shequ": (
                shequ,
                [
                    Request("GET", inst.person_path, inst.bearer),
                    Request(
                        "POST",
                        f"{inst.person_path}/reveal",
                        {**inst.bearer, "Content-Type": "application/json"},
                        REVEAL_BODY,
                    ),
                    page,
                    Request("GET", "/api/v1/identity/me", inst.bearer),
                ],
            ),
            "floor": (
                floor,
                [
                    Request("GET", f"/person/{inst.person_id}", {}),
                    Request("GET", f"/person/{inst.person_id}", {}),
                    Request("GET", "/page", {}),
                    Request("GET", f"/user/{inst.user_id}", {}),
                ],
            ),
        }
        for side, (server, mix) in mixes.items():
            for req in mix:
                expect(server.port, req, lambda b: bool(b), f"memory {side}")
        pids = {side: worker_pid(server) for side, (server, _) in mixes.items()}
        readings: dict[str, list[float]] = {side: [rss_mib(pid)] for side, pid in pids.items()}
        seconds: dict[str, float] = {"shequ": 0.0, "floor": 0.0}
        errors = 0
        for step in (1, 2):
            for side, (server, mix) in mixes.items():
                sent, errs, secs = run_count(server.port, mix, n, concurrency=4)
                errors += errs
                seconds[side] += secs
                readings[side].append(rss_mib(pids[side]))
                log(
                    f"memory {side}: {sent * step:,} requests, worker RSS "
                    f"{readings[side][-1]:.1f} MiB ({sent / secs:,.0f} req/s)"
                )
        for server in servers:
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} died during the run:\n{server.tail()}")
    except Exception as exc:
        log(f"memory: FAILED: {exc}")
        err = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        return [
            Result("memory", None, "MiB", None, None, meta=err),
            Result("memory_growth", None, "MiB", None, target, meta=err),
        ]
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    meta: dict[str, Any] = {
        "requests": n,
        "measures": "VmRSS of the single gunicorn worker (shequ run --workers 1 / "
        "gunicorn -w 1), after N and after 2N requests from 4 client threads",
        "shequ_mix": "GET person (bearer), POST reveal (bearer, JSON), GET / (resident "
        "cookie), GET /api/v1/identity/me (bearer), in turn",
        "floor_mix": "GET /person/<id>, GET /person/<id>, GET /page, GET /user/<id>",
        "shequ_rss_mib": [round(x, 1) for x in readings["shequ"]],
        "floor_rss_mib": [round(x, 1) for x in readings["floor"]],
        "readings_at": [0, n, 2 * n],
        "shequ_req_per_s": round(2 * n / seconds["shequ"]),
        "floor_req_per_s": round(2 * n / seconds["floor"]),
    }
    if errors:
        meta["error"] = f"{errors} non-2xx responses or socket errors"
    s0, s1, s2 = readings["shequ"]
    _f0, f1, f2 = readings["floor"]
    return [
        Result("memory", s1, "MiB", f1, None, meta=meta),
        Result(
            "memory_growth",
            s2 - s1,
            "MiB",
            None,
            target,
            meta={
                **meta,
                "limit_mib": GROWTH_LIMIT_MIB,
                "bytes_per_request": round((s2 - s1) * 1024 * 1024 / n),
                "floor_growth_mib": round(f2 - f1, 2),
                "shequ_growth_first_n_mib": round(s1 - s0, 1),
            },
        ),
    ]
