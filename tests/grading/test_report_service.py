"""Reports from stored results: the pages, the bulk ZIP job, the CLI and who may download what."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from exam.auth.models import User
from exam.db import db
from exam.delivery import services as delivery
from exam.delivery.models import Exam, Sitting
from exam.jobs import Job


def _sit(app: Flask, ids: dict[str, Any]) -> list[int]:
    with app.app_context():
        exam = db.session.get(Exam, ids["exam"])
        out = []
        for n, student_id in enumerate(ids["students"]):
            sitting = delivery.start_sitting(db.session, exam, db.session.get(User, student_id))
            delivery.save_answer(
                db.session,
                sitting,
                op_id=f"rep-{n}",
                paper_item_id=ids["paper"]["single_choice"],
                answer="B" if n % 2 else "A",
                flagged=None,
                seq=1,
                tab="tab",
            )
            delivery.submit(db.session, sitting)
            out.append(sitting.id)
        db.session.commit()
        return out


def test_reports_for_examiner_and_student(
    app: Flask, client: FlaskClient, exam_factory: Any, login: Any, wait_for: Any
) -> None:
    ids = exam_factory(students=3)
    sittings = _sit(app, ids)
    with app.app_context():
        owner = db.session.get(User, ids["owner"]).username
        students = [db.session.get(User, s).username for s in ids["students"]]
    login(client, owner)
    pdf = client.get(f"/reports/exams/{ids['exam']}/exam.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    started = client.post(f"/reports/exams/{ids['exam']}/students")
    job_id = int(re.search(r"/jobs/(\d+)", started.headers["Location"]).group(1))
    assert wait_for(lambda: db.session.get(Job, job_id).state == "done", timeout=60)
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/reports/jobs/{job_id}/download").data))
    assert sorted(archive.namelist()) == sorted(f"{s}.pdf" for s in students)
    client.post("/logout")
    login(client, students[0])
    mine = client.get(f"/reports/sittings/{sittings[0]}.pdf")
    assert mine.status_code == 200 and mine.data.startswith(b"%PDF")
    assert client.get(f"/reports/sittings/{sittings[1]}.pdf").status_code == 404
    assert client.get(f"/reports/jobs/{job_id}/download").status_code == 403
    assert client.get(f"/reports/exams/{ids['exam']}/exam.pdf").status_code == 403


def test_report_cli(app: Flask, exam_factory: Any, tmp_path: Path) -> None:
    ids = exam_factory(students=2)
    _sit(app, ids)
    runner = app.test_cli_runner()
    done = runner.invoke(
        args=["report", "students", str(ids["exam"]), "--out", str(tmp_path / "r.zip"), "--locale", "en"]
    )
    assert done.exit_code == 0, done.output
    assert len(zipfile.ZipFile(tmp_path / "r.zip").namelist()) == 2
    exam_pdf = runner.invoke(args=["report", "exam", str(ids["exam"]), "--out", str(tmp_path / "e.pdf")])
    assert exam_pdf.exit_code == 0 and (tmp_path / "e.pdf").read_bytes().startswith(b"%PDF")
    missing = runner.invoke(args=["report", "exam", "999", "--out", str(tmp_path / "x.pdf")])
    assert missing.exit_code == 1 and "no exam 999" in missing.output
    with app.app_context():
        assert db.session.query(Sitting).count() == 2
