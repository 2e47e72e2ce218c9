"""Background jobs: Celery on a broker when CELERY_BROKER_URL is set, otherwise run in-process (eager)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from celery import Celery, Task
from flask import Flask
from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from exam.db import db, utcnow

celery_app = Celery("exam")


def init_celery(app: Flask) -> Celery:
    """Bind Celery to the app: every task runs inside an app context; eager when no broker is configured."""
    broker = app.config.get("CELERY_BROKER_URL") or ""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app.Task = FlaskTask
    celery_app.conf.update(
        broker_url=broker or "memory://",
        result_backend=app.config.get("CELERY_RESULT_BACKEND") or (broker if broker else "cache+memory://"),
        task_always_eager=not broker,
        task_eager_propagates=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        beat_schedule={
            "expire-overdue-sittings": {"task": "exam.expire_overdue_sittings", "schedule": 60.0},
            "proctor-sweep": {"task": "proctor.sweep", "schedule": 300.0},  # retry analyses, apply retention
        },
    )
    app.extensions["celery"] = celery_app
    return celery_app


# --- Job records: progress that pages can poll, whether the work runs eagerly or on a worker ---------------


class Job(db.Model):  # type: ignore[name-defined,misc]
    """A long-running piece of work (calibration, bulk reports, analysis) and how far it has got."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(20), default="queued")  # queued | running | done | failed
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    @property
    def fraction(self) -> float:
        """Progress in [0, 1]."""
        return 1.0 if self.state == "done" else (self.done / self.total if self.total else 0.0)


def create_job(kind: str, params: dict[str, Any], user_id: int | None) -> Job:
    """Record a job before dispatching it, so its id can be shown and polled at once."""
    job = Job(kind=kind, params=params, created_by_id=user_id)
    db.session.add(job)
    db.session.flush()
    return job


def report_progress(
    job_id: int, done: int, total: int, message: str | None = None, detail: dict[str, Any] | None = None
) -> None:
    """Update progress in its own short transaction so pollers see it while the work goes on.

    `detail` (numbers a page shows in the reader's language, such as the best objective so far) is kept in the
    job's result until the job finishes and its real result replaces it.
    """
    values: dict[str, Any] = {"state": "running", "done": done, "total": total, "message": message}
    if detail is not None:
        values["result"] = detail
    with db.engine.begin() as conn:
        conn.execute(Job.__table__.update().where(Job.__table__.c.id == job_id).values(**values))


def finish_job(job_id: int, *, result: dict[str, Any] | None = None, error: str | None = None) -> None:
    """Mark a job done (with its result) or failed (with a message a person can act on)."""
    with db.engine.begin() as conn:
        conn.execute(
            Job.__table__.update()
            .where(Job.__table__.c.id == job_id)
            .values(
                state="failed" if error else "done",
                message=error,
                result=result,
                finished_at=utcnow(),
            )
        )


@contextmanager
def job_failure(job_id: int, what: str) -> Iterator[None]:
    """Around a job's work: an exception rolls the session back, marks the job failed ("<what>: <error>") and is
    raised again for the worker's log; the session is removed at the end either way."""
    try:
        yield
    except Exception as err:
        db.session.rollback()
        finish_job(job_id, error=f"{what}: {err}")
        raise
    finally:
        db.session.remove()
