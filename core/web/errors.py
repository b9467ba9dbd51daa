"""Friendly error pages: a plain explanation and a request id, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from flask import render_template
from werkzeug.exceptions import HTTPException

from core.requestid import request_id

log = logging.getLogger("shequ.web")
_FALLBACK = (
    '<!doctype html><html lang="zh-CN"><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>{status}</title><h1>出错了 / Something went wrong ({status})</h1>"
    "<p>请稍后再试。/ Please try again later.</p><p>Ref: <code>{rid}</code></p></html>"
)


def page_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    resp = exc.get_response()
    rid = request_id()
    try:
        body = render_template("errors/error.html", status=status, request_id=rid)
    except Exception:
        # The error page itself failed (a broken template, the database gone): answer
        # with plain, static HTML rather than let a second traceback escape.
        log.exception("error page failed to render (request %s)", rid)
        body = _FALLBACK.format(status=status, rid=rid)
    headers = {k: v for k, v in resp.headers.items() if k.lower() in ("allow", "retry-after")}
    headers["X-Request-ID"] = rid
    return body, status, headers
