"""The JSON API, mounted by core at ``/api/v1/matters``. ``endpoint`` goes outermost: it
checks the permission before the body is read and documents 401, 403 and the errors
listed, with core's "Error" schema."""

from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort

from core.toolkit import PageArgs, current_session, endpoint, paginate
from plugins.matters import MANAGE, READ
from plugins.matters.schemas import MattersItem, MattersItemIn, MattersItemPage
from plugins.matters.services import ItemError, create_item, get_item, items_query

blp = Blueprint("matters_api", __name__, description="Matters")


@blp.route("/items")
class Items(MethodView):
    @endpoint(blp, READ, errors=(422,))
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, MattersItemPage)
    def get(self, args):
        """Items, newest first (paginated)."""
        return paginate(current_session(), items_query(), args)

    @endpoint(blp, MANAGE, errors=(409, 422), descriptions={409: "The title is taken"})
    @blp.arguments(MattersItemIn)
    @blp.response(201, MattersItem)
    def post(self, data):
        """Add an item."""
        session = current_session()
        try:
            item = create_item(session, title=data["title"], created_by_id=current_user.id)
        except ItemError as exc:
            abort(409, message=str(exc), messages={exc.field: [str(exc)]})
        session.commit()
        return item


@blp.route("/items/<int:item_id>")
class ItemById(MethodView):
    @endpoint(blp, READ, errors=(404,))
    @blp.response(200, MattersItem)
    def get(self, item_id):
        """One item."""
        item = get_item(current_session(), item_id)
        if item is None:
            abort(404, message="No such item.")
        return item
