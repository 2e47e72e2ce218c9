"""Delivery services on a real database: start, save (idempotent, ordered), take-over, submit, score, expire."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from exam.auth.models import User
from exam.db import db, utcnow
from exam.delivery import services
from exam.delivery.models import Exam, Response, SaveReceipt, Sitting, SittingState
from exam.delivery.rules import DeliveryError


def _start(ids: dict[str, Any], index: int = 0) -> Sitting:
    exam = db.session.get(Exam, ids["exam"])
    user = db.session.get(User, ids["students"][index])
    return services.start_sitting(db.session, exam, user)


def test_start_is_idempotent_and_uses_the_server_clock(ctx: Any, exam_factory: Any) -> None:
    ids = exam_factory(duration=30)
    first = _start(ids)
    again = _start(ids)
    assert first.id == again.id
    assert timedelta(minutes=29) < first.deadline_at - utcnow() <= timedelta(minutes=30)
    assert sorted(first.item_order) == sorted(ids["paper"].values())


def test_only_roster_students_start_open_exams(ctx: Any, exam_factory: Any, make_user: Any) -> None:
    ids = exam_factory()
    outsider = db.session.get(User, make_user("outsider", "student"))
    with pytest.raises(DeliveryError) as err:
        services.start_sitting(db.session, db.session.get(Exam, ids["exam"]), outsider)
    assert err.value.code == "not_on_roster"
    closed = exam_factory(open_now=False)
    db.session.get(Exam, closed["exam"]).frozen_at = utcnow()
    with pytest.raises(DeliveryError) as err:
        _start(closed)
    assert err.value.code == "exam_closed"


def test_state_never_contains_keys(ctx: Any, exam_factory: Any) -> None:
    sitting = _start(exam_factory())
    state = services.sitting_state(sitting)
    text = repr(state)
    assert "accepted" not in text and "key" not in {k for item in state["items"] for k in item}
    single = next(i for i in state["items"] if i["type"] == "single_choice")
    assert [o["key"] for o in single["options"]] == ["A", "B", "C", "D"]
    assert "explanation" not in text


def test_save_is_idempotent_by_op_id(ctx: Any, exam_factory: Any) -> None:
    ids = exam_factory()
    sitting = _start(ids)
    pid = ids["paper"]["single_choice"]
    first = services.save_answer(
        db.session, sitting, op_id="op-1", paper_item_id=pid, answer="B", flagged=None, seq=1, tab="t1"
    )
    again = services.save_answer(
        db.session, sitting, op_id="op-1", paper_item_id=pid, answer="B", flagged=None, seq=1, tab="t1"
    )
    assert first.applied and again.applied
    assert db.session.query(SaveReceipt).count() == 1
    assert db.session.query(Response).one().answer == "B"


def test_an_overtaken_save_is_acknowledged_but_not_applied(ctx: Any, exam_factory: Any) -> None:
    ids = exam_factory()
    sitting = _start(ids)
    pid = ids["paper"]["fill_blank"]
    services.save_answer(
        db.session, sitting, op_id="n2", paper_item_id=pid, answer=["北京"], flagged=True, seq=2, tab="t"
    )
    late = services.save_answer(
        db.session, sitting, op_id="n1", paper_item_id=pid, answer=["北"], flagged=False, seq=1, tab="t"
    )
    assert not late.applied
    response = db.session.query(Response).one()
    assert response.answer == ["北京"] and response.flagged is True


def test_wrong_shaped_answers_are_refused_and_change_nothing(ctx: Any, exam_factory: Any) -> None:
    ids = exam_factory()
    sitting = _start(ids)
    for pid, answer in [
        (ids["paper"]["single_choice"], "Z"),
        (ids["paper"]["true_false"], "yes"),
        (ids["paper"]["multiple_choice"], "A"),
    ]:
        with pytest.raises(DeliveryError) as err:
            services.save_answer(
                db.session, sitting, op_id=f"bad{pid}", paper_item_id=pid, answer=answer, flagged=None, seq=1, tab="t"
            )
        assert err.value.status == 422
    assert db.session.query(Response).count() == 0


def test_second_tab_must_take_over(ctx: Any, exam_factory: Any) -> None:
    ids = exam_factory()
    sitting = _start(ids)
    services.claim_sitting(db.session, sitting, "tab-a", force=False)
    with pytest.raises(DeliveryError) as err:
        services.claim_sitting(db.session, sitting, "tab-b", force=False)
    assert err.value.code == "other_tab"
    assert services.claim_sitting(db.session, sitting, "tab-b", force=True) is True
    with pytest.raises(DeliveryError):  # the displaced tab cannot silently keep writing
        services.save_answer(
            db.session,
            sitting,
            op_id="x",
            paper_item_id=ids["paper"]["true_false"],
            answer=True,
            flagged=None,
            seq=1,
            tab="tab-a",
        )


def test_submit_scores_objective_items_and_leaves_open_ones_for_marking(ctx: Any, exam_factory: Any) -> None:
    ids = exam_factory()
    sitting = _start(ids)
    answers = {
        "single_choice": "B",
        "multiple_choice": ["A", "B"],
        "true_false": False,
        "fill_blank": ["Beijing"],
        "short_answer": "Plants turn light into sugar.",
    }
    for n, (kind, answer) in enumerate(answers.items()):
        services.save_answer(
            db.session,
            sitting,
            op_id=f"o{n}",
            paper_item_id=ids["paper"][kind],
            answer=answer,
            flagged=None,
            seq=1,
            tab="t",
        )
    services.submit(db.session, sitting)
    assert sitting.state is SittingState.SUBMITTED
    assert sitting.score == pytest.approx(6.0)  # single, multiple, fill-blank right; true/false wrong
    assert sitting.max_score == pytest.approx(10.0)
    assert sitting.needs_marking is True
    with pytest.raises(DeliveryError):
        services.save_answer(
            db.session,
            sitting,
            op_id="late",
            paper_item_id=ids["paper"]["single_choice"],
            answer="A",
            flagged=None,
            seq=9,
            tab="t",
        )
    services.submit(db.session, sitting)  # idempotent
    assert sitting.submitted_by == "student"


def test_clock_submits_overdue_sittings(ctx: Any, exam_factory: Any) -> None:
    ids = exam_factory(duration=1)
    sitting = _start(ids)
    services.save_answer(
        db.session,
        sitting,
        op_id="a",
        paper_item_id=ids["paper"]["true_false"],
        answer=True,
        flagged=None,
        seq=1,
        tab="t",
    )
    later = sitting.deadline_at + timedelta(seconds=60)
    ack = services.save_answer(
        db.session,
        sitting,
        op_id="b",
        paper_item_id=ids["paper"]["single_choice"],
        answer="B",
        flagged=None,
        seq=1,
        tab="t",
        now=later,
    )
    assert ack.applied  # within the grace for saves queued offline before the deadline
    assert services.expire_overdue(db.session, now=sitting.deadline_at + timedelta(minutes=5)) == 1
    assert sitting.state is SittingState.SUBMITTED and sitting.submitted_by == "clock"
    assert sitting.submitted_at == sitting.deadline_at
    assert sitting.score == pytest.approx(4.0)
