"""gunicorn, embedded: ``shequ run`` serves the very app object it built and checked."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


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


def serve(app: Flask, *, host: str, port: int, workers: int, timeout: int = 30) -> None:
    kernel = app.extensions["shequ"]

    def post_fork(_server: Any, _worker: Any) -> None:
        # Connections must not be shared across processes; each worker opens its own and
        # starts its own delivery thread (if any) after the fork.
        kernel.db.engine.dispose(close=False)
        kernel.bus.after_fork()

    _Gunicorn(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "sync",
            "timeout": timeout,
            "accesslog": "-",
            "errorlog": "-",
            "post_fork": post_fork,
            "preload_app": True,
        },
    ).run()
