"""The plugin's tables. Their names start with the plugin id, so the ``documents`` migration
tree owns them and no other tree touches them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.toolkit import Base, UTCDateTime, utcnow


class DocumentsItem(Base):
    __tablename__ = "documents_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    #: The registry person the item concerns, by id only: names, phones and addresses
    #: stay in the registry and are read through toolkit.registry_reader when shown.
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    #: The person's community code, kept in step by the registry.person.moved subscriber.
    community: Mapped[str | None] = mapped_column(String(12), index=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
