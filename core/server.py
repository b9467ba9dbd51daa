"""gunicorn, embedded: ``shequ run`` serves the very app object it built and checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from core.current import kernel_of


class _Gunicorn(BaseApplication):
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


#: Threads of the one process that serves when ``[server] threads`` is unset.
EMBEDDED_THREADS = 8


def worker_threads(configured: int | None, workers: int) -> int:
    """Threads per gunicorn worker: ``configured`` when set (not 0), else
    :data:`EMBEDDED_THREADS` for a single process and 1 (the sync worker) for several.

    Why: one process is the embedded SQLite default, and there threads are the only way
    a second person is served while an export, an upload or a slow phone holds the first.
    With several processes, concurrency comes from the processes, which do not share a
    GIL: threads inside a busy Python worker only divide its core, lengthening every
    request (measured, docs/performance.md: with 2 workers x 8 threads the API read's p99
    was 5.6x the bare floor's, with sync workers 1.6x, and the throughput 0.47x against
    0.55x). A deployment of several workers has nginx in front, which buffers slow
    clients before gunicorn sees them (docs/operations.md)."""
    if configured:
        return configured
    return EMBEDDED_THREADS if workers == 1 else 1


#: A Unix socket path longer than this cannot be bound (``sun_path`` is 108 bytes on Linux,
#: 104 on the BSDs and macOS).
MAX_SOCKET_PATH = 100


def control_socket_options(app: Flask) -> dict[str, Any]:
    """gunicorn's control socket for this instance: ``<instance path>/gunicorn.ctl``, or none.

    Why: gunicorn 23+ opens a control socket at ``~/.gunicorn/gunicorn.ctl`` by default, so
    every instance one user runs on a machine would share (and clobber) one socket. Each
    instance keeps its own beside its database and secret key; if the instance path is too
    long for a Unix socket, the instance runs without one rather than share one."""
    path = Path(app.instance_path) / "gunicorn.ctl"
    if len(str(path).encode()) > MAX_SOCKET_PATH:
        return {"control_socket_disable": True}
    path.parent.mkdir(parents=True, exist_ok=True)
    return {"control_socket": str(path), "control_socket_mode": 0o600}


def serve(
    app: Flask, *, host: str, port: int, workers: int, timeout: int = 30, threads: int = 1
) -> None:
    """Serve ``app`` with gunicorn: ``workers`` processes of ``threads`` threads each
    (the ``gthread`` worker when ``threads`` > 1, else ``sync``)."""
    kernel = kernel_of(app)
    from core import logs, metrics

    # Every worker's counters in one directory per instance, so any worker answers a
    # scrape for all of them (core/metrics.py); set before the fork, stale files wiped.
    metrics.prepare_multiprocess(kernel.config.instance_path / "metrics")

    def post_fork(_server: Any, _worker: Any) -> None:
        # Connections must not be shared across processes; each worker opens its own and
        # starts its own delivery thread (if any) after the fork.
        kernel.db.engine.dispose(close=False)
        kernel.bus.after_fork()

    _Gunicorn(
        app,
        {
            **_supported(control_socket_options(app)),
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread" if threads > 1 else "sync",
            "threads": threads,
            "timeout": timeout,
            "accesslog": None if logs.json_mode() else "-",  # JSON: core.logs' line instead
            "errorlog": "-",
            "post_fork": post_fork,
            "child_exit": lambda _server, worker: metrics.mark_process_dead(worker.pid),
            "preload_app": True,
        },
    ).run()


def _supported(options: dict[str, Any]) -> dict[str, Any]:
    """Only the settings this gunicorn knows (the control socket arrived in gunicorn 23)."""
    from gunicorn.config import KNOWN_SETTINGS

    known = {setting.name for setting in KNOWN_SETTINGS}
    return {key: value for key, value in options.items() if key in known}
