"""The development channel: messages go to the log, not to a phone or a mailbox.

``make run`` shows them (logger ``shequ.messages``, WARNING), so a developer can read a
sign-up code without an SMS account. The last :data:`KEEP` messages are also kept in this
process's memory (:func:`sent`), which ``core.testing.last_code`` reads once the outbox has
blanked a sent code. Production refuses this channel (``core.config.messaging_problems``):
it writes codes in clear to the log.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

log = logging.getLogger("shequ.messages")
KEEP = 200
_SENT: deque[dict[str, Any]] = deque(maxlen=KEEP)
_LOCK = threading.Lock()


class ConsoleChannel:
    name = "console"

    def send(self, message: Any) -> str:
        item = {
            "channel": message.channel,
            "recipient": message.recipient,
            "subject": message.subject,
            "body": message.body,
            "template": message.template,
            "params": dict(message.params or {}),
        }
        with _LOCK:
            _SENT.append(item)
            number = len(_SENT)
        log.warning("%s to %s: %s | %s", message.channel, message.recipient,
                    message.subject, message.body)
        return f"log-{message.id or number}"


def sent() -> list[dict[str, Any]]:
    """The messages this process wrote to the log, oldest first (at most :data:`KEEP`):
    dicts with channel, recipient, subject, body, template and params."""
    with _LOCK:
        return [dict(item) for item in _SENT]


def clear() -> None:
    """Forget the kept messages (tests that count what was sent)."""
    with _LOCK:
        _SENT.clear()
