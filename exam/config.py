"""Configuration from the environment, with embedded defaults (SQLite, in-process jobs)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

INSTANCE_DIR = Path(os.environ.get("EXAM_INSTANCE_DIR", Path(__file__).resolve().parent.parent / "instance"))


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{INSTANCE_DIR / 'exam.sqlite3'}"
    # Hosting platforms still hand out the old scheme; SQLAlchemy 2 wants an explicit driver.
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    # A stable per-instance key so sessions survive restarts of the embedded server.
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


class Config:
    """Production-like defaults; every value can come from the environment."""

    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True}
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
    CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "")
    STORAGE_DIR = Path(os.environ.get("EXAM_STORAGE_DIR", INSTANCE_DIR / "storage"))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("EXAM_SECURE_COOKIES", "0") == "1"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    WTF_CSRF_TIME_LIMIT = None  # an exam can last longer than the default hour
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = os.environ.get("EXAM_TIMEZONE", "Asia/Shanghai")  # the school's clock on pages
    LANGUAGES = ("zh_CN", "en")
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    MAX_CONTENT_LENGTH = 64 * 1024 * 1024
    SAVE_GRACE_SECONDS = 120  # answers queued offline just before the deadline still count
    LIVE_TAB_SECONDS = 45  # a tab that has not been heard from for this long no longer holds the sitting
    FRAME_RETENTION_DAYS = int(os.environ.get("EXAM_FRAME_RETENTION_DAYS", "30"))  # raw webcam frames; findings stay
    PROCTOR_FRAME_SECONDS = int(os.environ.get("EXAM_PROCTOR_FRAME_SECONDS", "5"))  # one snapshot every N s
    API_TITLE = "Smart Exam API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = None

    def __init__(self) -> None:
        self.SQLALCHEMY_DATABASE_URI = _database_url()
        self.SECRET_KEY = _secret_key()


class TestConfig(Config):
    """Settings for the test suite: fast hashing, no rate limit surprises unless a test asks."""

    TESTING = True
    WTF_CSRF_ENABLED = True
    RATELIMIT_ENABLED = True
    ARGON2_FAST = True

    def __init__(self, database_url: str | None = None) -> None:
        super().__init__()
        if database_url:
            self.SQLALCHEMY_DATABASE_URI = database_url
