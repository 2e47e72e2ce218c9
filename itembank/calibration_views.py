"""Examiner pages for calibration: start a run on an exam's responses, follow it, read the item analysis with
curves and warnings, and accept it into the bank."""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from exam.auth.access import require_exam
from exam.auth.decorators import role_required
from exam.auth.models import Role, User
from exam.db import db
from exam.delivery.models import Candidate
from exam.jobs import Job, create_job
from exam.validation import ValidationFailed
from itembank import calibration_service as service
from itembank.assembly.plot import GRID, curves_svg
from itembank.calibration_models import CalibrationRun
from itembank.content import plain_text
from itembank.irt.models import ItemParams, category_probs, item_information
from itembank.models import Item

bp = Blueprint("calibration", __name__, url_prefix="/calibration", template_folder="templates")

WARNINGS = {
    "negative_discrimination": _l("Negative discrimination: stronger students do worse on this item. Check the key."),
    "weak_discrimination": _l("Discrimination near zero: the item hardly separates strong from weak students."),
    "misfit": _l("The model does not fit this item (S-X2 p < 0.01)."),
    "dif_c": _l("Large DIF (ETS class C) between the two groups: review the item for bias."),
    "extreme_difficulty": _l("Almost everybody (or nobody) gets this item right."),
}


def _run(run_id: int) -> CalibrationRun:
    run = db.session.get(CalibrationRun, run_id)
    if run is None:
        abort(404)
    require_exam(current_user, run.exam_id, "examiner")
    return run


@bp.route("/exams/<int:exam_id>")
@role_required(Role.EXAMINER)
def exam_runs(exam_id: int) -> Any:
    """Runs on this exam and a form to start one."""
    exam = require_exam(current_user, exam_id, "examiner")
    runs = db.session.scalars(
        select(CalibrationRun).where(CalibrationRun.exam_id == exam.id).order_by(CalibrationRun.id.desc())
    ).all()
    classes = sorted(
        {
            c
            for c in db.session.scalars(
                select(User.class_name)
                .join(Candidate, Candidate.user_id == User.id)
                .where(Candidate.exam_id == exam.id)
            ).all()
            if c
        }
    )
    return render_template("calibration/runs.html", exam=exam, runs=runs, classes=classes)


@bp.route("/exams/<int:exam_id>/runs", methods=["POST"])
@role_required(Role.EXAMINER)
def start(exam_id: int) -> Any:
    """Queue a calibration run as a background job."""
    from itembank.tasks import calibrate_run

    exam = require_exam(current_user, exam_id, "examiner")
    groups = (request.form.get("group_a") or "", request.form.get("group_b") or "")
    try:
        run = service.start_run(
            db.session,
            exam,
            current_user,
            request.form.get("model", "2pl"),
            dif_groups=groups if all(groups) and groups[0] != groups[1] else None,
        )
    except ValidationFailed as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("calibration.exam_runs", exam_id=exam_id))
    job = create_job("calibration", {"run_id": run.id}, current_user.id)
    run.job_id = job.id
    db.session.commit()
    calibrate_run.delay(run.id, job.id)
    return redirect(url_for("calibration.run_page", run_id=run.id))


def _curves(run: CalibrationRun) -> dict[int, str]:
    svgs = {}
    for result in run.items:
        steps = np.array([result.thresholds]) if result.thresholds else np.zeros((0, 0))
        params = ItemParams(
            run.model, np.array([result.a or 1.0]), np.array([result.b or 0.0]), np.array([result.c or 0.0]), steps
        )
        probs = category_probs(params, GRID)[0]
        expected = probs @ np.arange(probs.shape[1])
        info = item_information(params, GRID)[:, 0]
        svgs[result.item_id] = curves_svg(
            np.array([expected]), str(_("Expected score (ICC)")), width=300, height=180
        ) + curves_svg(np.array([info]), str(_("Information")), width=300, height=180)
    return svgs


@bp.route("/runs/<int:run_id>")
@role_required(Role.EXAMINER)
def run_page(run_id: int) -> Any:
    """A run's summary, per-item results, curves and warnings."""
    run = _run(run_id)
    job = db.session.get(Job, run.job_id) if run.job_id else None
    items = {i.id: i for i in db.session.scalars(select(Item).where(Item.id.in_([r.item_id for r in run.items])))}
    return render_template(
        "calibration/run.html",
        run=run,
        job=job,
        items=items,
        curves=_curves(run) if run.items else {},
        warnings=WARNINGS,
        plain_text=plain_text,
    )


@bp.route("/runs/<int:run_id>/accept", methods=["POST"])
@role_required(Role.EXAMINER)
def accept(run_id: int) -> Any:
    """Write the run's estimates into the bank (with history)."""
    run = _run(run_id)
    try:
        changed = service.accept_run(db.session, run, current_user)
    except ValidationFailed as err:
        db.session.rollback()
        flash(err.message, "error")
    else:
        db.session.commit()
        flash(_("%(n)s items now carry these parameters in the bank.", n=changed), "ok")
    return redirect(url_for("calibration.run_page", run_id=run.id))
