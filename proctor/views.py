"""Proctor pages: the review queue by risk, a sitting's timeline with evidence, decisions, rule statistics.

Frames are personal data: only proctors assigned to the exam see them (not the exam's owner, not admins).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from exam.auth.decorators import role_required
from exam.auth.models import Role, User
from exam.db import db
from exam.delivery.models import ExamStaff, SaveReceipt, Sitting
from exam.errors import flash_problems
from exam.nav import register_nav
from exam.validation import ValidationFailed
from proctor import services
from proctor.models import BrowserEvent, Flag, Frame, ProctorSession

bp = Blueprint("proctor", __name__, url_prefix="/proctor", template_folder="templates")
register_nav("proctor.queue", lambda: _("Proctoring"), {Role.PROCTOR})


def assigned_exam_ids(user: User) -> list[int]:
    """Exams on which the user is an assigned proctor."""
    return list(
        db.session.scalars(
            select(ExamStaff.exam_id).where(ExamStaff.user_id == user.id, ExamStaff.role == "proctor")
        ).all()
    )


def require_proctored_sitting(sitting_id: int) -> Sitting:
    """A sitting of an exam this proctor is assigned to, or 404."""
    sitting = db.session.get(Sitting, sitting_id)
    if sitting is None or sitting.exam_id not in assigned_exam_ids(current_user):
        abort(404)
    return sitting


@bp.route("/")
@role_required(Role.PROCTOR)
def queue() -> Any:
    """Sittings of my exams, riskiest first, with their open flags."""
    exam_ids = assigned_exam_ids(current_user)
    open_flags = (
        select(Flag.sitting_id, func.count(Flag.id).label("n")).where(Flag.status == "open").group_by(Flag.sitting_id)
    ).subquery()
    rows = db.session.execute(
        select(Sitting, ProctorSession, func.coalesce(open_flags.c.n, 0))
        .join(ProctorSession, ProctorSession.sitting_id == Sitting.id)
        .outerjoin(open_flags, open_flags.c.sitting_id == Sitting.id)
        .where(Sitting.exam_id.in_(exam_ids))
        .order_by(ProctorSession.risk.desc(), Sitting.id)
        .limit(500)
    ).all()
    return render_template("proctor/queue.html", rows=rows)


@bp.route("/sittings/<int:sitting_id>")
@role_required(Role.PROCTOR)
def timeline(sitting_id: int) -> Any:
    """One sitting: flags with thresholds and evidence, frames, browser events and answer save times."""
    sitting = require_proctored_sitting(sitting_id)
    flags = db.session.scalars(select(Flag).where(Flag.sitting_id == sitting.id).order_by(Flag.start)).all()
    frames = db.session.scalars(select(Frame).where(Frame.sitting_id == sitting.id).order_by(Frame.taken_at)).all()
    events = db.session.scalars(
        select(BrowserEvent).where(BrowserEvent.sitting_id == sitting.id).order_by(BrowserEvent.at)
    ).all()
    saves = db.session.scalars(
        select(SaveReceipt).where(SaveReceipt.sitting_id == sitting.id).order_by(SaveReceipt.received_at)
    ).all()
    entries: list[tuple[Any, str, Any]] = [(f.start, "flag", f) for f in flags]
    entries += [(e.at, "event", e) for e in events]
    entries += [(s.received_at, "save", s) for s in saves]
    entries.sort(key=lambda e: e[0])
    return render_template(
        "proctor/timeline.html",
        sitting=sitting,
        record=db.session.get(ProctorSession, sitting.id),
        flags=flags,
        frames=frames,
        entries=entries,
        frame_ids={f.id for f in frames if f.path},
    )


@bp.route("/frames/<int:frame_id>.jpg")
@role_required(Role.PROCTOR)
def frame_image(frame_id: int) -> Any:
    """A frame's JPEG, for assigned proctors only; gone once retention deleted it."""
    frame = db.session.get(Frame, frame_id)
    if frame is None:
        abort(404)
    require_proctored_sitting(frame.sitting_id)
    path = services.frame_file(frame)
    if path is None:
        abort(404)
    response = send_file(path, mimetype="image/jpeg", max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/flags/<int:flag_id>/decide", methods=["POST"])
@role_required(Role.PROCTOR)
def decide(flag_id: int) -> Any:
    """Dismiss, confirm or escalate a flag with a note."""
    flag = db.session.get(Flag, flag_id)
    if flag is None:
        abort(404)
    require_proctored_sitting(flag.sitting_id)
    try:
        services.decide(db.session, flag, current_user, request.form.get("decision", ""), request.form.get("note"))
    except ValidationFailed as err:
        db.session.rollback()
        flash_problems(err)
    else:
        db.session.commit()
        flash(_("Decision recorded."), "ok")
    return redirect(url_for("proctor.timeline", sitting_id=flag.sitting_id))


@bp.route("/rules")
@role_required(Role.PROCTOR, Role.EXAMINER)
def rules() -> Any:
    """Each rule's false-flag rate, computed from proctors' decisions."""
    return render_template("proctor/rules.html", rates=services.false_flag_rates(db.session))


def outcome_for(sitting: Sitting) -> str | None:
    """The proctoring outcome shown beside results (clear / confirmed / escalated), if the sitting was reviewed."""
    record = db.session.get(ProctorSession, sitting.id)
    return record.outcome if record else None
