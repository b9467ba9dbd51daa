"""Where the resident home page's time goes, in-process: ``python -m bench.profile_home``.

Builds the instance ``page_resident_home`` benchmarks (migrated, demo data, ``bench.seed``,
every plugin ``config/default.toml`` enables) — or reuses one with ``--instance DIR`` —
then, with Flask's test client (no gunicorn, no sockets):

* signs the bench resident in through the real login form (CSRF token, POST);
* times N ``GET /`` of the signed-in resident and of an anonymous visitor (µs per page,
  wall and the thread's CPU time, each the best of the batches) and the floor's
  ``GET /page`` in the same run;
* counts the SQL statements of one signed-in page;
* with ``--profile``, runs cProfile over N pages and prints the functions ranked by
  cumulative time (``--anon``: the anonymous page), the evidence for docs/performance.md.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.common import log
from bench.http import SECRET, USER_AGENT, prepare_instance


def _instance(path: str | None) -> tuple[Path, dict[str, Any]]:
    """A prepared instance directory and what ``bench.seed`` created in it (cached as
    ``seed.json`` in the directory, so ``--instance`` can reuse a seeded one)."""
    tmp = Path(path) if path else Path(tempfile.mkdtemp(prefix="shequ-home-"))
    saved = tmp / "seed.json"
    if saved.exists():
        return tmp, json.loads(saved.read_text())
    tmp.mkdir(parents=True, exist_ok=True)
    log(f"preparing a demo instance in {tmp} (a minute or two)")
    inst = prepare_instance("sqlite", tmp, demo=True)
    seed = {"resident": inst.resident, "password": inst.resident_password}
    saved.write_text(json.dumps(seed))
    return tmp, seed


def _app(tmp: Path) -> Any:
    os.environ["SHEQU_CONFIG"] = str(tmp / "shequ.toml")
    os.environ["SHEQU_SECRET_KEY"] = SECRET
    from core.app import create_app
    from core.config import load_config

    # The benchmarked server delivers events in ``shequ worker``; no thread here either.
    return create_app(load_config())


def sign_in(app: Any, username: str, password: str) -> Any:
    """A test client signed in through ``/account/login`` as the bench resident."""
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    page = client.get("/account/login", base_url="https://localhost")
    token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page.text)
    if token is None:
        raise RuntimeError("no csrf_token on the login page")
    # Over HTTPS Flask-WTF checks the Referer as a browser sends it.
    resp = client.post("/account/login", base_url="https://localhost",
                       headers={"Referer": "https://localhost/account/login"}, data={
        "username": username, "password": password, "csrf_token": token.group(1)})
    if resp.status_code != 302:
        raise RuntimeError(f"login answered {resp.status_code}")
    return client


def per_page(client: Any, path: str, n: int, batches: int, base_url: str) -> float:
    """µs per request, best of ``batches`` batches of ``n``."""
    return per_page_wall_cpu(client, path, n, batches, base_url)[0]


def per_page_wall_cpu(client: Any, path: str, n: int, batches: int,
                      base_url: str) -> tuple[float, float]:
    """(wall, CPU) µs per request, each the best of ``batches`` batches of ``n``. The
    thread's CPU time moves less than the wall time when other work shares the cores (it
    still grows with cache and frequency effects: compare figures of one run)."""
    wall = cpu = float("inf")
    for _ in range(batches):
        t0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(n):
            resp = client.get(path, base_url=base_url)
            if resp.status_code != 200:
                raise RuntimeError(f"{path} answered {resp.status_code}")
        wall = min(wall, (time.perf_counter() - t0) / n * 1e6)
        cpu = min(cpu, (time.thread_time() - c0) / n * 1e6)
    return wall, cpu


def statements(engine: Any, client: Any) -> list[str]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split())[:120])

    event.listen(engine, "before_cursor_execute", before)
    try:
        client.get("/", base_url="https://localhost")
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return seen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_home")
    parser.add_argument("--instance", help="a directory to prepare once and reuse")
    parser.add_argument("-n", type=int, default=200, help="pages per batch")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile N pages")
    parser.add_argument("--anon", action="store_true", help="profile the anonymous page")
    parser.add_argument("--top", type=int, default=45, help="functions to print")
    args = parser.parse_args(argv)

    tmp, seed = _instance(args.instance)
    app = _app(tmp)
    resident = sign_in(app, seed["resident"], seed["password"])
    anonymous = app.test_client()
    anonymous.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    https = "https://localhost"
    for c in (resident, anonymous):
        for _ in range(20):  # warm: templates compiled, caches filled
            c.get("/", base_url=https)
    size = len(resident.get("/", base_url=https).data)

    from bench.floors.bare_app import make_app as floor_app

    db_url = f"sqlite:///{tmp}/instance/shequ.db"
    floor = floor_app(db_url, size).test_client()
    floor.get("/page")

    engine = app.extensions["shequ"].db.engine
    sql = statements(engine, resident)
    if args.profile:
        client = anonymous if args.anon else resident
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.n):
            client.get("/", base_url=https)
        prof.disable()
        stats = pstats.Stats(prof)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(25)
    result: dict[str, Any] = {"page_bytes": size, "statements": len(sql)}
    for name, c, path, base in (("resident", resident, "/", https),
                                ("anonymous", anonymous, "/", https),
                                ("floor", floor, "/page", "http://localhost")):
        wall, cpu = per_page_wall_cpu(c, path, args.n, args.batches, base)
        result[f"{name}_us"] = round(wall)
        result[f"{name}_cpu_us"] = round(cpu)
    result["load"] = os.getloadavg()[0]
    for s in sql:
        log(f"  SQL {s}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
