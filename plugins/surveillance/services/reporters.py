"""A resident reporter's personal data in an incident: how staff see their name, the
report photo, and the person link after a registry merge.

Separate because every function here touches a person: each display goes into the
reporter's access log, so it is written once, next to the masking rule.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.toolkit import (
    N_,
    RegistryError,
    ScopeError,
    account_view,
    log_person_access,
    mask_name,
    registry_reader,
)
from plugins.surveillance.models import Incident
from plugins.surveillance.services.places import PLUGIN, SurveillanceError

# ------------------------------------------------------------------------------ reporters


@dataclass(frozen=True)
class Reporter:
    """How a viewer sees an incident's reporter: ``name`` masked unless ``full``; the
    ``phone`` (from the registry, in full) only when ``full`` — to call them back."""

    name: str
    full: bool
    person_id: int | None
    phone: str = ""


def reporter_in_full(incident: Incident, viewer: Any) -> bool:
    """The one step that needs the reporter's full name and phone: the officer or grid
    worker the incident is dispatched to, while it is dispatched (they may have to find
    or call back the person who reported it — what the report form promises). Everyone
    else — the rest of the desk, admins, the API list — sees
    the family name and stars."""
    viewer_id = getattr(getattr(viewer, "actor", None) or viewer, "id", None)
    return (
        viewer_id is not None
        and incident.status == "dispatched"
        and incident.assignee_id == viewer_id
    )


def reporter_view(
    session: Session, incident: Incident, viewer: Any, *, purpose: str = "", facts: Any = None
) -> Reporter | None:
    """The reporter of a resident's incident as ``viewer`` may see them, from the account
    (toolkit ``account_view``; the incident keeps only ids). Each display to staff is
    written to the reporter's access log (their registry person), masked or in full —
    so call it exactly where the name is shown."""
    if not incident.reporter_id:
        return None
    account = account_view(session, incident.reporter_id)
    if account is None:
        return None
    full = reporter_in_full(incident, viewer)
    shown = account.name if full else mask_name(account.name)
    person_id = incident.reporter_person_id or account.person_id
    if person_id and viewer is not None:
        log_person_access(
            session,
            person_id=person_id,
            fields=["name"],
            purpose=purpose or f"incident #{incident.id}: reporter",
            plugin=PLUGIN,
            actor=viewer,
            masked=not full,
            facts=facts,
        )
    phone = _reporter_phone(session, person_id, viewer, incident) if full and person_id else ""
    return Reporter(name=shown, full=full, person_id=person_id, phone=phone)


def _reporter_phone(session: Session, person_id: int, viewer: Any, incident: Incident) -> str:
    """The reporter's registered phone, read for the dispatched officer through the
    registry reader with this step's grant (the reader writes it, in full, to the
    reporter's access log under the officer's name). The reporter may live outside the
    officer's places: the grant is the dispatch, not the place. ``""`` when the registry
    has no number or no longer holds the person."""
    reader = registry_reader(
        session, PLUGIN, actor=viewer, purpose=f"incident #{incident.id}: call the reporter back",
        enforce_place=False, grant=("phone",),
    )
    try:
        person = reader.person(person_id, reveal=["phone"])
    except (ScopeError, RegistryError):
        return ""
    return str(person.get("phone") or "")


# ------------------------------------------------------------------------------ photos

PHOTO_TYPES = {b"\xff\xd8\xff": ("image/jpeg", "jpg"), b"\x89PNG\r\n\x1a\n": ("image/png", "png")}


def media_dir(instance_path: str, configured: str = "") -> Path:
    """Where incident photos are kept: outside the web root (the instance folder by
    default), never under a static path."""
    path = Path(configured) if configured else Path(instance_path) / "surveillance_media"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_photo(incident: Incident, data: bytes, directory: Path, *, max_bytes: int) -> None:
    """Keep a JPEG or PNG (decided by its first bytes, not its name) up to ``max_bytes``,
    under a random name."""
    if len(data) > max_bytes:
        raise SurveillanceError(
            N_("The photo is larger than %(size)s MB."),
            "photo",
            size=round(max_bytes / 1_048_576, 1),
        )
    found = next((kind for magic, kind in PHOTO_TYPES.items() if data.startswith(magic)), None)
    if found is None:
        raise SurveillanceError(N_("Send a JPEG or PNG photo."), "photo")
    ctype, ext = found
    name = f"{uuid.uuid4().hex}.{ext}"
    (directory / name).write_bytes(data)
    incident.photo_path = name
    incident.photo_type = ctype


def log_photo_view(session: Session, incident: Incident, viewer: Any, *, facts: Any = None
                   ) -> None:
    """A resident's report photo shown to staff is a display of that resident's report:
    it goes into their access log like their name does."""
    if incident.source == "resident" and incident.reporter_person_id and viewer is not None:
        log_person_access(
            session,
            person_id=incident.reporter_person_id,
            fields=["photo"],
            purpose=f"incident #{incident.id}: report photo",
            plugin=PLUGIN,
            actor=viewer,
            masked=False,
            facts=facts,
        )


def photo_file(incident: Incident, directory: Path) -> Path | None:
    if not incident.photo_path:
        return None
    path = directory / os.path.basename(incident.photo_path)
    return path if path.is_file() else None


def on_person_merged(event: Any, session: Session) -> None:
    """Subscriber of ``registry.person.merged``: reports made by the duplicate now belong
    to the surviving person, so footage opened for them lands in the right person's
    access log. Idempotent (a second run finds nothing to move)."""
    payload = event.payload
    for incident in session.scalars(
        select(Incident).where(Incident.reporter_person_id == payload["duplicate_id"])
    ):
        incident.reporter_person_id = payload["person_id"]
