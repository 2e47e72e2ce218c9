"""WSGI entry point: `gunicorn wsgi:app`."""

from exam.app import create_app

app = create_app()
