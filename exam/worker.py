"""Celery worker entry point: `celery -A exam.worker worker` (needs CELERY_BROKER_URL)."""

from exam.app import create_app
from exam.jobs import celery_app

app = create_app()
celery = celery_app
