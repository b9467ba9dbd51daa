"""The two ways an exchange step fails: a refused request (:class:`ExchangeError`, a
:class:`core.rules.RuleError`, shown beside its form field or answered 422) and a webhook
the receiver did not take (:class:`WebhookError`, which the bus retries). Kept apart from
the steps so every seam of the package raises the same classes."""

from __future__ import annotations

from core.rules import N_, RuleError

__all__ = ["N_", "ExchangeError", "WebhookError"]


class ExchangeError(RuleError):
    """A refused request, with the form field it is about (empty when none).

    ``ExchangeError(msgid, field, **params)`` as before; being a :class:`RuleError`, pages
    translate it with :meth:`~core.rules.RuleError.text` and the API has one shape for it."""


class WebhookError(RuntimeError):
    """The receiver did not take the webhook; the bus retries it with back-off."""
