"""Background jobs run in-process by default and through the broker to a worker when CELERY_BROKER_URL is set."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from flask import Flask

from exam.db import db, utcnow
from exam.delivery import services
from exam.delivery.models import Exam, Sitting, SittingState
from exam.jobs import create_job, finish_job, report_progress


def test_expire_task_submits_overdue_sittings(app: Flask, exam_factory: Any) -> None:
    from exam.auth.models import User
    from exam.tasks import expire_overdue_sittings

    ids = exam_factory(duration=1)
    with app.app_context():
        sitting = services.start_sitting(
            db.session, db.session.get(Exam, ids["exam"]), db.session.get(User, ids["students"][0])
        )
        sitting.deadline_at = utcnow() - timedelta(minutes=10)
        db.session.commit()
        sitting_id = sitting.id
    eager = not os.environ.get("CELERY_BROKER_URL")
    assert app.extensions["celery"].conf.task_always_eager is eager
    result = expire_overdue_sittings.delay()
    assert result.get(timeout=30) == 1
    with app.app_context():
        assert db.session.get(Sitting, sitting_id).state is SittingState.SUBMITTED


def test_job_progress_is_visible_while_running(app: Flask) -> None:
    from exam.jobs import Job

    with app.app_context():
        job = create_job("demo", {"n": 3}, None)
        db.session.commit()
        report_progress(job.id, 2, 3, "two of three")
        db.session.expire_all()
        job = db.session.get(Job, job.id)
        assert (job.state, job.done, job.total, job.message) == ("running", 2, 3, "two of three")
        assert abs(job.fraction - 2 / 3) < 1e-9
        finish_job(job.id, result={"ok": True})
        db.session.expire_all()
        job = db.session.get(Job, job.id)
        assert job.state == "done" and job.result == {"ok": True} and job.finished_at is not None


def test_a_failing_job_is_marked_failed_and_its_writes_are_rolled_back(app: Flask) -> None:
    import pytest

    from exam.jobs import Job, job_failure

    with app.app_context():
        job = create_job("demo", {}, None)
        db.session.commit()
        job_id = job.id
        with pytest.raises(ZeroDivisionError), job_failure(job_id, "demo failed"):
            db.session.add(Job(kind="half-written", params={}))
            db.session.flush()
            _ = 1 / 0
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job.state == "failed" and job.message == "demo failed: division by zero"
        assert db.session.scalars(db.select(Job).where(Job.kind == "half-written")).first() is None
