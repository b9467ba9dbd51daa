"""The id of the current request, for error bodies, error pages and the logs.

Why a module of its own: the API's error format (``core.api``), the web shell's error pages
(``core.web``) and the audit log's request facts (``core.audit``) all quote it, and the
audit layer sits below the web and API layers; one small module at the bottom lets each of
them import it without importing the others (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import uuid

from flask import g, request


def request_id() -> str:
    """The client's ``X-Request-ID`` when it is a plausible id (8–64 letters and digits),
    otherwise a fresh one; the same value for the rest of the request."""
    if "request_id" not in g:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = (
            incoming if 8 <= len(incoming) <= 64 and incoming.isalnum() else uuid.uuid4().hex
        )
    return g.request_id


__all__ = ["request_id"]
