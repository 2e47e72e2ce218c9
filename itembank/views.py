"""Examiner pages for item banks and items."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_login import current_user

from exam.auth.access import visible_banks_query
from exam.auth.decorators import role_required
from exam.auth.models import Role
from exam.db import db

bp = Blueprint("itembank", __name__, url_prefix="/banks", template_folder="templates")


@bp.route("/")
@role_required(Role.EXAMINER)
def banks() -> Any:
    """Banks the examiner owns or shares."""
    rows = db.session.scalars(visible_banks_query(current_user)).all()
    return render_template("itembank/banks.html", banks=rows)
