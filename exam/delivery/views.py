"""Student pages: my exams, the exam page, results. The exam page is built by exam.js from /api/v1."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from exam.auth.access import require_own_sitting
from exam.auth.decorators import role_required
from exam.auth.models import Role
from exam.db import db, utcnow
from exam.delivery import services
from exam.delivery.models import Exam, SittingState

bp = Blueprint("delivery", __name__)


@bp.route("/my/exams")
@role_required(Role.STUDENT)
def my_exams() -> Any:
    """The student's exams with their state and what they can do next."""
    rows = services.student_exams(db.session, current_user)
    now = utcnow()
    return render_template(
        "delivery/my_exams.html",
        rows=[
            (exam, sitting, exam.is_open(now), sitting is not None and services.results_visible(exam, now))
            for exam, sitting in rows
        ],
    )


@bp.route("/my/exams/<int:exam_id>/start", methods=["POST"])
@role_required(Role.STUDENT)
def start(exam_id: int) -> Any:
    """Start (or resume) the exam and open the exam page."""
    exam = db.session.get(Exam, exam_id)
    if exam is None or services.candidate_for(db.session, exam, current_user) is None:
        abort(404)
    sitting = services.start_sitting(db.session, exam, current_user)
    db.session.commit()
    return redirect(url_for("delivery.sitting", sitting_id=sitting.id))


@bp.route("/my/sittings/<int:sitting_id>")
@role_required(Role.STUDENT)
def sitting(sitting_id: int) -> Any:
    """The exam page (an empty shell; the paper comes from the API so a reload rebuilds it exactly)."""
    own = require_own_sitting(current_user, sitting_id)
    if services.close_if_overdue(db.session, own):
        db.session.commit()
    if own.state is SittingState.SUBMITTED:
        return redirect(url_for("delivery.result", sitting_id=own.id))
    return render_template(
        "delivery/sitting.html", sitting=own, strings=exam_page_strings(), proctor_strings=proctor_page_strings()
    )


@bp.route("/my/sittings/<int:sitting_id>/result")
@role_required(Role.STUDENT)
def result(sitting_id: int) -> Any:
    """The student's result page."""
    own = require_own_sitting(current_user, sitting_id)
    if services.close_if_overdue(db.session, own):
        db.session.commit()
    if own.state is not SittingState.SUBMITTED:
        return redirect(url_for("delivery.sitting", sitting_id=own.id))
    return render_template("delivery/result.html", sitting=own, result=services.sitting_result(own))


def exam_page_strings() -> dict[str, str]:
    """Strings exam.js shows, translated on the server (placeholders %(name)s are filled in the browser)."""
    return {
        "all_saved": _("All answers saved"),
        "saving": _("Saving…"),
        "offline_waiting": _("Offline: %(n)s change(s) waiting to be saved. Keep this page open."),
        "not_saved": _("%(n)s change(s) not saved yet."),
        "storage_full": _("this browser cannot store answers locally"),
        "save_refused": _("The server refused this change."),
        "session_expired": _("Your session expired. Sign in again in another tab, then continue here."),
        "signed_out": _("You are signed out. Sign in again in another tab; your answers are kept here."),
        "time_up": _("Time is up. Your answers are being submitted."),
        "item_n": _("Question %(n)s"),
        "points": _("%(n)s points"),
        "progress": _("%(answered)s of %(total)s answered"),
        "flag_for_review": _("Flag for review"),
        "true_": _("True"),
        "false_": _("False"),
        "blank_n": _("Blank %(n)s"),
        "characters": _("%(n)s characters"),
        "move_up": _("Move up"),
        "move_down": _("Move down"),
        "unanswered_list": _("Unanswered: %(items)s"),
        "flagged_list": _("Flagged for review: %(items)s"),
        "all_answered": _("Every question has an answer."),
        "cannot_submit_offline": _(
            "Some answers have not reached the server yet. Check your connection and submit again."
        ),
        "load_failed": _("The exam could not be loaded. Retrying…"),
        "offline_start": _("No connection to the server. Retrying…"),
    }


def proctor_page_strings() -> dict[str, str]:
    """Strings proctor.js shows."""
    return {
        "camera_denied": _("The camera is not available. You can go on with the exam; this is recorded."),
        "camera_stopped": _("The camera stopped. You can go on with the exam; this is recorded."),
        "consent_failed": _("Could not reach the server. Try again."),
        "enrolment": _("Look at the screen: taking your enrolment photo…"),
        "calibrating": _("Keep looking at the screen for a few seconds…"),
        "recording": _("Proctoring is on."),
    }
