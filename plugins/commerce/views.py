"""Service hotline pages."""

from __future__ import annotations

from flask import Blueprint, render_template

from plugins.commerce import info

bp = Blueprint("commerce", __name__, template_folder="templates")


@bp.route("/")
def index():
    return render_template("commerce/index.html", info=info)
