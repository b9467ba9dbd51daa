"""Event delivery under failure: a worker killed mid-delivery, subscribers that fail."""

from __future__ import annotations

import time
from collections import Counter

from reliability_kit import record
from sqlalchemy import text

EVENTS = 10_000


def _publish(app, n: int, chunk: int = 1000) -> None:
    kernel = app.extensions["shequ"]
    for start in range(0, n, chunk):
        with kernel.db.session_scope() as session:
            for i in range(start, min(n, start + chunk)):
                kernel.bus.publish(session, "probe.ping.sent", {"n": i})


def _scalar(app, sql: str, **params) -> int:
    with app.extensions["shequ"].db.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar() or 0


def _wait(predicate, timeout: float, what: str, procs=()) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        for proc in procs:
            assert proc.alive(), f"{proc.name} died:\n{proc.tail()}"
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_worker_killed_mid_delivery_loses_nothing(deployment):
    dep = deployment(probe="record")
    app = dep.app()
    _publish(app, EVENTS)
    first = dep.start("worker-1", "worker", "--batch", "100", "--report", "2")
    second = dep.start("worker-2", "worker", "--batch", "100", "--report", "2")

    def delivered() -> int:
        return _scalar(app, "SELECT count(*) FROM events_delivery WHERE status = 'delivered'")

    _wait(lambda: delivered() >= EVENTS // 2, 300, "half of the deliveries", (first, second))
    at_kill = delivered()
    first.kill()  # SIGKILL: no chance to finish or roll back cleanly
    first.popen.wait(10)
    seconds = _wait(lambda: delivered() >= EVENTS, 300, "every delivery", (second,))
    time.sleep(1)  # anything still in flight settles

    pending = _scalar(app, "SELECT count(*) FROM events_delivery WHERE status <> 'delivered'")
    pairs = _scalar(app, "SELECT count(DISTINCT event_id) FROM probe_delivery "
                         "WHERE subscriber = 'record'")
    rows = _scalar(app, "SELECT count(*) FROM probe_delivery WHERE subscriber = 'record'")
    runs = Counter((dep.tmp / "probe-runs.log").read_text().split())
    duplicates = sum(c - 1 for c in runs.values() if c > 1)
    passed = pairs == EVENTS and pending == 0 and rows == EVENTS and len(runs) == EVENTS
    record(
        "worker killed mid-delivery",
        injected=f"{EVENTS:,} events, 2 `shequ worker` processes, SIGKILL of one after "
                 f"{at_kill:,} deliveries",
        checked="every (event, subscriber) pair delivered; the subscriber's own rows, "
                "written in the delivery's transaction, exactly once; handler runs counted "
                "outside any transaction",
        figures={"events": EVENTS, "delivered": pairs, "lost": EVENTS - pairs,
                 "pending_after": pending, "handler_runs": sum(runs.values()),
                 "duplicate_runs": duplicates, "rows_written_twice": rows - pairs,
                 "seconds_after_kill": round(seconds, 1)},
        passed=passed,
    )
    assert pairs == EVENTS, f"{EVENTS - pairs} events lost"
    assert pending == 0
    assert rows == EVENTS, "a delivery's own writes were committed twice"
    assert len(runs) == EVENTS


def test_failing_subscribers_retry_dead_letter_and_redeliver(deployment):
    dep = deployment(probe="record,flaky,broken")
    app = dep.app()
    n = 200
    with app.extensions["shequ"].db.engine.begin() as conn:
        conn.execute(text("UPDATE probe_switch SET broken = 1"))
    _publish(app, n)
    worker = dep.start("worker", "worker", "--report", "2")

    def count(status: str, sub: str) -> int:
        return _scalar(app, "SELECT count(*) FROM events_delivery WHERE status = :st "
                            "AND subscriber = :sub", st=status, sub=sub)

    _wait(lambda: count("delivered", "probe:flaky") == n and count("dead", "probe:broken") == n,
          180, "flaky delivered and broken dead-lettered", (worker,))
    recorded = count("delivered", "probe:record")
    flaky_attempts = _scalar(app, "SELECT count(*) FROM probe_attempt WHERE subscriber='flaky'")
    dead_attempts = _scalar(app, "SELECT min(attempts) FROM events_delivery "
                                 "WHERE subscriber = 'probe:broken'")
    # the fix ships; an operator redelivers the dead letters
    with app.extensions["shequ"].db.engine.begin() as conn:
        conn.execute(text("UPDATE probe_switch SET broken = 0"))
    out = dep.shequ("events", "retry", "--subscriber", "probe:broken")
    assert out.returncode == 0, out.stdout + out.stderr
    _wait(lambda: count("delivered", "probe:broken") == n, 120, "redelivery", (worker,))
    rows = {sub: _scalar(app, "SELECT count(DISTINCT event_id) FROM probe_delivery "
                              "WHERE subscriber = :s", s=sub)
            for sub in ("record", "flaky", "broken")}
    passed = (recorded == n and flaky_attempts == 3 * n and rows == dict.fromkeys(rows, n))
    record(
        "subscriber failures",
        injected=f"{n} events; one subscriber failing twice per event, one failing always "
                 "until fixed",
        checked="the flaky one succeeds after back-off; the broken one ends as dead letters "
                "after events.max_attempts without holding up the others; "
                "`shequ events retry` delivers them after the fix",
        figures={"events": n, "healthy_delivered": recorded, "flaky_attempts": flaky_attempts,
                 "dead_letters_attempts": dead_attempts, "after_retry": rows},
        passed=passed,
    )
    assert recorded == n
    assert flaky_attempts == 3 * n
    assert dead_attempts == 4  # events.max_attempts in the scenario's config
    assert rows == {"record": n, "flaky": n, "broken": n}
