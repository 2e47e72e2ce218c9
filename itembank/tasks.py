"""Item bank background jobs: calibration runs and assembly previews (Celery workers with a broker, in-process
otherwise)."""

from __future__ import annotations

from flask import current_app

from exam.db import db
from exam.jobs import celery_app, finish_job, job_failure, report_progress


@celery_app.task(name="itembank.calibrate")
def calibrate_run(run_id: int, job_id: int) -> dict[str, object]:
    """Run one stored calibration, reporting EM iterations as progress on its job."""
    from itembank.calibration_models import CalibrationRun
    from itembank.calibration_service import run_calibration

    with job_failure(job_id, "calibration failed"):
        run = db.session.get(CalibrationRun, run_id)
        if run is None:
            finish_job(job_id, error=f"calibration run {run_id} does not exist")
            return {"status": "missing"}

        def progress(iteration: int, loglik: float) -> None:
            if iteration % 5 == 0:
                report_progress(job_id, iteration, 0, f"EM iteration {iteration}, log-likelihood {loglik:.2f}")

        run_calibration(db.session, run, progress)
        status, error = run.status, run.error
        db.session.commit()
        finish_job(job_id, result={"run_id": run_id, "status": status}, error=error)
        return {"status": status}


@celery_app.task(name="itembank.assemble")
def assemble_preview(exam_id: int, job_id: int) -> dict[str, object]:
    """Assemble an exam's stored blueprint, reporting the best paper so far and its proven gap on the job."""
    from exam.delivery.models import Exam
    from exam.validation import ValidationFailed
    from itembank.assembly_service import run_preview_job

    with job_failure(job_id, "assembly failed"):
        exam = db.session.get(Exam, exam_id)
        if exam is None:
            finish_job(job_id, error=f"exam {exam_id} does not exist")
            return {"status": "missing"}
        app = current_app._get_current_object()  # type: ignore[attr-defined]

        def report(done: int, total: int, detail: dict[str, object]) -> None:
            with app.app_context():  # called from the solver's own thread
                report_progress(job_id, done, total, None, detail)

        try:
            out = run_preview_job(db.session, exam, job_id, report)
        except ValidationFailed as err:
            db.session.rollback()
            finish_job(job_id, error=str(err))  # the message and every problem (row, field, value)
            return {"status": "invalid"}
        db.session.commit()
        status = str(out["result"]["status"])
        finish_job(job_id, result={"status": status})
        return {"status": status}
