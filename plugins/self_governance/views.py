"""Community affairs pages."""

from __future__ import annotations

from flask import Blueprint, render_template

from plugins.self_governance import info

bp = Blueprint("self_governance", __name__, template_folder="templates")


@bp.route("/")
def index():
    return render_template("self_governance/index.html", info=info)
