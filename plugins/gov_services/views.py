"""Public services pages."""

from __future__ import annotations

from flask import Blueprint, render_template

from plugins.gov_services import info

bp = Blueprint("gov_services", __name__, template_folder="templates")


@bp.route("/")
def index():
    return render_template("gov_services/index.html", info=info)
