"""Grading background jobs: bulk report generation (a ZIP of every student's PDF) with progress."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from exam.db import db
from exam.jobs import celery_app, finish_job, job_failure, report_progress


def report_zip_path(job_id: int) -> Path:
    """Where a bulk-report job leaves its ZIP (outside the web root)."""
    return Path(current_app.config["STORAGE_DIR"]) / "reports" / f"job-{job_id}.zip"


@celery_app.task(name="grading.bulk_reports")
def bulk_reports(exam_id: int, locale: str, job_id: int) -> dict[str, object]:
    """Render every submitted student's report of an exam into one ZIP."""
    from exam.delivery.models import Exam
    from grading.report_service import bulk_student_reports

    with job_failure(job_id, "report generation failed"):
        exam = db.session.get(Exam, exam_id)
        if exam is None:
            finish_job(job_id, error=f"exam {exam_id} does not exist")
            return {"status": "missing"}
        count = bulk_student_reports(
            db.session,
            exam,
            locale,
            report_zip_path(job_id),
            lambda n, total: report_progress(job_id, n, total, f"{n} / {total}") if n % 25 == 0 or n == total else None,
        )
        finish_job(job_id, result={"reports": count})
        return {"reports": count}
