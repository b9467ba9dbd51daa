"""The one pagination convention for every list endpoint.

Query: ``page`` (from 1) and ``page_size`` (1–100, default 20). Response body:
``{"items": [...], "page", "page_size", "total", "pages"}``; the same numbers in the
``X-Pagination`` header as JSON, so clients that stream items can still find them.
Out-of-range pages return an empty ``items`` list, never an error.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import g
from marshmallow import Schema, fields, validate
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

MAX_PAGE_SIZE = 100


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


def page_schema(item_schema: type[Schema], name: str) -> type[Schema]:
    """A documented page envelope around ``item_schema`` (named for the OpenAPI document)."""
    return type(
        name,
        (Schema,),
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "page": fields.Integer(required=True),
            "page_size": fields.Integer(required=True),
            "total": fields.Integer(required=True),
            "pages": fields.Integer(required=True),
        },
    )


def paginate(session: Session, query: Select, args: dict[str, Any]) -> dict[str, Any]:
    page, size = args["page"], args["page_size"]
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = session.scalars(query.limit(size).offset((page - 1) * size)).all()
    meta = {
        "page": page,
        "page_size": size,
        "total": total or 0,
        "pages": math.ceil((total or 0) / size),
    }
    g.pagination_header = json.dumps(meta)
    return {"items": items, **meta}


def add_pagination_header(response: Any) -> Any:
    header = g.pop("pagination_header", None)
    if header:
        response.headers["X-Pagination"] = header
    return response
