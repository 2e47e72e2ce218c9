"""Calibration in database mode: responses of a delivered exam -> a stored run -> accepted into the bank."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import numpy as np
from flask import Flask
from flask.testing import FlaskClient

from exam.auth.models import Role, User
from exam.auth.passwords import hash_password
from exam.db import db, utcnow
from exam.delivery.models import Candidate, Exam, PaperItem, Response, Sitting, SittingState
from itembank.calibration_models import CalibrationRun, ItemParameterHistory
from itembank.irt.simulate import random_params, simulate_responses
from itembank.models import Item, ItemBank, ItemType, ItemVersion, Subject


def _delivered_exam(app: Flask, owner_id: int, n_students: int = 600, n_items: int = 8) -> int:
    truth = random_params("2pl", n_items, seed=5)
    truth.a[0] = 0.8
    truth.b[0] = 0.0
    answers, _ = simulate_responses(truth, n_students, seed=6)
    answers[:, 0] = 1 - answers[:, 0]  # item 0 behaves as if its key were wrong
    with app.app_context():
        subject = Subject(code="CAL", name_en="Calibration", name_zh="标定")
        bank = ItemBank(name="Cal bank", subject=subject, owner_id=owner_id)
        now = utcnow()
        exam = Exam(
            title="Past exam",
            owner_id=owner_id,
            subject=subject,
            bank=bank,
            opens_at=now - timedelta(days=3),
            closes_at=now - timedelta(days=2),
            duration_minutes=30,
            frozen_at=now - timedelta(days=3),
        )
        db.session.add_all([subject, bank, exam])
        papers = []
        for j in range(n_items):
            item = Item(bank=bank, type=ItemType.TRUE_FALSE)
            version = ItemVersion(item=item, stem=f"Statement {j}", key=True, points=1.0, frozen=True)
            paper = PaperItem(exam=exam, position=j, item_version=version, points=1.0)
            db.session.add_all([item, version, paper])
            papers.append(paper)
        db.session.flush()
        shared = hash_password("x" * 10, fast=True)
        for i in range(n_students):
            user = User(
                username=f"cal{i:04d}",
                display_name=f"S{i}",
                role=Role.STUDENT,
                password_hash=shared,
                class_name="A" if i % 2 else "B",
            )
            db.session.add(user)
            db.session.flush()
            db.session.add(Candidate(exam=exam, user_id=user.id))
            sitting = Sitting(
                exam=exam,
                user_id=user.id,
                deadline_at=now - timedelta(days=2),
                state=SittingState.SUBMITTED,
                submitted_at=now - timedelta(days=2),
                item_order=[p.id for p in papers],
            )
            db.session.add(sitting)
            db.session.flush()
            for j, paper in enumerate(papers):
                db.session.add(
                    Response(
                        sitting_id=sitting.id,
                        paper_item_id=paper.id,
                        item_version_id=paper.item_version_id,
                        answer=bool(answers[i, j]),
                        score=float(answers[i, j]),
                        max_score=1.0,
                        score_source="rule",
                    )
                )
        db.session.commit()
        return exam.id


def test_calibrate_review_and_accept_from_the_pages(
    app: Flask, client: FlaskClient, signed_in: Any, wait_for: Any
) -> None:
    signed_in("teacher", "examiner")
    with app.app_context():
        owner_id = db.session.query(User).filter_by(username="teacher").one().id
    exam_id = _delivered_exam(app, owner_id)
    assert "Calibrate" in client.get(f"/calibration/exams/{exam_id}").get_data(as_text=True)
    started = client.post(f"/calibration/exams/{exam_id}/runs", data={"model": "2pl", "group_a": "A", "group_b": "B"})
    assert started.status_code == 302
    run_id = int(re.search(r"/runs/(\d+)", started.headers["Location"]).group(1))
    assert wait_for(lambda: db.session.get(CalibrationRun, run_id).status == "done", timeout=60)
    page = client.get(f"/calibration/runs/{run_id}").get_data(as_text=True)
    assert "Negative discrimination" in page and "<svg" in page
    with app.app_context():
        run = db.session.get(CalibrationRun, run_id)
        assert run.status == "done" and run.examinees == 600 and run.summary["converged"]
        assert run.items[0].warnings[0] == "negative_discrimination"
        assert run.items[3].dif["class"] in ("A", "B", "C") and run.items[3].fit["p_value"] is not None
        assert db.session.query(Item).filter(Item.irt_b.is_not(None)).count() == 0  # nothing changes silently
    client.post(f"/calibration/runs/{run_id}/accept")
    with app.app_context():
        items = db.session.query(Item).order_by(Item.id).all()
        run = db.session.get(CalibrationRun, run_id)
        assert run.status == "accepted"
        assert all(i.irt_model == "2pl" for i in items)
        np.testing.assert_allclose([i.irt_b for i in items], [r.b for r in run.items])
        assert db.session.query(ItemParameterHistory).count() == len(items)


def test_other_examiners_cannot_see_runs(
    app: Flask, client: FlaskClient, signed_in: Any, make_user: Any, login: Any
) -> None:
    owner = make_user("owner", "examiner")
    exam_id = _delivered_exam(app, owner, n_students=40, n_items=4)
    signed_in("nosy", "examiner")
    assert client.get(f"/calibration/exams/{exam_id}").status_code == 404
    assert client.post(f"/calibration/exams/{exam_id}/runs", data={"model": "2pl"}).status_code == 404
    client.post("/logout")
    login(client, "owner")
    bad = client.post(f"/calibration/exams/{exam_id}/runs", data={"model": "4pl"}, follow_redirects=True)
    assert "Unknown model" in bad.get_data(as_text=True)


def test_calibrate_exam_cli(app: Flask, make_user: Any) -> None:
    owner = make_user("owner", "examiner")
    exam_id = _delivered_exam(app, owner, n_students=200, n_items=5)
    runner = app.test_cli_runner()
    nobody = runner.invoke(args=["irt", "calibrate-exam", str(exam_id), "--as", "ghost"])
    assert nobody.exit_code == 1 and "no exam" in nobody.output
    done = runner.invoke(args=["irt", "calibrate-exam", str(exam_id), "--as", "owner", "--model", "rasch", "--accept"])
    assert done.exit_code == 0, done.output
    assert "accepted; 200 examinees, 5 items" in done.output
    with app.app_context():
        assert db.session.query(Item).filter(Item.irt_model == "rasch").count() == 5
