"""Object-level access: every role against every other role's banks, exams and sittings."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.exceptions import NotFound

from exam.auth import access
from exam.auth.models import User
from exam.db import db
from exam.delivery import services
from exam.delivery.models import Exam, ExamStaff
from itembank.models import BankShare, ItemBank


@pytest.fixture
def world(ctx: Any, exam_factory: Any, make_user: Any) -> dict[str, Any]:
    ids = exam_factory(students=2)
    people = {
        role: db.session.get(User, make_user(f"other_{role}", role))
        for role in ("examiner", "proctor", "marker", "student", "admin")
    }
    people["owner"] = db.session.get(User, ids["owner"])
    people["student0"] = db.session.get(User, ids["students"][0])
    people["student1"] = db.session.get(User, ids["students"][1])
    return {"ids": ids, **people}


def test_banks_visible_to_owner_sharee_and_admin_only(world: dict[str, Any]) -> None:
    bank = db.session.get(ItemBank, world["ids"]["bank"])
    assert access.can_access_bank(world["owner"], bank, edit=True)
    assert access.can_access_bank(world["admin"], bank, edit=True)
    for role in ("examiner", "proctor", "marker", "student"):
        assert not access.can_access_bank(world[role], bank)
        with pytest.raises(NotFound):
            access.require_bank(world[role], bank.id)
    db.session.add(BankShare(bank_id=bank.id, user_id=world["examiner"].id, can_edit=False))
    db.session.flush()
    assert access.can_access_bank(world["examiner"], bank)
    assert not access.can_access_bank(world["examiner"], bank, edit=True)
    visible = db.session.scalars(access.visible_banks_query(world["examiner"])).all()
    assert [b.id for b in visible] == [bank.id]
    assert db.session.scalars(access.visible_banks_query(world["student"])).all() == []


def test_exam_roles_are_per_exam(world: dict[str, Any]) -> None:
    exam = db.session.get(Exam, world["ids"]["exam"])
    for role in ("examiner", "proctor", "marker"):
        for who in ("examiner", "proctor", "marker", "student"):
            assert not access.exam_role(world[who], exam, role)
        assert access.exam_role(world["owner"], exam, role) and access.exam_role(world["admin"], exam, role)
    db.session.add(ExamStaff(exam_id=exam.id, user_id=world["proctor"].id, role="proctor"))
    db.session.flush()
    assert access.exam_role(world["proctor"], exam, "proctor")
    assert not access.exam_role(world["proctor"], exam, "marker")
    assert not access.exam_role(world["proctor"], exam, "examiner")
    with pytest.raises(NotFound):
        access.require_exam(world["marker"], exam.id, "marker")
    assert [e.id for e in db.session.scalars(access.staff_exams_query(world["proctor"], "proctor"))] == [exam.id]


def test_students_reach_only_their_own_sitting(world: dict[str, Any]) -> None:
    exam = db.session.get(Exam, world["ids"]["exam"])
    mine = services.start_sitting(db.session, exam, world["student0"])
    assert access.require_own_sitting(world["student0"], mine.id) is mine
    for who in ("student1", "student", "owner", "admin", "proctor"):
        with pytest.raises(NotFound):
            access.require_own_sitting(world[who], mine.id)
