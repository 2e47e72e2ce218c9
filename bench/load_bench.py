"""Load benchmark: N students start one exam within a few seconds, then save an answer every 10 s.

The app runs under gunicorn on PostgreSQL (as in production); the students are simulated with aiohttp on loopback
in this process. Afterwards every acknowledged save is looked up in the database: an acknowledged answer that is
missing or older than what was acknowledged counts as lost.

    .venv/bin/python bench/load_bench.py                       # 500 students, 10 s ramp, 5 min of saves
    .venv/bin/python bench/load_bench.py --students 100 --minutes 1

Needs PostgreSQL (BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test: a database
`<name>_loadbench` is created beside it) and `pip install aiohttp` (installed on first run if missing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

try:
    import aiohttp
except ImportError:  # the bench's own dependency, not the app's
    print("installing aiohttp for the load client")
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "aiohttp"])
    import aiohttp

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

PASSWORD = "bench-password-1"


def percentile(values: list[float], q: float) -> float:
    """q-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def prepare_database(url: str, students: int) -> tuple[str, int, list[int]]:
    """Create a fresh database with an open exam of 20 items and `students` students on its roster."""
    base = make_url(re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url))
    name = f"{base.database or 'test'}_loadbench"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    bench_url = base.set(database=name).render_as_string(hide_password=False)
    os.environ["DATABASE_URL"] = bench_url
    from exam.app import create_app
    from exam.auth.models import Role, User
    from exam.auth.passwords import hash_password
    from exam.db import db, utcnow
    from exam.delivery.models import Candidate, Exam, PaperItem
    from exam.delivery.services import freeze_exam
    from itembank.models import Item, ItemBank, ItemType, ItemVersion, Subject

    app = create_app()
    with app.app_context():
        db.create_all()
        teacher = User(
            username="teacher",
            display_name="Teacher",
            role=Role.EXAMINER,
            password_hash=hash_password(PASSWORD, fast=True),
        )
        subject = Subject(code="MATH", name_en="Mathematics", name_zh="数学")
        bank = ItemBank(name="Bench", subject=subject, owner=teacher)
        now = utcnow()
        exam = Exam(
            title="Load test",
            owner=teacher,
            subject=subject,
            bank=bank,
            opens_at=now - timedelta(minutes=1),
            closes_at=now + timedelta(hours=3),
            duration_minutes=120,
            shuffle_items=True,
            shuffle_options=True,
        )
        db.session.add_all([teacher, subject, bank, exam])
        paper_ids = []
        for n in range(20):
            item = Item(bank=bank, type=ItemType.SINGLE_CHOICE)
            version = ItemVersion(
                item=item,
                stem=f"Question {n}: 2 + {n} = ?",
                options=[{"key": k, "text": str(n + d)} for k, d in zip("ABCD", (1, 2, 3, 4), strict=True)],
                key="B",
                points=1.0,
            )
            paper = PaperItem(exam=exam, position=n, item_version=version, points=1.0)
            db.session.add_all([item, version, paper])
            db.session.flush()
            item.current_version_id = version.id
            paper_ids.append(paper.id)
        # Password hashing is not what this bench measures: the students share one (fast-parameter) hash.
        shared_hash = hash_password(PASSWORD, fast=True)
        for i in range(students):
            user = User(
                username=f"load{i:04d}", display_name=f"Student {i}", role=Role.STUDENT, password_hash=shared_hash
            )
            db.session.add(user)
            db.session.add(Candidate(exam=exam, user=user))
        db.session.flush()
        freeze_exam(db.session, exam)
        db.session.commit()
        exam_id = exam.id
    return bench_url, exam_id, paper_ids


class Student:
    """One simulated student with their own cookie jar, CSRF token and tab id."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.username = username
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""
        self.tab = uuid.uuid4().hex
        self.sitting = 0
        self.items: list[int] = []
        self.seq: dict[int, int] = {}
        self.acked: list[tuple[str, int, str, int]] = []  # op_id, paper item, answer, seq

    async def login(self) -> None:
        """Sign in through the real form and keep the page's CSRF token."""
        async with self.session.get(f"{self.base}/login") as r:
            page = await r.text()
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        data = {"username": self.username, "password": PASSWORD, "csrf_token": token}
        async with self.session.post(f"{self.base}/login", data=data, allow_redirects=False) as r:
            assert r.status == 302, f"login {self.username}: {r.status}"
        async with self.session.get(f"{self.base}/my/exams") as r:
            page = await r.text()
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """POST JSON with the CSRF header, like exam.js."""
        async with self.session.post(f"{self.base}{path}", json=body, headers={"X-CSRFToken": self.csrf}) as r:
            return r.status, await r.json(content_type=None)

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.session.close()


async def run(base: str, exam_id: int, students: int, ramp: float, minutes: float, interval: float) -> dict[str, Any]:
    """Drive the load and collect latencies, errors and every acknowledged save."""
    crowd = [Student(base, f"load{i:04d}") for i in range(students)]
    sem = asyncio.Semaphore(50)

    async def login(s: Student) -> None:
        async with sem:
            await s.login()

    t0 = time.perf_counter()
    await asyncio.gather(*(login(s) for s in crowd))
    print(f"{students} students signed in in {time.perf_counter() - t0:.1f} s (not part of the figures)")
    start_lat: list[float] = []
    save_lat: list[float] = []
    errors: dict[str, int] = {}
    end_at = 0.0

    def error(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    async def life(s: Student, delay: float) -> None:
        await asyncio.sleep(delay)
        t = time.perf_counter()
        try:
            status, state = await s.post(f"/api/v1/exams/{exam_id}/start", {})
        except aiohttp.ClientError as err:
            error(f"start {type(err).__name__}")
            return
        start_lat.append(time.perf_counter() - t)
        if status != 200:
            error(f"start HTTP {status}")
            return
        s.sitting = state["sitting_id"]
        s.items = [item["id"] for item in state["items"]]
        await s.post(f"/api/v1/sittings/{s.sitting}/claim", {"tab": s.tab})
        await asyncio.sleep(random.uniform(0, interval))
        while time.perf_counter() < end_at:
            pid = random.choice(s.items)
            s.seq[pid] = s.seq.get(pid, 0) + 1
            answer = random.choice("ABCD")
            body = {"op_id": uuid.uuid4().hex, "paper_item_id": pid, "answer": answer, "seq": s.seq[pid], "tab": s.tab}
            for _attempt in range(5):  # the outbox's resend, with the same op_id
                t = time.perf_counter()
                try:
                    status, _ack = await s.post(f"/api/v1/sittings/{s.sitting}/answers", body)
                except aiohttp.ClientError as err:
                    error(f"save {type(err).__name__}")
                    await asyncio.sleep(1)
                    continue
                save_lat.append(time.perf_counter() - t)
                if status == 200:
                    s.acked.append((body["op_id"], pid, answer, body["seq"]))
                    break
                error(f"save HTTP {status}")
                await asyncio.sleep(1)
            await asyncio.sleep(interval)

    began = time.perf_counter()
    end_at = began + ramp + minutes * 60
    await asyncio.gather(*(life(s, random.uniform(0, ramp)) for s in crowd))
    elapsed = time.perf_counter() - began
    await asyncio.gather(*(s.close() for s in crowd))
    return {"start": start_lat, "save": save_lat, "errors": errors, "elapsed": elapsed, "crowd": crowd}


def verify(url: str, crowd: list[Student]) -> tuple[int, int, int]:
    """Every acknowledged op has a receipt, and each item's stored answer is its highest acknowledged seq's."""
    engine = create_engine(re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url))
    acked = [(op, s.sitting, pid, ans, seq) for s in crowd for op, pid, ans, seq in s.acked]
    with engine.connect() as conn:
        receipts = {row[0] for row in conn.execute(text("SELECT op_id FROM save_receipts"))}
        stored = {
            (r[0], r[1]): (r[2], r[3])
            for r in conn.execute(text("SELECT sitting_id, paper_item_id, answer, client_seq FROM responses"))
        }
    engine.dispose()
    missing = sum(1 for op, *_ in acked if op not in receipts)
    latest: dict[tuple[int, int], tuple[int, str]] = {}
    for _op, sitting, pid, answer, seq in acked:
        if seq >= latest.get((sitting, pid), (0, ""))[0]:
            latest[(sitting, pid)] = (seq, answer)
    wrong = sum(1 for key, (seq, answer) in latest.items() if stored.get(key) != (answer, seq))
    return len(acked), missing, wrong


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which students start")
    parser.add_argument("--minutes", type=float, default=5.0, help="minutes of saving after the ramp")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between one student's saves")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    bench_url, exam_id, _ = prepare_database(url, args.students)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": bench_url, "LOGIN_RATE_LIMIT": "100000 per minute"}
    env.pop("CELERY_BROKER_URL", None)
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "-w",
            str(args.workers),
            "-k",
            "gthread",
            "--threads",
            str(args.threads),
            "-b",
            f"127.0.0.1:{port}",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        result = asyncio.run(run(base, exam_id, args.students, args.ramp, args.minutes, args.interval))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    acked, missing, wrong = verify(bench_url, result["crowd"])
    ms = 1000
    print(
        f"\nload: {args.students} students, start ramp {args.ramp:g} s, a save every {args.interval:g} s for "
        f"{args.minutes:g} min; gunicorn {args.workers} workers x {args.threads} threads on PostgreSQL, 2 cores"
    )
    print(f"{'':8}{'n':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name in ("start", "save"):
        v = result[name]
        print(
            f"{name:8}{len(v):>8}{percentile(v, 50) * ms:>10.1f}{percentile(v, 95) * ms:>10.1f}"
            f"{percentile(v, 99) * ms:>10.1f}{max(v, default=float('nan')) * ms:>10.1f}"
        )
    total = len(result["start"]) + len(result["save"])
    print(
        f"throughput: {total / result['elapsed']:.1f} requests/s over {result['elapsed']:.0f} s; "
        f"errors: {sum(result['errors'].values())} {result['errors'] or ''}"
    )
    print(
        f"acknowledged saves: {acked}; missing from the database: {missing}; stored answer differs from the "
        f"latest acknowledged: {wrong}"
    )
    print("verdict:", "OK, no acknowledged answer lost" if missing == 0 and wrong == 0 else "ANSWERS LOST")


if __name__ == "__main__":
    main()
