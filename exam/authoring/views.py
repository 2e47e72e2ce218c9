"""Examiner pages: exams, papers, rosters, results."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_login import current_user

from exam.auth.access import staff_exams_query
from exam.auth.decorators import role_required
from exam.auth.models import Role
from exam.db import db

bp = Blueprint("authoring", __name__, url_prefix="/exams")


@bp.route("/")
@role_required(Role.EXAMINER, Role.PROCTOR, Role.MARKER)
def exams() -> Any:
    """Exams the user works on."""
    rows = db.session.scalars(staff_exams_query(current_user, "examiner")).all()
    return render_template("authoring/exams.html", exams=rows)
