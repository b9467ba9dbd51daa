"""Core's own API area ``identity``: who am I, and the account list for administrators."""

from __future__ import annotations

from flask import abort
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import select

from core.api.pagination import PageArgs, page_schema, paginate
from core.db import current_session
from core.identity import require
from core.identity.models import User

identity = Blueprint("identity_api", __name__, description="Accounts and the current user")
AUTH = [{"bearerAuth": []}]


class UserSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    display_name = fields.String(required=True)
    kind = fields.String(required=True)
    is_active = fields.Boolean(required=True)
    roles = fields.List(fields.String(), required=True, attribute="role_names")


class MeSchema(UserSchema):
    permissions = fields.List(fields.String(), required=True)


UserPage = page_schema(UserSchema, "UserPage")


@identity.route("/me")
class Me(MethodView):
    @identity.doc(security=AUTH)
    @identity.response(200, MeSchema)
    @identity.alt_response(401, schema="Error", description="Not signed in")
    def get(self):
        """The signed-in account and its effective permissions."""
        if not current_user.is_authenticated:
            abort(
                401,
                description="Sign in, or send a valid token as 'Authorization: Bearer <token>'.",
            )
        return {
            "id": current_user.id,
            "username": current_user.username,
            "display_name": current_user.display_name,
            "kind": current_user.kind,
            "is_active": current_user.is_active,
            "role_names": current_user.role_names,
            "permissions": sorted(current_user.permissions),
        }


@identity.route("/users")
class Users(MethodView):
    @identity.doc(security=AUTH)
    @identity.arguments(PageArgs, location="query")
    @identity.response(200, UserPage)
    @identity.alt_response(401, schema="Error", description="Not signed in")
    @identity.alt_response(403, schema="Error", description="Lacks identity.user.read")
    @require("identity.user.read")
    def get(self, args):
        """Accounts, oldest first (paginated)."""
        return paginate(current_session(), select(User).order_by(User.id), args)


def blueprints() -> dict[str, Blueprint]:
    """Core's API blueprints by URL area."""
    return {"identity": identity}
