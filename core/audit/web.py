"""Request facts for the logs, taken from the current request when there is one."""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context, request


def request_facts() -> dict[str, Any]:
    if not has_request_context():
        return {}
    from core.requestid import request_id

    return {
        "ip": request.remote_addr or "",
        "user_agent": (request.user_agent.string or "")[:200],
        "request_id": request_id(),
        "on_behalf_of_id": g.get("on_behalf_of_id"),
    }
