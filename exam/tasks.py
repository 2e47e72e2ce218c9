"""Foundation background tasks."""

from __future__ import annotations

from exam.db import db
from exam.jobs import celery_app


@celery_app.task(name="exam.expire_overdue_sittings")
def expire_overdue_sittings() -> int:
    """Submit every sitting whose time is up; scheduled every minute by Celery beat on a real broker."""
    from exam.delivery.services import expire_overdue

    try:
        count = expire_overdue(db.session)
        db.session.commit()
        return count
    finally:
        db.session.remove()
