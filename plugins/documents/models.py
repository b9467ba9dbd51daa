"""The plugin's tables. Their names start with the plugin id, so the ``documents`` migration
tree owns them and no other tree touches them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.toolkit import Base, UTCDateTime, utcnow


class Document(Base):
    """One issued document: what it states (the canonical statement, without the
    applicant's name, which stays in the registry and is read masked when shown) and the
    Ed25519 signature over the full statement. One per application and kind."""

    __tablename__ = "documents_document"
    __table_args__ = (UniqueConstraint("application_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The public verification code (in the QR code and the URL): random, unguessable.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    #: ``receipt`` (受理回执), ``decision`` (决定书) or ``certificate`` (证明).
    kind: Mapped[str] = mapped_column(String(20))
    application_id: Mapped[int] = mapped_column(Integer, index=True)
    #: The application's state the document states: accepted, approved, rejected, ...
    outcome: Mapped[str] = mapped_column(String(20))
    service_code: Mapped[str] = mapped_column(String(60), index=True)
    reference: Mapped[str] = mapped_column(String(40), default="", index=True)
    #: The registry person the document is about, by id only.
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    #: The person's community when issued: staff see documents within their places.
    community: Mapped[str | None] = mapped_column(String(12), index=True)
    #: The canonical statement as JSON, without ``applicant`` (see the class docstring).
    statement: Mapped[str] = mapped_column(Text)
    #: Base64 of the Ed25519 signature over the full canonical statement.
    signature: Mapped[str] = mapped_column(String(100))
    #: The per-document random salt of the v2 name commitment (32 hex digits), printed on
    #: the PDF; the commitment itself is computed from the registry's name when needed,
    #: never stored. None for v1 documents.
    name_salt: Mapped[str | None] = mapped_column(String(32))
    #: The signing key's id (first 16 hex digits of SHA-256 of the public key).
    key_id: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str] = mapped_column(Text, default="")
    revoked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
