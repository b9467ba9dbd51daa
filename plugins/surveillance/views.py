"""Safety pages."""

from __future__ import annotations

from flask import Blueprint, render_template

from plugins.surveillance import info

bp = Blueprint("surveillance", __name__, template_folder="templates")


@bp.route("/")
def index():
    return render_template("surveillance/index.html", info=info)
