"""What a channel is: one way out for a message (SMS provider, mail server, the log).

A channel's ``send(message)`` delivers one :class:`~core.identity.models.OutboundMessage`
and returns the provider's id for it (an SMTP Message-ID, Aliyun's BizId), or raises
:class:`ChannelError` (or any exception) when it did not: the sender then lets the event
bus retry, and records the error once the last attempt failed. ``None`` means "nobody took
it" (the ``hook`` channel with no gateway plugin): the message stays ``recorded``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


class ChannelError(Exception):
    """A provider refused or could not be reached; the message says which and why (it is
    shown to administrators on the messages page, so it never carries a secret)."""


@runtime_checkable
class Channel(Protocol):
    #: Recorded as the message's ``sent_by`` (with the provider's id).
    name: str

    def send(self, message: Any) -> str | None:
        """Deliver ``message``; return the provider's id, or None when nobody took it."""
        ...
