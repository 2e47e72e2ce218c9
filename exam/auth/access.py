"""Object-level permissions: who may see and change which bank, exam and sitting.

Objects a user may not see are reported as missing (404), so ids cannot be probed.
"""

from __future__ import annotations

from flask import abort
from sqlalchemy import Select, exists, or_, select

from exam.auth.models import Role, User
from exam.db import db
from exam.delivery.models import Exam, ExamStaff, Sitting
from itembank.models import BankShare, ItemBank


def visible_banks_query(user: User) -> Select[tuple[ItemBank]]:
    """Banks the user owns or that were shared with them (admins see all)."""
    query = select(ItemBank).order_by(ItemBank.name)
    if user.role is Role.ADMIN:
        return query
    shared = exists().where(BankShare.bank_id == ItemBank.id, BankShare.user_id == user.id)
    return query.where(or_(ItemBank.owner_id == user.id, shared))


def can_access_bank(user: User, bank: ItemBank, *, edit: bool = False) -> bool:
    """True when the user may read (or, with edit, change) the bank."""
    if user.role is Role.ADMIN or bank.owner_id == user.id:
        return True
    if not user.has_role(Role.EXAMINER):
        return False
    share = db.session.get(BankShare, (bank.id, user.id))
    return share is not None and (share.can_edit or not edit)


def require_bank(user: User, bank_id: int, *, edit: bool = False) -> ItemBank:
    """The bank, or 404 when it does not exist or the user may not reach it."""
    bank = db.session.get(ItemBank, bank_id)
    if bank is None or not can_access_bank(user, bank, edit=edit):
        abort(404)
    return bank


def exam_role(user: User, exam: Exam, role: str) -> bool:
    """True when the user holds `role` (examiner/proctor/marker) on this exam; owners and admins hold all."""
    if user.role is Role.ADMIN or exam.owner_id == user.id:
        return True
    if role == "examiner" and not user.has_role(Role.EXAMINER):
        return False
    return db.session.get(ExamStaff, (exam.id, user.id, role)) is not None or (
        role != "examiner" and db.session.get(ExamStaff, (exam.id, user.id, "examiner")) is not None
    )


def staff_exams_query(user: User, role: str) -> Select[tuple[Exam]]:
    """Exams on which the user holds `role` (see exam_role)."""
    query = select(Exam).order_by(Exam.opens_at.desc())
    if user.role is Role.ADMIN:
        return query
    roles = {role, "examiner"}
    staff = exists().where(ExamStaff.exam_id == Exam.id, ExamStaff.user_id == user.id, ExamStaff.role.in_(roles))
    return query.where(or_(Exam.owner_id == user.id, staff))


def require_exam(user: User, exam_id: int, role: str = "examiner") -> Exam:
    """The exam, or 404 when the user holds no such role on it."""
    exam = db.session.get(Exam, exam_id)
    if exam is None or not exam_role(user, exam, role):
        abort(404)
    return exam


def require_own_sitting(user: User, sitting_id: int) -> Sitting:
    """A student's own sitting, or 404 (students never reach anyone else's)."""
    sitting = db.session.get(Sitting, sitting_id)
    if sitting is None or sitting.user_id != user.id:
        abort(404)
    return sitting
