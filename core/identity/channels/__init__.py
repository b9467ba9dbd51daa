"""The ways a message leaves Shequ, chosen per medium by ``[messaging] sms`` and ``email``.

=========== ======================================================================
``console``  the log and this process's memory (development; refused in production)
``smtp``     e-mail through an SMTP server (:mod:`.smtp`)
``aliyun``   SMS through Aliyun's SMS service and its official SDK (:mod:`.aliyun`)
``hook``     the first ``send_message`` plugin that takes the medium (:mod:`.hook`)
``none``     nothing is sent; the message stays ``recorded`` on the admin page
=========== ======================================================================

Every channel has the same shape (:class:`~.base.Channel`): ``send(message)`` returns the
provider's id or raises. The outbox sender (``core.identity.notifications.make_sender``)
does the rest: expiry, rate limits, retries, status, masking codes.
"""

from __future__ import annotations

from typing import Any

from core.identity.channels.base import Channel, ChannelError


def channel_for(config: Any, host: Any, medium: str) -> Channel | None:
    """The channel configured for ``medium`` (``sms`` or ``email``); None for ``none``."""
    settings = config.messaging
    kind = settings[medium]
    if kind == "none":
        return None
    if kind == "console":
        from core.identity.channels.console import ConsoleChannel

        return ConsoleChannel()
    if kind == "hook":
        from core.identity.channels.hook import HookChannel

        return HookChannel(host)
    if kind == "smtp" and medium == "email":
        from core.identity.channels.smtp import SmtpChannel

        return SmtpChannel(settings["smtp"], settings["sender_name"])
    if kind == "aliyun" and medium == "sms":
        from core.identity.channels.aliyun import AliyunSmsChannel

        return AliyunSmsChannel(settings["aliyun"], settings["sender_name"])
    raise ChannelError(f"channel {kind!r} cannot send {medium}")


__all__ = ["Channel", "ChannelError", "channel_for"]
