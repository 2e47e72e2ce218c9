"""Report downloads: an exam's PDF, every student's PDF as a ZIP (background job), a student's own PDF."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, send_file, url_for
from flask_babel import get_locale
from flask_login import current_user

from exam.auth.access import exam_role, require_exam
from exam.auth.decorators import role_required
from exam.auth.models import Role
from exam.db import db
from exam.delivery.models import Sitting, SittingState
from exam.delivery.services import results_visible
from exam.jobs import Job, create_job
from grading import report_service
from grading.reports import exam_report_pdf, student_report_pdf

bp = Blueprint("reports", __name__, url_prefix="/reports", template_folder="templates")


def _locale() -> str:
    return "zh_CN" if str(get_locale()).startswith("zh") else "en"


def _pdf(data: bytes, name: str) -> Response:
    return Response(data, mimetype="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


@bp.route("/exams/<int:exam_id>/exam.pdf")
@role_required(Role.EXAMINER)
def exam_pdf(exam_id: int) -> Any:
    """The exam's analysis report."""
    exam = require_exam(current_user, exam_id, "examiner")
    return _pdf(exam_report_pdf(report_service.exam_report(db.session, exam, _locale())), f"exam-{exam.id}.pdf")


@bp.route("/exams/<int:exam_id>/students", methods=["POST"])
@role_required(Role.EXAMINER)
def students_zip(exam_id: int) -> Any:
    """Start the bulk job that renders every student's report into a ZIP."""
    from grading.tasks import bulk_reports

    exam = require_exam(current_user, exam_id, "examiner")
    job = create_job("student_reports", {"exam_id": exam.id}, current_user.id)
    db.session.commit()
    bulk_reports.delay(exam.id, _locale(), job.id)
    return redirect(url_for("reports.job", job_id=job.id))


def _own_job(job_id: int) -> Job:
    job = db.session.get(Job, job_id)
    if job is None or job.kind != "student_reports" or job.created_by_id != current_user.id:
        abort(404)
    return job


@bp.route("/jobs/<int:job_id>")
@role_required(Role.EXAMINER)
def job(job_id: int) -> Any:
    """Progress of a bulk report job, and the download when it is done."""
    return render_template("reports/job.html", job=_own_job(job_id))


@bp.route("/jobs/<int:job_id>/download")
@role_required(Role.EXAMINER)
def download(job_id: int) -> Any:
    """The finished ZIP."""
    from grading.tasks import report_zip_path

    found = _own_job(job_id)
    path = report_zip_path(found.id)
    if found.state != "done" or not path.exists():
        abort(404)
    return send_file(
        path,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"exam-{found.params['exam_id']}-reports.zip",
    )


@bp.route("/sittings/<int:sitting_id>.pdf")
@role_required(Role.STUDENT, Role.EXAMINER)
def sitting_pdf(sitting_id: int) -> Any:
    """A student's own report (when results are visible) or, for examiners, any student's of their exam."""
    sitting = db.session.get(Sitting, sitting_id)
    if sitting is None or sitting.state is not SittingState.SUBMITTED:
        abort(404)
    if current_user.role is Role.STUDENT:
        if sitting.user_id != current_user.id or not results_visible(sitting.exam):
            abort(404)
    elif not exam_role(current_user, sitting.exam, "examiner"):
        abort(404)
    report = report_service.student_report(db.session, sitting, _locale())
    return _pdf(student_report_pdf(report), f"report-{sitting.user.username}.pdf")
