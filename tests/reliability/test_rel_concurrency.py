"""Concurrency on the real server and PostgreSQL: each race ends in exactly the correct
state. (The plugins' own races — two merchants accepting one ticket, one voter casting 50
ballots — are in their suites under tests/plugins/, run on PostgreSQL in CI.)"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

from reliability_kit import make_places, record, staff_token
from sqlalchemy import func, select


def _call(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_same_import_twice_in_parallel_and_concurrent_edits(deployment, tmp_path):
    from core.registry.models import Change, Person

    dep = deployment()
    app = dep.app()
    rows = 3000
    csv_path = make_places(app, rows, tmp_path)

    # -- the same import, twice at once: each process all-or-nothing, no duplicates
    procs = [dep.start(f"import-{i}", "registry", "import", str(csv_path)) for i in (1, 2)]
    codes = [p.popen.wait(600) for p in procs]
    logs = [p.tail(8) for p in procs]
    kernel = app.extensions["shequ"]
    with kernel.db.Session() as s:
        persons = s.scalar(select(func.count()).select_from(Person))
        distinct = s.scalar(select(func.count(func.distinct(Person.id_number))))
    import_ok = persons == rows == distinct and codes == [0, 0]
    tracebacks = [log for log in logs if "Traceback" in log]

    # -- two workers save the same person at once with the version they both read
    dep.serve(workers=2)
    tokens = [staff_token(dep, f"editor{i}") for i in (1, 2)]
    with kernel.db.Session() as s:
        pid = s.scalar(select(Person.id).order_by(Person.id).limit(1))
    rounds, outcomes = 20, []
    for r in range(rounds):
        status, body = _call("GET", f"{dep.url}/api/v1/registry/persons/{pid}", tokens[0])
        assert status == 200, body
        version = body["version"]
        # two different values, both different from the stored one: each save is a change
        values = [v for v in ("01", "03", "05") if v != body.get("ethnicity")][:2]
        results: dict[int, tuple[int, dict]] = {}
        barrier = threading.Barrier(2)

        def save(i: int, version: int = version, values=values, results=results,
                 barrier=barrier):
            barrier.wait()
            results[i] = _call("PATCH", f"{dep.url}/api/v1/registry/persons/{pid}", tokens[i],
                               {"version": version, "ethnicity": values[i]})

        threads = [threading.Thread(target=save, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        outcomes.append(sorted(code for code, _ in results.values()))
    with kernel.db.Session() as s:
        final = s.get(Person, pid)
        changes = s.scalar(select(func.count()).select_from(Change).where(
            Change.entity == "person", Change.entity_id == pid, Change.field == "ethnicity"))
    won = sum(1 for o in outcomes if o == [200, 409])
    # every round one save wins and one gets 409; the winner's change is in the history
    edit_ok = won == rounds and changes == rounds
    record(
        "concurrency: parallel import, concurrent edits",
        injected=f"the same {rows:,}-row CSV imported by two `shequ registry import` "
                 f"processes at once; {rounds} rounds of two workers saving one person with "
                 "the same version at the same moment",
        checked="persons == rows with no duplicate ID numbers and no half-written batch; "
                "each round exactly one 200 and one 409, nothing silently overwritten",
        figures={"import_exit_codes": codes,
                 "import_last_lines": [log.strip().splitlines()[-1][:200] if log.strip() else ""
                                       for log in logs],
                 "persons": persons, "distinct_id_numbers": distinct,
                 "rounds": rounds, "rounds_one_winner": won,
                 "outcomes": sorted({json.dumps(o) for o in outcomes}),
                 "history_entries": changes, "tracebacks": len(tracebacks)},
        passed=import_ok and edit_ok and not tracebacks,
    )
    assert import_ok, (codes, persons, distinct, logs)
    assert not tracebacks, tracebacks
    assert won == rounds, outcomes
    assert changes == rounds, "a saved change is missing from the history"
    assert final.ethnicity in ("01", "03", "05")
