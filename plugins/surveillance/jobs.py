"""The plugin's periodic jobs (``register_jobs``): run by ``shequ worker`` on a clock, and
by ``shequ surveillance check|purge`` on demand. Both are idempotent: offline alerts are
deduplicated by a unique key, and a purge removes only what is past retention."""

from __future__ import annotations

from typing import Any

from core.toolkit import current_kernel, plugin_settings


def check(app: Any) -> str:
    """Mark silent cameras offline (one maintenance alert per outage) and evaluate the
    time-based rules (unacknowledged incidents, cameras offline in an area)."""
    from plugins.surveillance.services import check as run_check

    with app.app_context():
        kernel = current_kernel()
        minutes = plugin_settings("surveillance", app)["offline_after_minutes"]
        with kernel.db.session_scope() as session:
            result = run_check(session, kernel.bus, offline_after_minutes=minutes)
    return f"cameras gone offline: {result.went_offline}; alerts raised: {result.alerts}"


def purge(app: Any) -> str:
    """Delete footage references and photos past retention, except under legal hold, and
    erase the reporter of resident reports closed longer than the retention period."""
    from plugins.surveillance.services import media_dir
    from plugins.surveillance.services import purge as run_purge

    with app.app_context():
        kernel = current_kernel()
        settings = plugin_settings("surveillance", app)
        directory = media_dir(app.instance_path, settings["media_dir"])
        with kernel.db.session_scope() as session:
            run = run_purge(
                session, retention_days=settings["retention_days"], directory=directory
            )
            counts = (run.clips_purged, run.media_purged, run.held, run.reports_erased)
    clips, media, held, erased = counts
    return (
        f"purged {clips} footage references and {media} photos "
        f"older than {settings['retention_days']} days; {held} held for open incidents; "
        f"{erased} closed reports' reporters erased"
    )
