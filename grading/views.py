"""Marking pages: a marker's queue, anonymised answers one by one with the rubric, set-up, consistency, audit."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from exam.auth.access import require_exam, staff_exams_query
from exam.auth.decorators import role_required
from exam.auth.models import Role
from exam.db import db
from exam.delivery.models import PaperItem, Response
from exam.errors import flash_problems
from exam.nav import register_nav
from exam.validation import ValidationFailed
from grading import services
from itembank.content import render_content

bp = Blueprint("marking", __name__, url_prefix="/marking", template_folder="templates")
register_nav("marking.index", lambda: _("Marking"), {Role.MARKER, Role.EXAMINER})


def _paper_item(exam_id: int, paper_item_id: int, role: str = "marker") -> PaperItem:
    exam = require_exam(current_user, exam_id, role)
    paper_item = db.session.get(PaperItem, paper_item_id)
    if paper_item is None or paper_item.exam_id != exam.id:
        abort(404)
    return paper_item


@bp.route("/")
@role_required(Role.MARKER, Role.EXAMINER)
def index() -> Any:
    """Exams with answers to mark, and how many are waiting for me."""
    exams = db.session.scalars(staff_exams_query(current_user, "marker")).all()
    rows = [(exam, services.queue(db.session, exam, current_user)) for exam in exams if exam.frozen_at]
    db.session.commit()  # default marking set-ups created on first view
    return render_template("marking/index.html", rows=[(e, q) for e, q in rows if q])


@bp.route("/exams/<int:exam_id>/items/<int:paper_item_id>", methods=["GET", "POST"])
@role_required(Role.MARKER, Role.EXAMINER)
def mark(exam_id: int, paper_item_id: int) -> Any:
    """Mark the next answer (the student is not shown: marking is anonymous)."""
    paper_item = _paper_item(exam_id, paper_item_id)
    if request.method == "POST":
        response = db.session.get(Response, request.form.get("response_id", type=int) or 0)
        if response is None or response.paper_item_id != paper_item.id:
            abort(404)
        raw = request.form.get("score", "")
        try:
            score = float(raw)
        except ValueError:
            flash(_("score: a number is required (%(v)s)", v=raw), "error")
            return redirect(url_for("marking.mark", exam_id=exam_id, paper_item_id=paper_item_id))
        try:
            result = services.submit_mark(db.session, response, current_user, score, request.form.get("comment"))
        except ValidationFailed as err:
            db.session.rollback()
            flash_problems(err)
        else:
            db.session.commit()
            flash(result.reason_zh if str(get_locale()).startswith("zh") else result.reason, "ok")
        return redirect(url_for("marking.mark", exam_id=exam_id, paper_item_id=paper_item_id))
    from grading.models import MachineScore

    setup = services.marking_for(db.session, paper_item)
    response = services.next_response(db.session, paper_item.exam, paper_item, current_user)
    suggestion = None
    if response is not None:
        suggestion = db.session.scalar(
            select(MachineScore).where(MachineScore.response_id == response.id).order_by(MachineScore.id.desc())
        )
    db.session.commit()
    return render_template(
        "marking/mark.html",
        paper_item=paper_item,
        setup=setup,
        response=response,
        stem=render_content(paper_item.item_version.stem),
        suggestion=suggestion,
    )


@bp.route("/exams/<int:exam_id>/items/<int:paper_item_id>/setup", methods=["POST"])
@role_required(Role.EXAMINER)
def setup(exam_id: int, paper_item_id: int) -> Any:
    """Single or double marking, tolerance, score step, rubric."""
    paper_item = _paper_item(exam_id, paper_item_id, "examiner")
    form = request.form
    try:
        services.configure(
            db.session,
            paper_item,
            double=form.get("mode") == "double",
            tolerance=float(form.get("tolerance") or 0),
            step=float(form.get("step") or 0.5),
            rubric=form.get("rubric") or None,
        )
    except (ValidationFailed, ValueError) as err:
        db.session.rollback()
        if isinstance(err, ValidationFailed):
            flash_problems(err)
        else:
            flash(_("tolerance and step must be numbers"), "error")
    else:
        db.session.commit()
        flash(_("Marking set-up saved."), "ok")
    return redirect(url_for("marking.consistency", exam_id=exam_id, paper_item_id=paper_item_id))


@bp.route("/exams/<int:exam_id>/items/<int:paper_item_id>/lead")
@role_required(Role.MARKER, Role.EXAMINER)
def consistency(exam_id: int, paper_item_id: int) -> Any:
    """The lead's view: set-up, each marker against the final scores, and the answers with their audit trail."""
    from grading import ml_service

    paper_item = _paper_item(exam_id, paper_item_id, "examiner")
    setup_row = services.marking_for(db.session, paper_item)
    stats = services.marker_consistency(db.session, paper_item.exam, paper_item)
    model = ml_service.latest_model(db.session, paper_item.item_version.item_id)
    agreement = ml_service.agreement_report(db.session, model) if model else (None, 0, None)
    db.session.commit()
    return render_template(
        "marking/lead.html", paper_item=paper_item, setup=setup_row, stats=stats, model=model, agreement=agreement
    )


@bp.route("/responses/<int:response_id>/history")
@role_required(Role.EXAMINER)
def history(response_id: int) -> Any:
    """Every change of one answer's score."""
    response = db.session.get(Response, response_id)
    if response is None:
        abort(404)
    require_exam(current_user, response.sitting.exam_id, "examiner")
    return render_template("marking/history.html", response=response, changes=services.history(db.session, response))


def parse_key(item_type: str, text: str) -> Any:
    """A key typed by an examiner: "C", "A,C", "true"/"false", or JSON for the other types."""
    import json

    text = text.strip()
    if item_type == "single_choice":
        return text.upper()
    if item_type in ("multiple_choice", "ordering"):
        return [k.strip().upper() for k in text.replace("，", ",").split(",") if k.strip()]
    if item_type == "true_false":
        if text.lower() in ("true", "t", "对", "正确", "1"):
            return True
        if text.lower() in ("false", "f", "错", "错误", "0"):
            return False
        raise ValueError(_("true or false"))
    return json.loads(text)


@bp.route("/exams/<int:exam_id>/items/<int:paper_item_id>/regrade", methods=["POST"])
@role_required(Role.EXAMINER)
def regrade(exam_id: int, paper_item_id: int) -> Any:
    """Correct a delivered item's key and rescore every response to it (audited)."""
    paper_item = _paper_item(exam_id, paper_item_id, "examiner")
    version = paper_item.item_version
    try:
        key = parse_key(version.item.type.value, request.form.get("key", ""))
        changed = services.regrade_version(
            db.session, version, key, by=current_user, reason=request.form.get("reason", "")
        )
    except ValidationFailed as err:
        db.session.rollback()
        flash_problems(err)
    except ValueError as err:
        db.session.rollback()
        flash(_("key: %(why)s", why=str(err)), "error")
    else:
        db.session.commit()
        flash(_("Key corrected; %(n)s responses rescored.", n=changed), "ok")
    return redirect(url_for("authoring.results", exam_id=exam_id))


@bp.route("/exams/<int:exam_id>/items/<int:paper_item_id>/train", methods=["POST"])
@role_required(Role.EXAMINER)
def train(exam_id: int, paper_item_id: int) -> Any:
    """Train the item's machine grader from every human-scored answer to it."""
    from grading import ml_service

    paper_item = _paper_item(exam_id, paper_item_id, "examiner")
    try:
        model = ml_service.train(db.session, paper_item, current_user)
    except ValidationFailed as err:
        db.session.rollback()
        flash_problems(err)
    else:
        db.session.commit()
        flash(_("Grader %(v)s trained on %(n)s answers.", v=model.version, n=model.n_train), "ok")
    return redirect(url_for("marking.consistency", exam_id=exam_id, paper_item_id=paper_item_id))


@bp.route("/exams/<int:exam_id>/items/<int:paper_item_id>/apply", methods=["POST"])
@role_required(Role.EXAMINER)
def apply_model(exam_id: int, paper_item_id: int) -> Any:
    """Score the waiting answers with the latest grader at the chosen confidence threshold."""
    from grading import ml_service

    paper_item = _paper_item(exam_id, paper_item_id, "examiner")
    model = ml_service.latest_model(db.session, paper_item.item_version.item_id)
    if model is None:
        abort(404)
    raw = request.form.get("threshold", "")
    try:
        threshold = None if raw == "" else float(raw)
        counts = ml_service.apply(db.session, paper_item, model, threshold, current_user)
    except ValueError:
        db.session.rollback()
        flash(_("threshold: a number between 0 and 1 (%(v)s)", v=raw), "error")
    except ValidationFailed as err:
        db.session.rollback()
        flash_problems(err)
    else:
        db.session.commit()
        flash(
            _(
                "%(s)s answers scored by the machine; %(a)s accepted; %(f)s first marks.",
                s=counts["scored"],
                a=counts["accepted"],
                f=counts["first_marks"],
            ),
            "ok",
        )
    return redirect(url_for("marking.consistency", exam_id=exam_id, paper_item_id=paper_item_id))
