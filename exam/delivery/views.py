"""Student pages: my exams, the exam page, results."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_login import current_user

from exam.auth.decorators import role_required
from exam.auth.models import Role
from exam.db import db
from exam.delivery.services import student_exams

bp = Blueprint("delivery", __name__)


@bp.route("/my/exams")
@role_required(Role.STUDENT)
def my_exams() -> Any:
    """The student's exams with their state."""
    return render_template("delivery/my_exams.html", rows=student_exams(db.session, current_user))
