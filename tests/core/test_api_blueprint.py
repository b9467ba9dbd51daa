"""``toolkit.ApiBlueprint`` builds an operation's argument schema once, not per request
(webargs builds one from a class on every request: ~8 % of an API reveal,
docs/performance.md), and parses exactly as flask-smorest's own ``Blueprint`` does."""

from __future__ import annotations

import marshmallow as ma
import pytest
from flask import Flask
from flask.views import MethodView
from flask_smorest import Api, Blueprint

from core.toolkit import ApiBlueprint


def _app(blueprint_class: type) -> tuple[Flask, list[int]]:
    built: list[int] = []

    class GreetingIn(ma.Schema):
        name = ma.fields.String(required=True)

        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    api = Api(app)
    blp = blueprint_class("greet", __name__, url_prefix="/greet")

    @blp.route("/")
    class Greet(MethodView):
        @blp.arguments(GreetingIn)
        @blp.response(200)
        def post(self, data):
            return {"hello": data["name"]}

    api.register_blueprint(blp)
    return app, built


@pytest.mark.parametrize(("blueprint_class", "per_request"),
                         [(ApiBlueprint, False), (Blueprint, True)])
def test_argument_schema_is_built_once(blueprint_class, per_request):
    app, built = _app(blueprint_class)
    client = app.test_client()
    before = len(built)
    for name in ("甲", "乙", "丙"):
        assert client.post("/greet/", json={"name": name}).json == {"hello": name}
    resp = client.post("/greet/", json={})
    assert resp.status_code == 422
    assert resp.json["errors"]["json"] == {"name": ["Missing data for required field."]}
    assert len(built) - before == (4 if per_request else 0)
