"""The resident's own account over the JSON API: notifications, who accessed my data,
sessions and personal tokens. Mounted by core under ``/api/v1/identity`` next to ``/me``.

Every endpoint acts on the caller's own account only; another account's session or token
answers 404, exactly like one that does not exist (docs/requirements.md R07). The rules are the
same service calls the ``/account`` pages make.

Each endpoint names its own-account permission (``identity.own.*``), which a narrowed
token must carry; sessions and tokens are personal (:func:`core.identity.require_personal`:
never in the assisted channel).
"""

from __future__ import annotations

from typing import Any

from flask import abort
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort as api_abort
from marshmallow import Schema, fields, validate
from sqlalchemy import false, select

from core.api.blueprint import ApiBlueprint
from core.api.endpoints import endpoint
from core.api.fields import LINE, Id, Pattern, Strict
from core.api.pagination import PageArgs, page_schema, paginate
from core.audit.models import AccessEntry
from core.audit.services import access_log_for
from core.audit.web import request_facts
from core.db import current_session
from core.identity import require_login, require_personal
from core.identity.models import User
from core.identity.notifications import mark_read, notifications_for, shown_body, shown_title
from core.identity.services import (
    NO_PERMISSIONS,
    OWNER_LACKS,
    IdentityError,
    active_sessions,
    create_own_token,
    end_own_session,
    own_token,
    own_tokens,
    revoke_token,
)

#: Sessions and tokens are the person's own: never in the assisted channel (403), and
#: open to an account that is not verified yet.
SESSIONS = require_personal("identity.own.sessions", verified=False)
TOKENS = require_personal("identity.own.tokens", verified=False)
ASSISTED = {403: "Acting for a resident"}

bp = ApiBlueprint(
    "identity_account",
    __name__,
    description="The signed-in account's own notifications, access log, sessions and tokens",
)


class OwnNotificationSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    # in the caller's language (Accept-Language, else the account's), rendered when read
    title = fields.Function(shown_title, required=True, metadata={"type": "string"})
    body = fields.Function(shown_body, required=True, metadata={"type": "string"})
    link = fields.String(required=True)
    source = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    read_at = fields.DateTime(allow_none=True)


class OwnMarkReadSchema(Strict):
    ids = fields.List(
        Id(strict=False),  # as before: a JSON string of digits is read too
        validate=validate.Length(max=500),
        metadata={"description": "Notifications to mark read; all unread ones when omitted."},
    )


class OwnMarkedSchema(Schema):
    marked = fields.Integer(required=True)


class OwnAccessEntrySchema(Schema):
    id = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    actor_name = fields.String(required=True, metadata={"description": "Who read the data"})
    on_behalf_of_id = fields.Integer(allow_none=True)
    fields_ = fields.List(
        fields.String(),
        required=True,
        data_key="fields",
        attribute="fields",
        metadata={"description": "Which fields were read (never their values)"},
    )
    via = fields.String(required=True, metadata={"description": "'core' or the plugin id"})
    purpose = fields.String(required=True)
    masked = fields.Boolean(
        required=True, metadata={"description": "The values were shown partly hidden"}
    )
    count = fields.Integer(
        required=True, metadata={"description": "Identical displays that day (at: first)"}
    )
    last_at = fields.DateTime(required=True, metadata={"description": "The latest of them"})


class OwnSessionSchema(Schema):
    id = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    last_seen_at = fields.DateTime(required=True)
    ip = fields.String(required=True)
    user_agent = fields.String(required=True)
    current = fields.Boolean(
        required=True, metadata={"description": "The session making this call"}
    )


class OwnTokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True)
    permissions = fields.List(
        fields.String(),
        allow_none=True,
        required=True,
        metadata={"description": "null: every permission of the owner"},
    )
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class OwnTokenCreateSchema(Strict):
    name = fields.String(
        required=True, validate=[validate.Length(min=1, max=100), Pattern(LINE)]
    )
    permissions = fields.List(
        fields.String(validate=validate.Length(max=120)),
        allow_none=True,
        # an empty list is refused, not read as "everything"
        validate=[validate.Length(min=1, error=NO_PERMISSIONS), validate.Length(max=200)],
        metadata={
            "description": "A subset of your permissions (at least one); omit for all of "
            "them. The token reaches only endpoints whose permission it carries, its own "
            "sessions and tokens included (identity.own.*)."
        },
    )
    expires_days = fields.Integer(
        load_default=90, allow_none=True, validate=validate.Range(min=1, max=3650)
    )


class OwnTokenCreatedSchema(OwnTokenSchema):
    token = fields.String(
        required=True, metadata={"description": "The token itself: shown this once only"}
    )


OwnNotificationPage = page_schema(OwnNotificationSchema, "OwnNotificationPage")
OwnAccessEntryPage = page_schema(OwnAccessEntrySchema, "OwnAccessEntryPage")


def _me() -> User:
    return current_session().merge(current_user.user)


@bp.route("/notifications")
class Notifications(MethodView):
    @endpoint(bp, require_login("identity.own.notifications"), errors=(422,))
    @bp.arguments(PageArgs, location="query")
    @bp.response(200, OwnNotificationPage)
    def get(self, args: dict[str, Any]):
        """My notifications, newest first (paginated)."""
        return paginate(current_session(), notifications_for(current_user.id), args)


@bp.route("/notifications/read")
class NotificationsRead(MethodView):
    @endpoint(bp, require_login("identity.own.notifications"), errors=(400, 415, 422))
    @bp.arguments(OwnMarkReadSchema, required=False)
    @bp.response(200, OwnMarkedSchema)
    def post(self, data: dict[str, Any]):
        """Mark my notifications read: those listed in ``ids``, or all when omitted. Ids of
        other accounts' notifications are ignored."""
        session = current_session()
        marked = mark_read(session, current_user.id, data.get("ids"))
        session.commit()
        return {"marked": marked}


@bp.route("/access-log")
class AccessLog(MethodView):
    @endpoint(bp, require_login("identity.own.access_log"), errors=(422,))
    @bp.arguments(PageArgs, location="query")
    @bp.response(200, OwnAccessEntryPage)
    def get(self, args: dict[str, Any]):
        """Who read my personal data, newest first (paginated). Empty until the account is
        verified, since the log belongs to the registry person."""
        person_id = current_user.person_id if current_user.is_verified else None
        query = (
            access_log_for(person_id)
            if person_id is not None
            else select(AccessEntry).where(false())
        )
        return paginate(current_session(), query, args)


@bp.route("/sessions")
class Sessions(MethodView):
    @endpoint(bp, SESSIONS, descriptions=ASSISTED)
    @bp.response(200, OwnSessionSchema(many=True))
    def get(self):
        """Where I am signed in (live sessions, most recently used first)."""
        current = current_user.session_row_id
        return [
            {
                "id": row.id,
                "created_at": row.created_at,
                "last_seen_at": row.last_seen_at,
                "ip": row.ip,
                "user_agent": row.user_agent,
                "current": row.id == current,
            }
            for row in active_sessions(current_session(), _me())
        ]


@bp.route("/sessions/<int:session_id>")
class SessionItem(MethodView):
    @endpoint(bp, SESSIONS, errors=(400, 404), descriptions=ASSISTED)
    @bp.response(204)
    def delete(self, session_id: int):
        """Sign out one of my sessions (another account's id answers 404)."""
        session = current_session()
        if end_own_session(session, _me(), session_id, facts=request_facts()) is None:
            abort(404)
        session.commit()


@bp.route("/tokens")
class Tokens(MethodView):
    @endpoint(bp, TOKENS, descriptions=ASSISTED)
    @bp.response(200, OwnTokenSchema(many=True))
    def get(self):
        """My personal tokens, newest first (revoked and expired ones included)."""
        return own_tokens(current_session(), _me())

    @endpoint(
        bp,
        "identity.token.create",
        errors=(400, 415, 422),
        descriptions={403: "Lacks identity.token.create, or asks for permissions you do not have"},
    )
    @require_personal("identity.token.create", verified=False)
    @bp.arguments(OwnTokenCreateSchema)
    @bp.response(201, OwnTokenCreatedSchema)
    def post(self, data: dict[str, Any]):
        """Create a token within my own permissions. The token is in the answer once and
        never again (only its digest is stored). A call made with a narrowed token can only
        create tokens at most as narrow."""
        session = current_session()
        try:
            token, plaintext = create_own_token(
                session,
                _me(),
                name=data["name"],
                permissions=data.get("permissions"),
                expires_days=data.get("expires_days"),
                granted=current_user.permissions,
                narrowed=current_user.token_permissions is not None,
                facts=request_facts(),
            )
        except IdentityError as exc:
            session.rollback()
            if exc.message == OWNER_LACKS:  # well formed, but not yours to hand out
                abort(403, description=str(exc))
            api_abort(422, messages={"json": {exc.field or "_schema": [str(exc)]}})
        session.commit()
        shown = ("id", "name", "prefix", "permissions", "created_at", "expires_at")
        return {**{key: getattr(token, key) for key in shown}, "token": plaintext}


@bp.route("/tokens/<int:token_id>")
class TokenItem(MethodView):
    @endpoint(bp, TOKENS, errors=(400, 404), descriptions=ASSISTED)
    @bp.response(204)
    def delete(self, token_id: int):
        """Revoke one of my tokens (another account's id answers 404)."""
        session = current_session()
        token = own_token(session, _me(), token_id)
        if token is None:
            abort(404)
        revoke_token(session, token, actor=current_user.user)
        session.commit()


def blueprint() -> ApiBlueprint:
    """The blueprint to mount, next to core's ``identity`` area::

    api.register_blueprint(blueprint(), url_prefix="/api/v1/identity")
    """
    return bp
