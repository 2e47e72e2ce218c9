"""Item bank background jobs: calibration runs (Celery workers with a broker, in-process otherwise)."""

from __future__ import annotations

from exam.db import db
from exam.jobs import celery_app, finish_job, report_progress


@celery_app.task(name="itembank.calibrate")
def calibrate_run(run_id: int, job_id: int) -> dict[str, object]:
    """Run one stored calibration, reporting EM iterations as progress on its job."""
    from itembank.calibration_models import CalibrationRun
    from itembank.calibration_service import run_calibration

    try:
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
    except Exception as err:
        db.session.rollback()
        finish_job(job_id, error=f"calibration failed: {err}")
        raise
    finally:
        db.session.remove()
