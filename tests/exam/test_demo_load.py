"""The demo loads real-sized, consistent data once, and a second run changes nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import Flask
from sqlalchemy import func, select

from exam.auth.models import Role, User
from exam.db import db, utcnow
from exam.delivery.models import Exam, Response, Sitting, SittingState
from exam.delivery.services import score_sitting
from exam.demo import DEMO_LOGINS, load_demo
from itembank.models import Item, ItemType


def test_demo_is_complete_consistent_and_idempotent(app: Flask, client: Any, login: Any) -> None:
    with app.app_context():
        lines = load_demo(db.session, students=300, seed=7)
        db.session.commit()
        assert lines[0] == "Demo loaded."
        roles = {u.role for u in db.session.scalars(select(User))}
        assert roles == set(Role)
        items = db.session.scalars(select(Item)).all()
        assert len(items) >= 300
        assert {i.type for i in items} == set(ItemType)
        assert all(i.irt_a and i.irt_b is not None for i in items)
        assert all(i.knowledge_points and i.current_version_id for i in items)
        exams = db.session.scalars(select(Exam).order_by(Exam.opens_at)).all()
        past, open_exam = exams
        now = utcnow()
        assert not past.is_open(now) and open_exam.is_open(now) and open_exam.frozen_at is not None
        sittings = db.session.scalars(select(Sitting).where(Sitting.exam_id == past.id)).all()
        assert len(sittings) == 300 and all(s.state is SittingState.SUBMITTED for s in sittings)
        scores = np.array([s.score for s in sittings])
        assert scores.std() > 0 and scores.max() <= sittings[0].max_score
        # Stored simulated scores agree with the real scoring rules.
        for sitting in sittings[:15]:
            before = sitting.score
            score_sitting(db.session, sitting)
            assert abs(sitting.score - before) < 1e-6, (sitting.id, before, sitting.score)
        db.session.rollback()
        counts = (db.session.scalar(select(func.count(User.id))), db.session.scalar(select(func.count(Response.id))))
        again = load_demo(db.session, students=300, seed=7)
        db.session.commit()
        assert again[0].startswith("The demo is already loaded")
        assert counts == (
            db.session.scalar(select(func.count(User.id))),
            db.session.scalar(select(func.count(Response.id))),
        )
    _, username, password = next(x for x in DEMO_LOGINS if x[0] == "student")
    assert login(client, username, password).status_code == 302
    assert "期中数学测验" in client.get("/my/exams").get_data(as_text=True)
