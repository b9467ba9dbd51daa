"""The plugin's periodic jobs (``register_jobs``): run by ``shequ worker`` on a clock, and
by ``shequ surveillance check|purge`` on demand. Both are idempotent: offline alerts are
deduplicated by a unique key, and a purge removes only what is past retention."""

from __future__ import annotations

from typing import Any


def check(app: Any) -> str:
    """Mark silent cameras offline (one maintenance alert per outage) and evaluate the
    time-based rules (unacknowledged incidents, cameras offline in an area)."""
    from plugins.surveillance.services import check as run_check

    kernel = app.extensions["shequ"]
    minutes = kernel.plugins.settings("surveillance")["offline_after_minutes"]
    with kernel.db.session_scope() as session:
        result = run_check(session, kernel.bus, offline_after_minutes=minutes)
    return f"cameras gone offline: {result.went_offline}; alerts raised: {result.alerts}"


def purge(app: Any) -> str:
    """Delete footage references and photos past retention, except under legal hold."""
    from plugins.surveillance.services import media_dir
    from plugins.surveillance.services import purge as run_purge

    kernel = app.extensions["shequ"]
    settings = kernel.plugins.settings("surveillance")
    directory = media_dir(app.instance_path, settings["media_dir"])
    with kernel.db.session_scope() as session:
        run = run_purge(session, retention_days=settings["retention_days"], directory=directory)
    return (
        f"purged {run.clips_purged} footage references and {run.media_purged} photos "
        f"older than {settings['retention_days']} days; {run.held} held for open incidents"
    )
