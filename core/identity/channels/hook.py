"""The ``hook`` channel: the message goes to the first plugin whose ``send_message`` hook
takes its medium (core/hookspecs.py) — the extension point for gateways core does not
ship (Tencent Cloud SMS, a government SMS platform, an internal mail relay)."""

from __future__ import annotations

from typing import Any


class HookChannel:
    name = "hook"

    def __init__(self, host: Any) -> None:
        self.host = host

    def send(self, message: Any) -> str | None:
        """The id of the plugin that sent it, or None when no plugin took the medium (the
        message then stays ``recorded``). A plugin that raises fails the attempt."""
        for pid, call in self.host.each_impl("send_message"):
            taken = call(channel=message.channel, recipient=message.recipient,
                         subject=message.subject, body=message.body)
            if taken:
                return str(pid)
        return None
