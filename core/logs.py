"""Structured logs: ``[logging] format = "json"`` writes one JSON object per line to stderr.

In JSON mode every request gets one line (``"event": "request"``: request id, account id,
endpoint, method, status, duration in ms) and every periodic job run one line
(``"event": "job"``, from core.jobs), and every other log record of the process is a JSON
line too, so a log shipper needs one parser. Lines carry no personal data: the account is
its numeric id, the URL is the Flask endpoint name (never the path or the query string,
which may hold a name or an ID number), and there is no client address.

The request id is the one ``core.requestid`` gives the request, sent back to the client as
the ``X-Request-ID`` response header and shown on error pages and in API error bodies, so
a resident's complaint ("请求编号 …") finds its line.

``text`` (the default) leaves logging as it was: gunicorn's access log on stdout and plain
messages. Foundation-layer: it reads the account from Flask-Login's ``current_user`` by
duck-typing, so it imports no area of core.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

request_log = logging.getLogger("shequ.request")
_installed: dict[str, Any] = {}

#: Attributes every ``LogRecord`` has; anything else was passed in ``extra=``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the
    ``extra=`` fields, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (gunicorn and pytest both replace it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(settings: dict[str, Any]) -> None:
    """Install the JSON handler on the root logger (once per process) when asked for."""
    if settings.get("format") != "json":
        return
    level = getattr(logging, settings.get("level", "INFO"))
    handler = _installed.get("handler")
    if handler is None:
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        root = logging.getLogger()
        root.addHandler(handler)
        _installed["handler"] = handler
    logging.getLogger().setLevel(level)


def reset() -> None:
    """Remove the JSON handler (tests that switched JSON mode on, in one process)."""
    handler = _installed.pop("handler", None)
    if handler is not None:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)


def json_mode() -> bool:
    return "handler" in _installed


def _account_id() -> int | None:
    try:
        from flask_login import current_user

        if getattr(current_user, "is_authenticated", False):
            account = getattr(current_user, "account", None)
            return getattr(account, "id", None)
    except Exception:  # a request without the login manager (a bare app in a test)
        return None
    return None


def init_app(app: Any, kernel: Any) -> None:
    """Send ``X-Request-ID`` on every response; in JSON mode, log one line per request."""
    from flask import g, request

    from core.requestid import request_id

    settings = kernel.config.logging
    configure(settings)
    as_json = settings.get("format") == "json"

    def start() -> None:
        g.shequ_log_started = time.perf_counter()

    def finish(response: Any) -> Any:
        rid = request_id()
        response.headers.setdefault("X-Request-ID", rid)
        started = g.pop("shequ_log_started", None)
        if as_json and started is not None:
            request_log.info(
                "request",
                extra={
                    "event": "request",
                    "request_id": rid,
                    "user_id": _account_id(),
                    "endpoint": request.endpoint or "unmatched",
                    "method": request.method,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
        return response

    app.before_request_funcs.setdefault(None, []).insert(0, start)
    app.after_request(finish)


__all__ = ["JsonFormatter", "configure", "init_app", "json_mode", "reset"]
