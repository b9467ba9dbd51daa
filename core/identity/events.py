"""Identity's side of the event bus: the events it publishes and the registry events it
acts on (verification is revoked when the bound person moves out or dies)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from core.identity.notifications import Message
from core.identity.services import revoke_verification


class UserCreated(Schema):
    user_id = fields.Integer(required=True)
    kind = fields.String(required=True)


class UserVerified(Schema):
    user_id = fields.Integer(required=True)
    person_id = fields.Integer(required=True)
    method = fields.String(required=True)


class VerificationRevoked(Schema):
    user_id = fields.Integer(required=True)
    person_id = fields.Integer(required=True)
    reason = fields.String(required=True)


#: What a resident is told when their verification ends because they moved out: core's
#: messages, told in the language the notification is read in (their Chinese is in core's
#: catalogue, as any other string's).
REVOKED_TITLE = Message("Your account is no longer verified", domain="core")
REVOKED_BODY = Message(
    "The resident register shows you moved out of your community, so your account no "
    "longer acts as one of its residents. Verify your account again under My account, "
    "or at the office of the community you live in now.", domain="core")


def _revoke(session: Session, person_id: int, reason: str, bus: Any) -> None:
    user = revoke_verification(session, person_id, reason=reason)
    if user is None:
        return
    if reason == "moved out":  # the deceased are not written to; the living are told
        from core.identity.notifications import notify

        notify(session, bus, user_id=user.id, title=REVOKED_TITLE, body=REVOKED_BODY,
               link="/account/verify", kind="verification_revoked", source="core")
    if bus is not None:
        bus.publish(session, "identity.verification.revoked",
                    {"user_id": user.id, "person_id": person_id, "reason": reason})


def revoke_on_move(event: Any, session: Session, bus: Any = None) -> None:
    """A person who leaves their community (or the registry's area) is no longer a
    verified resident of it; a move within the same community changes nothing."""
    payload = event.payload
    if payload.get("from_community") == payload.get("to_community"):
        return
    _revoke(session, payload["person_id"], "moved out", bus)


def revoke_on_death(event: Any, session: Session, bus: Any = None) -> None:
    _revoke(session, event.payload["person_id"], "deceased", bus)


def register_identity_events(bus: Any, host: Any) -> None:
    from core.identity.notifications import MessageQueued, make_sender

    bus.declare("identity.user.created", UserCreated, "An account was created (sign-up or admin).")
    bus.declare(
        "identity.user.verified",
        UserVerified,
        "An account was bound to a registry person (in person or self-service).",
    )
    bus.declare(
        "identity.verification.revoked",
        VerificationRevoked,
        "A verified account lost its binding (the person moved out or died).",
    )
    bus.subscribe("registry.person.moved", lambda e, s: revoke_on_move(e, s, bus),
                  name="identity_revoke_on_move")
    bus.subscribe("registry.person.deceased", lambda e, s: revoke_on_death(e, s, bus),
                  name="identity_revoke_on_death")
    bus.declare(
        "identity.message.queued",
        MessageQueued,
        "A message for an external channel (sms, email) waits for its gateway.",
    )
    bus.subscribe("identity.message.queued", make_sender(host), name="identity_send_message")
