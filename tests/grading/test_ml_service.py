"""The machine grader inside the marking workflow: train from human scores, score waiting answers, audit."""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import Flask
from flask.testing import FlaskClient

from exam.auth.models import User
from exam.db import db
from exam.delivery import services as delivery
from exam.delivery.models import Exam, PaperItem, Response
from grading.models import GraderModel, MachineScore, ScoreChange

GOOD = ["plants use light energy to make glucose and release oxygen", "light, water and carbon dioxide become sugar"]
HALF = ["plants make food from sunlight", "it needs light"]
BAD = ["plants grow in soil", "no idea"]


def _exam_with_answers(app: Flask, exam_factory: Any, n: int) -> tuple[dict[str, Any], list[int]]:
    ids = exam_factory(students=n)
    rng = np.random.default_rng(0)
    truth = []
    with app.app_context():
        exam = db.session.get(Exam, ids["exam"])
        for k, student_id in enumerate(ids["students"]):
            score = int(rng.integers(0, 3))
            text = [BAD, HALF, GOOD][score][k % 2] + ("." if k % 3 else "")
            sitting = delivery.start_sitting(db.session, exam, db.session.get(User, student_id))
            delivery.save_answer(
                db.session,
                sitting,
                op_id=f"ml-{k}",
                paper_item_id=ids["paper"]["short_answer"],
                answer=text,
                flagged=None,
                seq=1,
                tab="tab",
            )
            delivery.submit(db.session, sitting)
            truth.append(score)
        db.session.commit()
    return ids, truth


def test_train_apply_and_audit(app: Flask, client: FlaskClient, exam_factory: Any, login: Any) -> None:
    ids, truth = _exam_with_answers(app, exam_factory, 70)
    pid = ids["paper"]["short_answer"]
    with app.app_context():
        responses = db.session.query(Response).filter_by(paper_item_id=pid).order_by(Response.id).all()
        for response, score in list(zip(responses, truth, strict=True))[:50]:  # people marked the first 50
            response.score, response.score_source = float(score), "human"
        db.session.commit()
        owner = db.session.get(User, ids["owner"]).username
    login(client, owner)
    base = f"/marking/exams/{ids['exam']}/items/{pid}"
    trained = client.post(f"{base}/train", follow_redirects=True).get_data(as_text=True)
    assert "trained on 50 answers" in trained and "cross-validated QWK" in trained
    applied = client.post(f"{base}/apply", data={"threshold": "0.0"}, follow_redirects=True).get_data(as_text=True)
    assert "20 answers scored by the machine; 20 accepted" in applied
    with app.app_context():
        machine = db.session.query(MachineScore).all()
        assert len(machine) == 20 and all(m.accepted for m in machine)
        model = db.session.query(GraderModel).one()
        assert model.threshold == 0.0 and model.curve and model.n_train == 50
        changes = db.session.query(ScoreChange).filter_by(source="machine").all()
        assert len(changes) == 20 and all(model.version in c.reason for c in changes)
        scored = db.session.query(Response).filter_by(paper_item_id=pid).order_by(Response.id).all()[50:]
        agreement = np.mean([r.score == t for r, t in zip(scored, truth[50:], strict=True)])
        assert agreement > 0.8
    lead = client.get(f"{base}/lead").get_data(as_text=True)
    assert "<title>Lead view</title>" in lead and "Model " in lead
    bad = client.post(f"{base}/apply", data={"threshold": "high"}, follow_redirects=True).get_data(as_text=True)
    assert "threshold: a number between 0 and 1 (high)" in bad


def test_too_few_human_scores_is_a_clear_error(app: Flask, client: FlaskClient, exam_factory: Any, login: Any) -> None:
    ids, _ = _exam_with_answers(app, exam_factory, 5)
    with app.app_context():
        owner = db.session.get(User, ids["owner"]).username
        paper_item = db.session.get(PaperItem, ids["paper"]["short_answer"])
        pid = paper_item.id
    login(client, owner)
    page = client.post(f"/marking/exams/{ids['exam']}/items/{pid}/train", follow_redirects=True)
    assert "at least 30 are needed" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(GraderModel).count() == 0
