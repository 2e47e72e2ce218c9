"""Marking on a real database: queues, double marking with third marker and arbitration, audit, permissions."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exam.auth.models import User
from exam.db import db
from exam.delivery import services as delivery
from exam.delivery.models import Exam, ExamStaff, PaperItem, Response, Sitting
from exam.validation import ValidationFailed
from grading import services
from grading.models import ScoreChange


def _sit_all(ids: dict[str, Any], answers: list[str]) -> list[int]:
    exam = db.session.get(Exam, ids["exam"])
    out = []
    for student_id, text in zip(ids["students"], answers, strict=True):
        sitting = delivery.start_sitting(db.session, exam, db.session.get(User, student_id))
        delivery.save_answer(
            db.session,
            sitting,
            op_id=f"op-{student_id}",
            paper_item_id=ids["paper"]["short_answer"],
            answer=text,
            flagged=None,
            seq=1,
            tab="tab",
        )
        delivery.submit(db.session, sitting)
        out.append(sitting.id)
    db.session.commit()
    return out


def _user(make_user: Any, name: str, role: str, exam_id: int | None = None) -> User:
    uid = make_user(name, role)
    if exam_id is not None:
        db.session.add(ExamStaff(exam_id=exam_id, user_id=uid, role="marker"))
        db.session.commit()
    return db.session.get(User, uid)


def test_double_marking_third_marker_and_arbitration(ctx: Any, exam_factory: Any, make_user: Any) -> None:
    ids = exam_factory(students=2)
    m1, m2, m3, m4 = (_user(make_user, f"marker{i}", "marker", ids["exam"]) for i in (1, 2, 3, 4))
    _sit_all(ids, ["Plants turn light into sugar.", "I don't know"])
    exam = db.session.get(Exam, ids["exam"])
    paper_item = db.session.get(PaperItem, ids["paper"]["short_answer"])
    services.configure(db.session, paper_item, double=True, tolerance=0.5, step=0.5, rubric="2: light + sugar")
    lead = db.session.get(User, ids["owner"])
    assert [c.waiting_for_me for c in services.queue(db.session, exam, m1)] == [2]

    first = services.next_response(db.session, exam, paper_item, m1)
    assert services.submit_mark(db.session, first, m1, 2).step.value == "second"
    assert services.next_response(db.session, exam, paper_item, m1) != first  # never the same answer twice
    services.submit_mark(db.session, first, m2, 2)
    assert first.score == 2.0 and first.score_source == "human" and first.sitting.needs_marking is False

    second = services.next_response(db.session, exam, paper_item, m1)
    services.submit_mark(db.session, second, m1, 0)
    assert services.submit_mark(db.session, second, m2, 2).step.value == "third"
    assert services.submit_mark(db.session, second, m3, 1).step.value == "arbitration"
    with pytest.raises(ValidationFailed, match="not saved"):
        services.submit_mark(db.session, second, m4, 1)
    done = services.submit_mark(db.session, second, lead, 0.5)
    assert done.final == 0.5 and second.score == 0.5
    trail = db.session.query(ScoreChange).filter_by(response_id=second.id).all()
    assert [(c.source, c.before, c.after) for c in trail] == [("arbitration", None, 0.5)]
    stats = {s.marker: s for s in services.marker_consistency(db.session, exam, paper_item)}
    assert stats["marker1"].marks == 2 and stats["marker2"].mean_difference == pytest.approx(0.75)


def test_bad_marks_and_released_scores(ctx: Any, exam_factory: Any, make_user: Any) -> None:
    ids = exam_factory(students=1)
    marker = _user(make_user, "mm", "marker", ids["exam"])
    _sit_all(ids, ["An answer"])
    exam = db.session.get(Exam, ids["exam"])
    paper_item = db.session.get(PaperItem, ids["paper"]["short_answer"])
    response = services.next_response(db.session, exam, paper_item, marker)
    with pytest.raises(ValidationFailed) as err:
        services.submit_mark(db.session, response, marker, 1.25)
    assert "a multiple of 0.5" in str(err.value)
    with pytest.raises(ValidationFailed):
        services.submit_mark(db.session, response, marker, 7)
    assert db.session.query(ScoreChange).count() == 0
    services.submit_mark(db.session, response, marker, 1.5)
    # Results are visible immediately under this exam's policy: the score now changes only through review.
    with pytest.raises(ValidationFailed, match="review"):
        services.set_score(db.session, response, 2.0, source="human", by=marker, reason="second thoughts")
    request = services.request_review(db.session, response, db.session.get(User, ids["students"][0]), "I wrote more")
    services.decide_review(
        db.session,
        request,
        db.session.get(User, ids["owner"]),
        accept=True,
        new_score=2.0,
        note="the second sentence counts",
    )
    assert response.score == 2.0 and db.session.query(ScoreChange).count() == 2


def test_marking_pages_and_permissions(
    app: Flask, client: FlaskClient, exam_factory: Any, make_user: Any, login: Any
) -> None:
    ids = exam_factory(students=1)
    with app.app_context():
        _sit_all(ids, ["光合作用把光能转化为化学能"])
        db.session.add(ExamStaff(exam_id=ids["exam"], user_id=make_user("mk", "marker"), role="marker"))
        db.session.commit()
        student = db.session.get(User, ids["students"][0]).username
    make_user("stranger", "marker")
    login(client, "stranger")
    pid = ids["paper"]["short_answer"]
    assert client.get(f"/marking/exams/{ids['exam']}/items/{pid}").status_code == 404
    client.post("/logout")
    login(client, student)
    assert client.get("/marking/").status_code == 403
    client.post("/logout")
    login(client, "mk")
    index = client.get("/marking/").get_data(as_text=True)
    assert "Unit test" in index
    page = client.get(f"/marking/exams/{ids['exam']}/items/{pid}").get_data(as_text=True)
    assert "光合作用" in page and student not in page  # anonymous marking
    with app.app_context():
        rid = db.session.query(Response).filter_by(paper_item_id=pid).one().id
    bad = client.post(
        f"/marking/exams/{ids['exam']}/items/{pid}", data={"response_id": rid, "score": "lots"}, follow_redirects=True
    )
    assert "a number is required (lots)" in bad.get_data(as_text=True)
    ok = client.post(
        f"/marking/exams/{ids['exam']}/items/{pid}", data={"response_id": rid, "score": "2"}, follow_redirects=True
    )
    assert "No answers are waiting" in ok.get_data(as_text=True)
    assert client.get(f"/marking/responses/{rid}/history").status_code == 403


def test_regrading_after_a_key_change_rescores_and_keeps_history(ctx: Any, exam_factory: Any) -> None:
    ids = exam_factory(students=2)
    exam = db.session.get(Exam, ids["exam"])
    pid = ids["paper"]["single_choice"]
    for student_id, answer in zip(ids["students"], ["B", "C"], strict=True):
        sitting = delivery.start_sitting(db.session, exam, db.session.get(User, student_id))
        delivery.save_answer(
            db.session,
            sitting,
            op_id=f"rg-{student_id}",
            paper_item_id=pid,
            answer=answer,
            flagged=None,
            seq=1,
            tab="tab",
        )
        delivery.submit(db.session, sitting)
    version = db.session.get(PaperItem, pid).item_version
    totals_before = sorted(s.score for s in db.session.query(Sitting).all())
    owner = db.session.get(User, ids["owner"])
    with pytest.raises(ValidationFailed, match="why"):
        services.regrade_version(db.session, version, "C", by=owner, reason=" ")
    assert services.regrade_version(db.session, version, "C", by=owner, reason="erratum: C is right") == 2
    changes = db.session.query(ScoreChange).filter_by(source="regrade").all()
    assert sorted((c.before, c.after) for c in changes) == [(0.0, 2.0), (2.0, 0.0)]
    assert "erratum" in changes[0].reason
    assert sorted(s.score for s in db.session.query(Sitting).all()) == totals_before  # one gains, one loses 2


def test_regrade_page(app: Flask, client: FlaskClient, exam_factory: Any, login: Any) -> None:
    ids = exam_factory(students=1)
    with app.app_context():
        exam = db.session.get(Exam, ids["exam"])
        sitting = delivery.start_sitting(db.session, exam, db.session.get(User, ids["students"][0]))
        delivery.save_answer(
            db.session,
            sitting,
            op_id="rg-page",
            paper_item_id=ids["paper"]["true_false"],
            answer=False,
            flagged=None,
            seq=1,
            tab="tab",
        )
        delivery.submit(db.session, sitting)
        db.session.commit()
        owner = db.session.get(User, ids["owner"]).username
    login(client, owner)
    assert "Correct a key and regrade" in client.get(f"/exams/{ids['exam']}/results").get_data(as_text=True)
    url = f"/marking/exams/{ids['exam']}/items/{ids['paper']['true_false']}/regrade"
    bad = client.post(url, data={"key": "maybe", "reason": "typo"}, follow_redirects=True).get_data(as_text=True)
    assert "key: true or false" in bad
    done = client.post(url, data={"key": "false", "reason": "the statement was misprinted"}, follow_redirects=True)
    assert "1 responses rescored" in done.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Sitting).one().score == 2.0
