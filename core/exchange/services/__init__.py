"""Exchange rules: clients, scoped payloads, signed webhooks, the pull feed, fact queries.

Plain functions over a session (no Flask), called alike by the pages, the API, the CLI and
the bus handlers. The package is split along its seams, and every name is re-exported
here, so callers keep ``from core.exchange import services`` and ``services.create_client``:

* :mod:`.clients` — registering a client, its grants, suspension, secret and token;
* :mod:`.disclosure` — what may leave for a client (:func:`envelope_for`), the access-log
  record that it left, the pull feed and the fact queries;
* :mod:`.webhooks` — queueing on the event bus, sending under the network policy,
  redelivery and replay;
* :mod:`.signing` — the webhook signature (the receiver's reference implementation);
* :mod:`.errors` — :class:`ExchangeError` (a :class:`core.rules.RuleError`) and
  :class:`WebhookError`.

Webhooks ride on the event bus: a subscriber on ``*`` creates one
:class:`~core.exchange.models.ExchangeDelivery` per client and event, each with its own
``core.webhook.queued`` outbox event; the ``core:exchange_webhook`` subscriber sends it.
Retries with back-off, dead letters and their retry are therefore the bus's.
"""

from __future__ import annotations

from core.exchange.models import ExchangeClient, ExchangeDelivery  # the rules' subjects, as before
from core.exchange.services.clients import (
    ROTATION_GRACE_HOURS,
    SECRET_PREFIX,
    TOKEN_PREFIX,
    client_by_name,
    client_for_token,
    create_client,
    event_scope,
    grant_backfill,
    list_clients,
    offered_event_types,
    offered_scopes,
    resume_client,
    rotate_secret,
    rotate_token,
    suspend_client,
    update_client,
)
from core.exchange.services.disclosure import (
    FACTS,
    FEED_MAX_LIMIT,
    FEED_SCAN,
    VIA,
    actor_name,
    answer_fact,
    disclosure_purpose,
    envelope_for,
    feed_page,
    log_accesses,
    log_disclosure,
)
from core.exchange.services.errors import (
    N_,
    ExchangeError,
    WebhookError,
)
from core.exchange.services.signing import (
    SIGNATURE_TOLERANCE_SECONDS,
    sign,
    signature_header,
    verify,
)
from core.exchange.services.webhooks import (
    ADDRESS_REFUSED,
    FAN_OUT_SUBSCRIBER,
    NETWORK_ERROR,
    QUEUED_EVENT,
    WEBHOOK_SUBSCRIBER,
    WEBHOOK_SUBSCRIBER_ID,
    WEBHOOK_TIMEOUT,
    DeliveryView,
    WebhookQueued,
    ensure_subscribed,
    fan_out_event,
    list_deliveries,
    network_policy,
    post,
    queue,
    redeliver,
    replay,
    send_webhook,
    set_network_policy,
)

__all__ = [
    "ADDRESS_REFUSED",
    "FACTS",
    "FAN_OUT_SUBSCRIBER",
    "FEED_MAX_LIMIT",
    "FEED_SCAN",
    "NETWORK_ERROR",
    "N_",
    "QUEUED_EVENT",
    "ROTATION_GRACE_HOURS",
    "SECRET_PREFIX",
    "SIGNATURE_TOLERANCE_SECONDS",
    "TOKEN_PREFIX",
    "VIA",
    "WEBHOOK_SUBSCRIBER",
    "WEBHOOK_SUBSCRIBER_ID",
    "WEBHOOK_TIMEOUT",
    "DeliveryView",
    "ExchangeClient",
    "ExchangeDelivery",
    "ExchangeError",
    "WebhookError",
    "WebhookQueued",
    "actor_name",
    "answer_fact",
    "client_by_name",
    "client_for_token",
    "create_client",
    "disclosure_purpose",
    "ensure_subscribed",
    "envelope_for",
    "event_scope",
    "fan_out_event",
    "feed_page",
    "grant_backfill",
    "list_clients",
    "list_deliveries",
    "log_accesses",
    "log_disclosure",
    "network_policy",
    "offered_event_types",
    "offered_scopes",
    "post",
    "queue",
    "redeliver",
    "replay",
    "resume_client",
    "rotate_secret",
    "rotate_token",
    "send_webhook",
    "set_network_policy",
    "sign",
    "signature_header",
    "suspend_client",
    "update_client",
    "verify",
]
