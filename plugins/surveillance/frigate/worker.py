"""The long-running MQTT subscriber behind ``shequ surveillance frigate``.

Delivery guarantees, and what gives them:

* **QoS 1 and a persistent session** (MQTT v5, ``clean_start`` off, a session expiry of
  ``session_expiry_seconds``): the broker keeps the subscription and queues what Frigate
  publishes while the worker is away (a restart, a network cut) and sends it on
  reconnection.
* **Acknowledged after commit** (paho's ``manual_ack``): a message is acknowledged only
  once its incident (or problem) is committed, or it is definitely ignored. A database
  failure is retried a few times; if it persists the message stays unacknowledged and the
  broker delivers it again after the next reconnection. Redeliveries and Frigate's own
  update/end messages are absorbed by the ingest's idempotency, so at-least-once delivery
  still makes one incident per Frigate id.
* **Reconnect with back-off** (paho's ``loop_forever`` with ``reconnect_delay_set``:
  ``reconnect_min_seconds`` doubling up to ``reconnect_max_seconds``), with a log line for
  every connection, refusal and loss.
* **Never crashes on a message**: whatever a message holds, the worker goes on.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from core.toolkit import current_kernel, find_account, plugin_settings
from plugins.surveillance.frigate.ingest import IngestAccount, handle
from plugins.surveillance.frigate.mapping import topics

log = logging.getLogger("shequ.surveillance.frigate")

INGEST = "surveillance.incident.ingest"


class FrigateSetupError(Exception):
    """The worker cannot start: the message says what to configure."""


class FrigateWorker:
    """Subscribe to Frigate's topics and ingest every message; :meth:`run` blocks until
    :meth:`stop` (or Ctrl+C / SIGTERM in the command).

    ``counts`` holds ``received`` and one counter per outcome (``created``,
    ``repeated``, ``problem``, ``refused``, ``ignored:<reason>``, ``failed``);
    ``connections`` counts successful (re)connections; ``subscribed`` is set once the
    subscription is acknowledged after each connection (tests wait for it)."""

    def __init__(self, app: Any, settings: dict[str, Any] | None = None, *,
                 say: Callable[[str], None] | None = None, attempts: int = 3,
                 report_seconds: float = 600.0) -> None:
        self.app = app
        self.settings = settings if settings is not None else plugin_settings(
            "surveillance", app)["frigate"]
        self.say = say or log.info
        self.attempts = attempts
        self.report_seconds = report_seconds
        self._reported_at = time.monotonic()
        self.counts: Counter[str] = Counter()
        self.connections = 0
        self.disconnections = 0
        self.subscribed = threading.Event()
        self.account = self._resolve_account()
        self._stopping = False
        self._client = self._build_client()

    # ------------------------------------------------------------------ set-up

    def _resolve_account(self) -> IngestAccount:
        """The account to ingest as: configured, active, and granted the ingest
        permission by one of its roles — the same bar as an analytics token."""
        name = self.settings["account"]
        if not name:
            raise FrigateSetupError(
                "set [plugins.surveillance.frigate] account to the account the incidents are "
                "ingested as (a security officer or an analytics account holding "
                f"{INGEST}, with place assignments covering the cameras)")
        with self.app.app_context():
            kernel = current_kernel()
            with kernel.db.session_scope() as session:
                view = find_account(session, name)
            roles = kernel.roles
        if view is None or not view.is_active:
            raise FrigateSetupError(f"account {name!r} does not exist or is not active")
        if not any(INGEST in roles.get(role, ()) for role in view.roles):
            raise FrigateSetupError(
                f"account {name!r} lacks {INGEST} (give it the security_officer role, or a "
                "role granting it)")
        return IngestAccount.of(view)

    def _build_client(self) -> Any:
        from paho.mqtt import client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        s = self.settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s["client_id"],
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if s["username"]:
            client.username_pw_set(s["username"], s["password"] or None)
        if s["tls"]:
            client.tls_set(ca_certs=s["tls_ca_file"] or None, cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(s["reconnect_min_seconds"], s["reconnect_max_seconds"])
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = s["session_expiry_seconds"]
        self._connect_props = props
        return client

    @property
    def where(self) -> str:
        return f"{self.settings['host']}:{self.settings['port']}"

    # ------------------------------------------------------------------ running

    def run(self) -> None:
        """Connect (retrying until the broker answers) and process messages until
        :meth:`stop`."""
        self.say(f"frigate: connecting to {self.where} as {self.settings['client_id']!r}, "
                 f"topics {', '.join(topics(self.settings))}, ingesting as "
                 f"{self.account.username!r}")
        self._client.connect_async(
            self.settings["host"], self.settings["port"],
            keepalive=self.settings["keepalive_seconds"],
            clean_start=False, properties=self._connect_props,
        )
        self._client.loop_forever(retry_first_connection=True)
        self.say(f"frigate: stopped; {self.summary()}")

    def stop(self) -> None:
        """End :meth:`run` (from a signal handler or another thread)."""
        self._stopping = True
        self._client.disconnect()

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "no messages"

    # ------------------------------------------------------------------ callbacks

    def _on_connect(self, client: Any, _userdata: Any, flags: Any, reason: Any,
                    _props: Any) -> None:
        if reason.is_failure:
            self.say(f"frigate: broker {self.where} refused the connection: {reason}; "
                     "retrying with back-off")
            return
        self.connections += 1
        again = "reconnected" if self.connections > 1 else "connected"
        self.say(f"frigate: {again} to {self.where} (session present: "
                 f"{bool(flags.session_present)}); subscribing, QoS 1")
        self.subscribed.clear()
        client.subscribe([(topic, 1) for topic in topics(self.settings)])

    def _on_connect_fail(self, _client: Any, _userdata: Any) -> None:
        self.say(f"frigate: cannot reach {self.where}; retrying with back-off "
                 f"(up to {self.settings['reconnect_max_seconds']} s)")

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any,
                       _props: Any) -> None:
        self.subscribed.clear()
        if self._stopping:
            return
        self.disconnections += 1
        self.say(f"frigate: lost the connection to {self.where} ({reason}); reconnecting "
                 "with back-off")

    def _on_subscribe(self, _client: Any, _userdata: Any, _mid: int, reasons: list[Any],
                      _props: Any) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            self.say(f"frigate: the broker refused the subscription ({', '.join(refused)}); "
                     "check the account's topic permissions")
            return
        self.subscribed.set()

    def _on_message(self, client: Any, _userdata: Any, message: Any) -> None:
        outcome = self.process(message.topic, message.payload)
        if outcome is not None:
            client.ack(message.mid, message.qos)
        if time.monotonic() - self._reported_at >= self.report_seconds:
            self._reported_at = time.monotonic()
            self.say(f"frigate: so far {self.summary()}")

    # ------------------------------------------------------------------ one message

    def process(self, topic: str, payload: bytes) -> str | None:
        """Ingest one message in its own transaction; ``None`` when the database kept
        failing (the message is then left unacknowledged)."""
        self.counts["received"] += 1
        kernel = None
        for attempt in range(1, self.attempts + 1):
            try:
                with self.app.app_context():
                    kernel = kernel or current_kernel()
                    with kernel.db.session_scope() as session:
                        outcome = handle(session, kernel.bus, self.account, self.settings,
                                         topic, payload)
            except Exception:  # a database restart, a deadlock: retry, never crash
                log.exception("frigate: message on %s failed (attempt %s of %s)", topic,
                              attempt, self.attempts)
                if attempt < self.attempts:
                    time.sleep(min(2.0 ** (attempt - 1), 10.0))
                continue
            self.counts[outcome] += 1
            log.debug("frigate: message on %s: %s", topic, outcome)
            return outcome
        self.counts["failed"] += 1
        self.say(f"frigate: a message on {topic} could not be recorded; it stays "
                 "unacknowledged and the broker sends it again after the next reconnection")
        return None
