"""Documents attached to an application: checked by content (PDF, JPEG, PNG) and size,
stored outside the web root under a random name.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core.toolkit import N_
from plugins.gov_services.models import Application, Attachment
from plugins.gov_services.services.context import Gov
from plugins.gov_services.services.material import item_keys
from plugins.gov_services.services.vocabulary import (
    CLOSED_STATES,
    GovError,
    TransitionError,
    clock,
)

ALLOWED_TYPES = {
    "application/pdf": (b"%PDF",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}
EXTENSIONS = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}


def attachment_dir(instance_path: str | Path) -> Path:
    return Path(instance_path) / "gov_services" / "attachments"


def add_attachment(
    session: Session,
    g: Gov,
    app: Application,
    *,
    document: str,
    filename: str,
    data: bytes,
    actor: Any,
    instance_path: str | Path,
) -> Attachment:
    """Store a file outside the web root after checking its type by content (PDF, JPEG,
    PNG) and its size against ``max_attachment_kb``. ``document`` is one of the service's
    documents or, while material is asked for, an item of that list (an "other" item
    too), so each file is filed under the name it was asked for."""
    service = g.service(app.service_code)
    allowed = [d["code"] for d in service.documents]
    if app.state == "needs_material":  # the items of the 补正 list, "other" ones included
        allowed += item_keys(service, app)
    if document not in allowed:
        raise GovError(N_("This service does not ask for that document."), "document")
    if app.state in CLOSED_STATES:
        raise TransitionError(N_("The case is closed."), "state")
    limit = int(g.settings.get("max_attachment_kb", 5120)) * 1024
    if not data:
        raise GovError(N_("The file is empty."), f"doc_{document}")
    if len(data) > limit:
        raise GovError(
            N_("The file is larger than %(kb)s KB."), f"doc_{document}", kb=limit // 1024
        )
    content_type = next(
        (t for t, magics in ALLOWED_TYPES.items() if any(data.startswith(m) for m in magics)), None
    )
    if content_type is None:
        raise GovError(N_("Attach a PDF, JPEG or PNG file."), f"doc_{document}")
    stored = secrets.token_hex(16) + EXTENSIONS[content_type]
    folder = attachment_dir(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / stored).write_bytes(data)
    safe_name = "".join(c for c in Path(filename or "file").name if c.isprintable())[:200]
    att = Attachment(
        application=app,
        document=document,
        filename=safe_name or "file",
        content_type=content_type,
        size=len(data),
        stored_as=stored,
        uploaded_by_id=getattr(actor, "id", None),
        uploaded_at=clock(),  # the workflow's clock: ticked against the 补正 asked before
    )
    session.add(att)
    session.flush()
    return att
