"""Examiner pages: exams, papers, rosters, accommodations, staff, publishing, results and exports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import to_user_timezone, to_utc
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import or_, select
from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange

from exam.auth.access import require_exam, staff_exams_query, visible_banks_query
from exam.auth.decorators import role_required
from exam.auth.models import Role
from exam.authoring import services
from exam.db import db, utcnow
from exam.delivery.models import Exam
from exam.errors import flash_problems
from exam.validation import ValidationFailed
from itembank.content import plain_text
from itembank.models import Item, ItemVersion

bp = Blueprint("authoring", __name__, url_prefix="/exams")

MC_RULES = [
    ("all_or_nothing", _l("All or nothing")),
    ("partial_per_option", _l("Partial credit per correct option")),
    ("penalty", _l("Partial credit with a penalty for wrong options")),
    ("cn_partial", _l("Full if all correct, partial if a correct subset, zero if any wrong")),
]
POLICIES = [
    ("immediately", _l("Immediately after submitting")),
    ("after_close", _l("After the exam closes")),
    ("manual", _l("When I release them")),
    ("never", _l("Never")),
]


class ExamForm(FlaskForm):
    """Exam settings; times are entered in the school's time zone and stored in UTC."""

    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("Instructions"), validators=[Length(max=5000)])
    opens_at = DateTimeLocalField(_l("Opens"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    closes_at = DateTimeLocalField(_l("Closes"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    duration_minutes = IntegerField(_l("Duration (minutes)"), validators=[DataRequired(), NumberRange(1, 24 * 60)])
    shuffle_items = BooleanField(_l("Shuffle the order of items for each student"))
    shuffle_options = BooleanField(_l("Shuffle the order of options for each student"))
    multiple_choice_rule = SelectField(_l("Multiple-choice scoring"), choices=MC_RULES)
    results_policy = SelectField(_l("Students see their results"), choices=POLICIES)
    proctored = BooleanField(_l("Webcam proctoring"))

    def settings(self) -> services.ExamSettings:
        """The validated form as service input, times converted to UTC."""
        return services.ExamSettings(
            title=self.title.data or "",
            description=self.description.data or None,
            opens_at=to_utc(self.opens_at.data).replace(tzinfo=UTC),
            closes_at=to_utc(self.closes_at.data).replace(tzinfo=UTC),
            duration_minutes=self.duration_minutes.data or 0,
            shuffle_items=bool(self.shuffle_items.data),
            shuffle_options=bool(self.shuffle_options.data),
            multiple_choice_rule=self.multiple_choice_rule.data,
            results_policy=self.results_policy.data,
            proctored=bool(self.proctored.data),
        )


def _local(value: datetime) -> datetime:
    return to_user_timezone(value).replace(tzinfo=None)


def _form_errors(form: FlaskForm) -> None:
    for name, errors in form.errors.items():
        label = getattr(form, name).label.text if hasattr(form, name) else name
        for error in errors:
            flash(f"{label}: {error}", "error")


@bp.route("/")
@role_required(Role.EXAMINER, Role.PROCTOR, Role.MARKER)
def exams() -> Any:
    """Exams the user works on."""
    role = {Role.PROCTOR: "proctor", Role.MARKER: "marker"}.get(current_user.role, "examiner")
    rows = db.session.scalars(staff_exams_query(current_user, role).order_by(Exam.opens_at.desc())).all()
    return render_template("authoring/exams.html", exams=rows, now=utcnow())


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.EXAMINER)
def new_exam() -> Any:
    """Create an exam."""
    form = ExamForm()
    if request.method == "GET":
        start = utcnow().replace(second=0, microsecond=0) + timedelta(hours=1)
        form.opens_at.data = _local(start)
        form.closes_at.data = _local(start + timedelta(hours=2))
        form.duration_minutes.data = 60
    elif form.validate_on_submit():
        try:
            exam = services.create_exam(db.session, current_user, form.settings())
        except ValidationFailed as err:
            db.session.rollback()
            flash_problems(err)
        else:
            db.session.commit()
            flash(_("Exam created. Now add items and students."), "ok")
            return redirect(url_for("authoring.exam", exam_id=exam.id))
    else:
        _form_errors(form)
    return render_template("authoring/exam_form.html", form=form, exam=None)


@bp.route("/<int:exam_id>", methods=["GET", "POST"])
@role_required(Role.EXAMINER)
def exam(exam_id: int) -> Any:
    """An exam's page: settings, paper, roster, staff, publishing."""
    target = require_exam(current_user, exam_id, "examiner")
    form = ExamForm(obj=target) if request.method == "GET" else ExamForm()
    if request.method == "GET":
        form.opens_at.data = _local(target.opens_at)
        form.closes_at.data = _local(target.closes_at)
        form.results_policy.data = target.results_policy.value
    elif form.validate_on_submit():
        try:
            services.update_exam(db.session, target, form.settings())
        except ValidationFailed as err:
            db.session.rollback()
            flash_problems(err)
        else:
            db.session.commit()
            flash(_("Settings saved."), "ok")
            return redirect(url_for("authoring.exam", exam_id=target.id))
    else:
        _form_errors(form)
    banks = db.session.scalars(visible_banks_query(current_user)).all()
    found: list[Item] = []
    query = request.args.get("q", "").strip()
    bank_id = request.args.get("bank", type=int)
    if bank_id or query:
        statement = (
            select(Item)
            .join(ItemVersion, Item.current_version_id == ItemVersion.id)
            .where(Item.bank_id.in_([b.id for b in banks]), Item.status == "active")
        )
        if bank_id:
            statement = statement.where(Item.bank_id == bank_id)
        if query:
            statement = statement.where(or_(ItemVersion.stem.ilike(f"%{query}%"), Item.source_id == query))
        found = list(db.session.scalars(statement.order_by(Item.id).limit(100)).all())
    return render_template(
        "authoring/exam.html",
        exam=target,
        form=form,
        banks=banks,
        found=found,
        query=query,
        bank_id=bank_id,
        plain_text=plain_text,
        local=_local,
    )


def _action(exam_id: int, action: Any, success: str) -> Any:
    target = require_exam(current_user, exam_id, "examiner")
    try:
        action(target)
    except ValidationFailed as err:
        db.session.rollback()
        flash_problems(err)
    else:
        db.session.commit()
        flash(success, "ok")
    return redirect(request.form.get("next") or url_for("authoring.exam", exam_id=exam_id))


@bp.route("/<int:exam_id>/items", methods=["POST"])
@role_required(Role.EXAMINER)
def add_items(exam_id: int) -> Any:
    """Add the ticked items to the paper."""
    ids = [int(v) for v in request.form.getlist("item_id") if v.isdigit()]
    section = request.form.get("section") or None
    return _action(
        exam_id,
        lambda e: services.add_items(db.session, e, current_user, ids, section),
        _("%(n)s item(s) added.", n=len(ids)),
    )


@bp.route("/<int:exam_id>/items/<int:paper_item_id>/remove", methods=["POST"])
@role_required(Role.EXAMINER)
def remove_item(exam_id: int, paper_item_id: int) -> Any:
    """Take an item off the paper."""
    return _action(exam_id, lambda e: services.remove_paper_item(db.session, e, paper_item_id), _("Item removed."))


@bp.route("/<int:exam_id>/items/<int:paper_item_id>/points", methods=["POST"])
@role_required(Role.EXAMINER)
def item_points(exam_id: int, paper_item_id: int) -> Any:
    """Change an item's points on this paper."""
    raw = request.form.get("points", "")
    try:
        points = float(raw)
    except ValueError:
        points = -1.0
    return _action(exam_id, lambda e: services.set_points(db.session, e, paper_item_id, points), _("Points saved."))


@bp.route("/<int:exam_id>/roster", methods=["POST"])
@role_required(Role.EXAMINER)
def roster(exam_id: int) -> Any:
    """Add students from the text box (one username per line, optional extra minutes) or an uploaded file."""

    def apply(e: Any) -> None:
        upload = request.files.get("file")
        if upload and upload.filename:
            entries = services.parse_roster_file(upload.filename, upload.read())
        else:
            entries = services.parse_roster_text(request.form.get("usernames", ""))
        services.add_to_roster(db.session, e, entries)

    return _action(exam_id, apply, _("Roster updated."))


@bp.route("/<int:exam_id>/roster/<int:user_id>/remove", methods=["POST"])
@role_required(Role.EXAMINER)
def roster_remove(exam_id: int, user_id: int) -> Any:
    """Take a student off the roster."""
    return _action(exam_id, lambda e: services.remove_from_roster(db.session, e, user_id), _("Student removed."))


@bp.route("/<int:exam_id>/staff", methods=["POST"])
@role_required(Role.EXAMINER)
def staff(exam_id: int) -> Any:
    """Give a colleague a role on this exam."""
    username = request.form.get("username", "").strip()
    role = request.form.get("role", "")
    return _action(exam_id, lambda e: services.set_staff(db.session, e, username, role), _("Staff updated."))


@bp.route("/<int:exam_id>/publish", methods=["POST"])
@role_required(Role.EXAMINER)
def publish(exam_id: int) -> Any:
    """Freeze the paper and open the exam to its roster in its window."""
    return _action(exam_id, lambda e: services.publish(db.session, e), _("Published: the paper is frozen."))


@bp.route("/<int:exam_id>/results")
@role_required(Role.EXAMINER)
def results(exam_id: int) -> Any:
    """The results table, with CSV/XLSX export."""
    target = require_exam(current_user, exam_id, "examiner")
    fmt = request.args.get("format")
    if fmt:
        data = services.export_results(db.session, target, fmt)
        mimetype = "text/csv" if fmt == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(
            data,
            mimetype=mimetype,
            headers={"Content-Disposition": f'attachment; filename="exam-{target.id}-results.{fmt}"'},
        )
    header, rows = services.results_table(db.session, target)
    return render_template("authoring/results.html", exam=target, header=header, rows=rows)


@bp.route("/<int:exam_id>/release", methods=["POST"])
@role_required(Role.EXAMINER)
def release(exam_id: int) -> Any:
    """Release results to students."""
    return _action(exam_id, lambda e: services.release_results(db.session, e), _("Results released to students."))
