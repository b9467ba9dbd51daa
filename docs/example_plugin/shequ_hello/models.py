"""The plugin's one table. Its name starts with the plugin id, so the ``hello`` migration
tree owns it and no other tree ever touches it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.toolkit import Base, UTCDateTime, utcnow


class Greeting(Base):
    __tablename__ = "hello_greeting"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The account that sent it; kept (as NULL) if that account is deleted.
    sender_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL"), index=True
    )
    recipient: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Set by the ``hello.greeting.sent`` handler once the event was delivered.
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
