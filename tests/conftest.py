"""Shared fixtures: a real database (SQLite by default, PostgreSQL when TEST_DATABASE_URL/DATABASE_URL says so),
an app, a client that speaks CSRF, and factories for users, banks, items and exams.

Tables are emptied after each test rather than rolled back, because browser tests drive a live server in another
thread that must see committed data.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from exam.app import create_app
from exam.config import TestConfig
from exam.db import db, utcnow


def _database_url(tmp_root: str, worker: str) -> str:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_root}/test-{worker}.sqlite3"
    url = re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)
    # One database per xdist worker, created on the server named by the URL.
    base = make_url(url)
    name = f"{base.database or 'test'}_exam_{worker}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def worker_name(request: pytest.FixtureRequest) -> str:
    """xdist worker id (gw0, gw1...) or "main" when tests run in one process."""
    workerinput = getattr(request.config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "main"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, worker_name: str) -> str:
    """URL of this worker's own empty database."""
    return _database_url(str(tmp_path_factory.mktemp("db")), worker_name)


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The application on a fresh schema."""
    config = TestConfig(database_url)
    config.STORAGE_DIR = tmp_path_factory.mktemp("storage")
    application = create_app(config)
    with application.app_context():
        db.drop_all()
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def _celery_worker(request: pytest.FixtureRequest, worker_name: str) -> Iterator[None]:
    """With CELERY_BROKER_URL set, jobs really go through the broker to a worker (run in a thread here)."""
    if not os.environ.get("CELERY_BROKER_URL"):
        yield
        return
    from celery.contrib.testing.worker import start_worker

    application: Flask = request.getfixturevalue("app")
    celery = application.extensions["celery"]
    # xdist workers share one Redis: each gets its own queue so tasks run against that worker's database.
    celery.conf.task_default_queue = f"exam-tests-{worker_name}"
    with start_worker(celery, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30):
        yield


@pytest.fixture(autouse=True)
def _clean_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "app" not in request.fixturenames:
        return
    application: Flask = request.getfixturevalue("app")
    with application.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in reversed(db.metadata.sorted_tables):
                    conn.execute(table.delete())
    from exam.extensions import limiter

    limiter.reset()


@pytest.fixture
def ctx(app: Flask) -> Iterator[Any]:
    """An application context with a test request (for services that read config or translate)."""
    with app.test_request_context():
        yield db.session
        db.session.rollback()


class CsrfClient(FlaskClient):
    """Test client that sends the CSRF token like the real pages and scripts do."""

    def csrf_token(self) -> str:
        """Fetch a token from a page rendered for this client's session."""
        page = self.get("/login").get_data(as_text=True)
        match = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert match, "no csrf meta tag on /login"
        return match.group(1)

    def open(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        method = (kwargs.get("method") or "GET").upper()
        if method in {"POST", "PUT", "PATCH", "DELETE"} and not kwargs.pop("no_csrf", False):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser-like client: cookies, CSRF header on writes."""
    app.test_client_class = CsrfClient
    return app.test_client()


@pytest.fixture
def make_user(app: Flask) -> Any:
    """Create (and commit) a user: make_user("alice", "student")."""
    from exam.auth.services import create_user

    def factory(username: str, role: str = "student", password: str = "correct horse", **extra: Any) -> Any:
        with app.app_context():
            user = create_user(
                db.session,
                username=username,
                role=role,
                display_name=extra.pop("name", username.title()),
                password=password,
                **extra,
            )
            db.session.commit()
            return user.id

    return factory


def _login(client: FlaskClient, username: str, password: str = "correct horse") -> Any:
    return client.post("/login", data={"username": username, "password": password}, follow_redirects=False)


@pytest.fixture
def login() -> Any:
    """login(client, username, password="correct horse") -> the response of the real sign-in form."""
    return _login


@pytest.fixture
def signed_in(client: FlaskClient, make_user: Any) -> Any:
    """signed_in("bob", "examiner") -> client signed in as a new user with that role."""

    def factory(username: str, role: str) -> FlaskClient:
        make_user(username, role)
        response = _login(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return factory


@pytest.fixture
def exam_factory(app: Flask, make_user: Any) -> Any:
    """Build a small open exam with one item of each objective type and a roster.

    Returns a dict of ids: exam, owner, students, items (paper item ids by type).
    """
    from exam.delivery.models import Candidate, Exam, PaperItem
    from exam.delivery.services import freeze_exam
    from itembank.models import Item, ItemBank, ItemType, ItemVersion, Subject

    def factory(*, students: int = 1, open_now: bool = True, duration: int = 30, **exam_fields: Any) -> dict[str, Any]:
        owner_id = make_user(f"examiner{utcnow().timestamp():.0f}{os.urandom(2).hex()}", "examiner")
        student_ids = [make_user(f"s{os.urandom(4).hex()}", "student") for _ in range(students)]
        with app.app_context():
            subject = Subject(code=f"MATH{os.urandom(2).hex()}", name_en="Mathematics", name_zh="数学")
            bank = ItemBank(name="Bank", subject=subject, owner_id=owner_id)
            db.session.add_all([subject, bank])
            specs = [
                (
                    ItemType.SINGLE_CHOICE,
                    "2 + 2 = ?",
                    [{"key": k, "text": t} for k, t in zip("ABCD", "3456", strict=False)],
                    "B",
                ),
                (
                    ItemType.MULTIPLE_CHOICE,
                    "Primes?",
                    [{"key": k, "text": t} for k, t in zip("ABCD", "2349", strict=False)],
                    ["A", "B"],
                ),
                (ItemType.TRUE_FALSE, "The earth is round.", [], True),
                (ItemType.FILL_BLANK, "中国的首都是____。", [], [{"accepted": ["北京", "Beijing"]}]),
                (ItemType.SHORT_ANSWER, "Explain photosynthesis.", [], None),
            ]
            now = utcnow()
            exam = Exam(
                title="Unit test",
                owner_id=owner_id,
                subject=subject,
                bank=bank,
                opens_at=now - timedelta(minutes=5) if open_now else now + timedelta(days=1),
                closes_at=now + timedelta(hours=2) if open_now else now + timedelta(days=2),
                duration_minutes=duration,
                **exam_fields,
            )
            db.session.add(exam)
            paper: dict[str, int] = {}
            for position, (item_type, stem, options, key) in enumerate(specs):
                item = Item(bank=bank, type=item_type, created_by_id=owner_id)
                version = ItemVersion(item=item, number=1, stem=stem, options=options, key=key, points=2.0)
                db.session.add_all([item, version])
                db.session.flush()
                item.current_version_id = version.id
                paper_item = PaperItem(exam=exam, position=position, item_version=version, points=2.0)
                db.session.add(paper_item)
                db.session.flush()
                paper[item_type.value] = paper_item.id
            for sid in student_ids:
                db.session.add(Candidate(exam=exam, user_id=sid))
            db.session.flush()
            if open_now:
                freeze_exam(db.session, exam)
            db.session.commit()
            return {
                "exam": exam.id,
                "owner": owner_id,
                "students": student_ids,
                "paper": paper,
                "bank": bank.id,
                "subject": subject.id,
            }

    return factory


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Flags that keep Debian's Chromium from reaching out to Google's hosts in a closed network, and let it run as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # A synthetic camera that needs no permission prompt, for the proctored exam page.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served over real HTTP on a free loopback port (for the browser), in a thread."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def wait_for(app: Flask) -> Any:
    """wait_for(check, timeout=30): poll `check()` (run in a fresh app context) until it is truthy.

    With CELERY_BROKER_URL set, background jobs run on a real worker and finish after the request returns.
    """
    import time

    def poll(check: Any, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            with app.app_context():
                result = check()
                db.session.remove()
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.1)

    return poll


@pytest.fixture
def bank_exam(app: Flask, exam_factory: Any) -> dict[str, Any]:
    """A not-yet-frozen exam whose bank holds 30 calibrated items besides the factory's five (for assembly)."""
    import numpy as np

    from itembank.models import Item, ItemType, ItemVersion

    ids = exam_factory(open_now=False)
    rng = np.random.default_rng(0)
    with app.app_context():
        for n in range(30):
            item = Item(
                bank_id=ids["bank"],
                type=ItemType.SINGLE_CHOICE if n % 2 else ItemType.TRUE_FALSE,
                level=1 + n % 5,
                irt_model="3pl",
                irt_a=float(rng.uniform(0.7, 2.0)),
                irt_b=float(rng.normal()),
                irt_c=0.2,
            )
            version = ItemVersion(item=item, number=1, stem=f"Q{n}", options=[], key=None, points=2.0)
            db.session.add_all([item, version])
            db.session.flush()
            item.current_version_id = version.id
        db.session.commit()
    return ids


@pytest.fixture
def two_forms_blueprint() -> str:
    """A small blueprint for `bank_exam`: two disjoint 6-item forms, maximin at -1, 0, 1, two content lines."""
    return """forms: 2
length: 6
objective: maximin_info
thetas: [-1, 0, 1]
max_overlap: 0
constraints:
  - {attribute: type, value: single_choice, min: 2}
  - {attribute: level, value: "5", max: 2}
time_limit: 5
"""
