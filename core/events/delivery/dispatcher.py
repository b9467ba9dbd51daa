"""The embedded dispatcher (``events.delivery = "thread"``): rounds in a daemon thread of
the web process. Apart from the rounds themselves, which ``shequ worker`` and the tests
run without any thread."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from core.current import kernel_of
from core.events.delivery.stats import RunStats

if TYPE_CHECKING:
    from flask import Flask

    from core.events import EventBus

log = logging.getLogger("shequ.events")


class Dispatcher:
    """Embedded delivery (``events.delivery = "thread"``): one daemon thread per process,
    woken right after a commit that published events, and polling every ``poll_interval``
    for events committed by other processes and for retries coming due.

    The thread starts lazily — on the first request this process serves, or in a gunicorn
    worker right after the fork (``after_fork``) — so CLI commands and a preloading master
    process, which build the same app, never deliver in the background.
    """

    def __init__(self, app: Flask, bus: EventBus, run_round: Callable[..., RunStats]) -> None:
        self.app = app
        self.bus = bus
        #: One round (``core.events.delivery.run_once``), passed in: the package imports
        #: this module, so this module does not import the package back.
        self.run_round = run_round
        self.rounds = 0
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopped = False

    @property
    def running(self) -> bool:
        t = self._thread
        return t is not None and self._pid == os.getpid() and t.is_alive()

    def ensure_running(self) -> None:
        """Start the thread unless it runs (in this process) or was stopped. Cheap enough to
        call on every request."""
        if self._stopped or self.running:
            return
        with self._lock:
            if self._stopped or self.running:
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, name="shequ-events", daemon=True
            )
            self._pid = os.getpid()
            self._thread.start()

    def start(self) -> None:
        self._stopped = False
        self.ensure_running()

    def wake(self) -> None:
        """Deliver now rather than at the next poll (called after commits)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the delivery in progress; wait up to ``timeout`` seconds for it."""
        self._stopped = True
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and self.running:
            thread.join(timeout)

    def after_fork(self) -> None:
        """In a forked child: the parent's thread did not survive the fork, and its locks
        may be held forever; start afresh."""
        self._reset()
        self.start()

    def _run(self) -> None:
        from core.jobs import Schedule

        poll = float(self.bus.settings["poll_interval"])
        failures = 0
        stop = self._stop
        schedule = Schedule(self.app, kernel_of(self.app).jobs)
        while not stop.is_set():
            stats: RunStats | None = None
            try:
                with self.app.app_context():
                    stats = self.run_round(self.bus.db, self.bus, should_stop=stop.is_set)
                failures = 0
            except Exception:
                failures += 1
                if failures == 1 or failures % 100 == 0:
                    log.exception("event delivery round failed (%s in a row)", failures)
            self.rounds += 1
            for line in schedule.run_due():
                log.info("%s", line)
            if stats is not None and stats.more:
                continue
            wait = poll if failures == 0 else min(30.0, poll * 2 ** min(failures, 8))
            self._wake.wait(wait)
            self._wake.clear()


def _stop_at_exit(ref: weakref.ReferenceType[Dispatcher]) -> None:
    dispatcher = ref()
    if dispatcher is not None:
        dispatcher.stop(timeout=5.0)
