"""``/healthz``: what a load balancer and an operator need to know, in one JSON document."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from core.current import current_kernel

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz() -> Response:
    """200 when the node can serve (database up, migrations applied, the bus healthy),
    else 503 with Retry-After: a balancer takes it out of rotation until then."""
    kernel = current_kernel()
    checks: dict[str, dict] = {}
    ok = True
    try:
        with kernel.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True, "dialect": kernel.db.dialect}
    except Exception as exc:  # the point is to report, not to raise
        ok = False
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    if checks["database"]["ok"]:
        from core import migrate

        try:
            pending = migrate.pending(kernel.db.engine, migrate.trees_for(kernel.plugins))
            checks["migrations"] = {"ok": not pending, "pending": pending}
            ok = ok and not pending
        except Exception as exc:
            ok = False
            checks["migrations"] = {"ok": False, "error": type(exc).__name__}
        if checks["migrations"]["ok"]:
            try:
                checks["events"] = kernel.bus.health()
            except Exception as exc:
                checks["events"] = {"ok": False, "error": type(exc).__name__}
            ok = ok and checks["events"]["ok"]
    failed = [r.id for r in kernel.plugins.failed]
    # A failed optional plugin (plugins.strict = false) degrades the service but does not
    # make the node unhealthy: taking it out of rotation would stop every other service.
    checks["plugins"] = {"ok": not failed, "loaded": kernel.plugins.order, "failed": failed}
    if kernel.config.backup.get("enabled"):
        # Reported, never a 503: a failed backup is for the operator, not the balancer.
        from core.metrics import backup_status

        last = backup_status(kernel) or {}
        checks["backup"] = {"ok": bool(last.get("ok")), "last_file": last.get("last_file"),
                            "last_success_at": last.get("last_success_at"),
                            "error": last.get("error") or None}
    status = ("degraded" if failed else "ok") if ok else "unhealthy"
    resp = jsonify({"status": status, "checks": checks})
    resp.status_code = 200 if ok else 503
    if not ok:
        resp.headers["Retry-After"] = "30"
    return resp
