"""Examiner pages for paper assembly: blueprint editor with live line counts, form previews, "use these forms"."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from exam.auth.access import require_exam
from exam.auth.decorators import role_required
from exam.auth.models import Role
from exam.db import db
from exam.errors import flash_problems
from exam.jobs import Job
from exam.validation import ValidationFailed
from itembank import assembly_service as svc
from itembank.assembly.explain import render_all
from itembank.assembly.model import Message
from itembank.assembly.plot import curves_svg, form_curves

bp = Blueprint(
    "assembly",
    __name__,
    url_prefix="/assembly",
    template_folder="templates",
    static_folder="static",
    static_url_path="/assembly/static",
)


def _preview_context(exam_id: int, stored: dict[str, Any] | None) -> dict[str, Any]:
    if not stored or "result" not in stored:  # nothing assembled yet, or the job is still searching
        return {}
    res = stored["result"]
    lang = "zh_CN" if str(get_locale()).startswith("zh") else "en"
    messages = [Message(m["code"], m["params"]) for m in res["messages"]]
    out: dict[str, Any] = {"result": res, "explanation": render_all(messages, lang)}
    if res["forms"]:
        exam = require_exam(current_user, exam_id)
        bank, _rows = svc.bank_from_db(db.session, exam.bank_id or 0)
        known = bank.index()
        forms = [f["items"] for f in res["forms"]]
        if all(i in known for f in forms for i in f):
            info, tcc = form_curves(bank, forms)
            spec, _opts = svc.parse_spec_text(stored["spec"])
            ob = spec.objective
            info_t = ob.targets if ob.kind == "info_target" else ()
            tcc_t = ob.targets if ob.kind == "tcc_match" else ()
            out["info_svg"] = curves_svg(info, _("Test information"), target_thetas=ob.thetas, targets=info_t)
            out["tcc_svg"] = curves_svg(tcc, _("Test characteristic curve"), target_thetas=ob.thetas, targets=tcc_t)
            out["content"] = _content_table(bank, spec, forms)
    return out


def _content_table(bank: Any, spec: Any, forms: list[list[str]]) -> list[dict[str, Any]]:
    index = bank.index()
    rows = []
    for c in spec.constraints:
        counts = []
        for f in forms:
            items = [bank.items[index[i]] for i in f]
            hits = [it for it in items if all(cd.matches(it, cd.attribute in spec.hierarchical) for cd in c.conditions)]
            counts.append(len(hits) if c.on == "count" else sum(it.points for it in hits))
        rows.append({"label": c.label(), "min": c.min, "max": c.max, "counts": counts})
    return rows


@bp.route("/exams/<int:exam_id>")
@role_required(Role.EXAMINER)
def editor(exam_id: int) -> Any:
    """Blueprint editor and the last preview."""
    exam = require_exam(current_user, exam_id)
    stored = (exam.settings or {}).get(svc.SETTINGS_KEY)
    text = stored["spec"] if stored else svc.DEFAULT_SPEC
    job = db.session.get(Job, stored["job_id"]) if stored and stored.get("job_id") else None
    return render_template(
        "assembly/editor.html", exam=exam, spec_text=text, job=job, **_preview_context(exam_id, stored)
    )


@bp.route("/exams/<int:exam_id>/lines", methods=["POST"])
@role_required(Role.EXAMINER)
def lines(exam_id: int) -> Any:
    """Live: how many bank items fit each line of the blueprint being typed."""
    exam = require_exam(current_user, exam_id)
    return jsonify({"lines": svc.supply(db.session, exam, request.form.get("spec", ""))})


@bp.route("/exams/<int:exam_id>/preview", methods=["POST"])
@role_required(Role.EXAMINER)
def preview(exam_id: int) -> Any:
    """Start assembling in the background; the editor shows the best paper so far until the result is in."""
    from itembank.tasks import assemble_preview

    exam = require_exam(current_user, exam_id)
    try:
        job = svc.start_preview(db.session, exam, request.form.get("spec", ""), current_user.id)
    except ValidationFailed as exc:
        db.session.rollback()
        flash_problems(exc)
        return render_template("assembly/editor.html", exam=exam, spec_text=request.form.get("spec", "")), 422
    db.session.commit()
    assemble_preview.delay(exam.id, job.id)
    return redirect(url_for("assembly.editor", exam_id=exam_id))


@bp.route("/exams/<int:exam_id>/use", methods=["POST"])
@role_required(Role.EXAMINER)
def use(exam_id: int) -> Any:
    """Freeze the previewed forms into the exam's paper."""
    exam = require_exam(current_user, exam_id)
    try:
        n = svc.use_forms(db.session, exam)
    except ValidationFailed as exc:
        db.session.rollback()
        flash_problems(exc)
        return redirect(url_for("assembly.editor", exam_id=exam_id))
    db.session.commit()
    flash(_("%(n)d items placed into the paper.", n=n), "success")
    return redirect(url_for("assembly.editor", exam_id=exam_id))
