"""The public verification's rate limit (page and API together): ``verify_per_minute``
per client address, counted with the toolkit's :func:`throttle_wait` in the app's limiter
storage — Redis when ``[limits] storage_uri`` names it, so the count holds across every
gunicorn worker (a per-process window let each worker count its own). Codes are 64
random bits, so guessing is hopeless anyway; the limit bounds scraping and name checks."""

from __future__ import annotations

from core.toolkit import plugin_settings, throttle_wait

PLUGIN = "documents"


def verify_wait(client: str) -> int:
    """Count one verification by ``client``: 0 when it may go ahead, else the seconds to
    wait (nothing counted then). Needs an app context."""
    per_minute = plugin_settings(PLUGIN)["verify_per_minute"]
    return throttle_wait(f"{per_minute} per minute", "documents-verify", client)
