"""A bounded load run over a realistic mix against the scaled deployment: residents
browsing with a session cookie, staff searching, reading and registering persons through
the API, an event worker delivering what the writes publish. Afterwards: zero 5xx, and
every write the server acknowledged is in the database."""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import os
import random
import threading
import time
from datetime import date, timedelta

from reliability_kit import make_places, record, session_cookie, staff_token
from sqlalchemy import func, select

SECONDS = int(os.environ.get("SHEQU_RELIABILITY_LOAD_SECONDS", "60"))
CLIENTS = 12
PLUGINS = ["gov_services", "commerce", "self_governance", "surveillance"]


class Client(threading.Thread):
    """One keep-alive connection issuing a weighted mix until the deadline."""

    def __init__(self, n: int, port: int, deadline: float, token: str, cookie: str,
                 person_ids: list[int], names: list[str], community: str, stats: dict):
        super().__init__(daemon=True)
        self.n, self.port, self.deadline = n, port, deadline
        self.token, self.cookie = token, cookie
        self.person_ids, self.names, self.community = person_ids, names, community
        self.stats = stats
        self.rng = random.Random(n)  # a reproducible mix, not a secret
        self.seq = 0

    def _request(self, conn, method, path, body=None, headers=None):
        t0 = time.perf_counter()
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        ms = (time.perf_counter() - t0) * 1000
        return resp.status, data, ms, resp.will_close

    def _one(self, conn):
        staff = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        roll = self.rng.random()
        if roll < 0.30:
            return "resident home", ("GET", "/", None, {"Cookie": self.cookie})
        if roll < 0.40:
            return "resident account", ("GET", "/account/", None, {"Cookie": self.cookie})
        if roll < 0.60:
            pid = self.rng.choice(self.person_ids)
            return "staff read", ("GET", f"/api/v1/registry/persons/{pid}", None, staff)
        if roll < 0.80:
            q = self.rng.choice(self.names)[:2]
            return "staff search", ("POST", "/api/v1/registry/persons/search",
                                    json.dumps({"q": q}), staff)
        if roll < 0.95:
            self.seq += 1
            k = self.n * 100_000 + self.seq
            born = date(1940, 1, 1) + timedelta(days=k % 20000)
            from core.registry.testing import make_id

            id_number = make_id(born, "M" if k % 2 else "F", seq=(k // 20000) % 400 + 1)
            body = {"name": f"负载{self.n}号{self.seq}", "id_number": id_number,
                    "community": self.community, "hukou_type": "local"}
            return "staff write", ("POST", "/api/v1/registry/persons", json.dumps(body), staff)
        return "health", ("GET", "/healthz", None, {})

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while time.monotonic() < self.deadline:
            kind, (method, path, body, headers) = self._one(conn)
            try:
                status, data, ms, closes = self._request(conn, method, path, body, headers)
            except (OSError, http.client.HTTPException) as exc:
                self.stats["errors"].append(f"{kind}: {type(exc).__name__}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            self.stats["latency"].append(ms)
            self.stats["status"][f"{kind} {status}"] = \
                self.stats["status"].get(f"{kind} {status}", 0) + 1
            if kind == "staff write" and status == 201:
                self.stats["acknowledged"].append(json.loads(data)["id"])
            elif kind == "staff write" and status != 201:
                self.stats["refused_writes"].append(data[:200].decode(errors="replace"))
            if closes:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.close()


def test_bounded_load_has_no_5xx_and_loses_no_write(deployment, tmp_path):
    from core.registry.models import Person

    dep = deployment(plugins=PLUGINS)
    app = dep.app()
    csv_path = make_places(app, 500, tmp_path)
    out = dep.shequ("registry", "import", str(csv_path))
    assert out.returncode == 0, out.stdout + out.stderr
    kernel = app.extensions["shequ"]
    with kernel.db.Session() as s:
        persons = s.execute(select(Person.id, Person.name)).all()
        from core.registry.models import Community

        community = s.scalar(select(Community.code).order_by(Community.id).limit(1))
        before = s.scalar(select(func.count()).select_from(Person))
    token = staff_token(dep, "load_worker")
    made = dep.shequ("user", "create", "load_resident", "--role", "resident", "--resident",
                     "--password-stdin", input="load-resident-pw-1\n")
    assert made.returncode == 0, made.stderr
    dep.start("events", "worker", "--report", "10")
    dep.serve(workers=2)
    cookie = session_cookie(dep.url, "load_resident", "load-resident-pw-1")
    stats: dict = {"latency": [], "status": {}, "errors": [], "acknowledged": [],
                   "refused_writes": []}
    deadline = time.monotonic() + SECONDS
    clients = [Client(i, dep.port, deadline, token, cookie, [p.id for p in persons],
                      [p.name for p in persons], community, stats) for i in range(CLIENTS)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(SECONDS + 60)

    acknowledged = stats["acknowledged"]
    with kernel.db.Session() as s:
        found = set(s.scalars(select(Person.id).where(Person.id.in_(acknowledged))))
        after = s.scalar(select(func.count()).select_from(Person))
    lost = len(set(acknowledged) - found)
    fives = {k: v for k, v in stats["status"].items() if k.endswith(tuple("5" + d + e
             for d in "0123456789" for e in "0123456789"))}
    lat = sorted(stats["latency"])
    p99 = lat[int(0.99 * (len(lat) - 1))] if lat else None
    p50 = lat[len(lat) // 2] if lat else None
    total = len(lat)
    passed = (not fives and lost == 0 and not stats["errors"] and total > 0
              and after == before + len(acknowledged))
    record(
        "load",
        injected=f"{SECONDS} s of {CLIENTS} keep-alive clients on 127.0.0.1 against "
                 "`shequ run --workers 2` + 1 `shequ worker`, four plugins: 40 % resident "
                 "pages (session cookie), 20 % staff reads, 20 % searches, 15 % registrations, "
                 "5 % health checks",
        checked="no 5xx, no socket error; every acknowledged registration (201) is in the "
                "database and nothing else was added",
        figures={"requests": total, "req_per_s": round(total / SECONDS, 1),
                 "p50_ms": round(p50, 1) if p50 else None,
                 "p99_ms": round(p99, 1) if p99 else None, "5xx": sum(fives.values()),
                 "acknowledged_writes": len(acknowledged), "lost_writes": lost,
                 "socket_errors": len(stats["errors"]),
                 "by_status": dict(sorted(stats["status"].items()))},
        passed=passed,
    )
    assert not fives, fives
    assert not stats["errors"], stats["errors"][:10]
    assert lost == 0
    assert after == before + len(acknowledged)
    assert not stats["refused_writes"], stats["refused_writes"][:5]
