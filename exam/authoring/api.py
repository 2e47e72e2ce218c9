"""/api/v1 for examiners: the exam pages' operations (create and edit exams, build the paper, roster and staff,
publish, results and release) for schools that drive the system from their own tools."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from exam.auth.access import require_exam, staff_exams_query
from exam.auth.decorators import role_required
from exam.auth.models import Role
from exam.authoring import services
from exam.db import db
from exam.delivery.models import Exam

blp = Blueprint("api_authoring", __name__, url_prefix="/api/v1", description="Exams for examiners")


class ExamSettingsSchema(Schema):
    """An exam's settings (times are ISO 8601 with a time zone)."""

    title = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    description = fields.Str(load_default=None, allow_none=True)
    opens_at = fields.AwareDateTime(required=True)
    closes_at = fields.AwareDateTime(required=True)
    duration_minutes = fields.Int(required=True)
    shuffle_items = fields.Bool(load_default=False)
    shuffle_options = fields.Bool(load_default=False)
    multiple_choice_rule = fields.Str(load_default="all_or_nothing")
    results_policy = fields.Str(load_default="immediately")
    proctored = fields.Bool(load_default=False)


class PaperItemSchema(Schema):
    """One position of the paper."""

    id = fields.Int()
    position = fields.Int()
    form_no = fields.Int()
    section = fields.Str(allow_none=True)
    item_id = fields.Function(lambda p: p.item_version.item_id)
    version = fields.Function(lambda p: p.item_version.number)
    type = fields.Function(lambda p: p.item_version.item.type.value)
    points = fields.Float()


class ExamSchema(ExamSettingsSchema):
    """An exam as the API returns it."""

    id = fields.Int()
    frozen_at = fields.DateTime(allow_none=True)
    results_released = fields.Bool()
    results_policy = fields.Function(lambda e: e.results_policy.value)
    paper = fields.List(fields.Nested(PaperItemSchema), attribute="paper_items")
    candidates = fields.Function(
        lambda e: [{"username": c.user.username, "extra_minutes": c.extra_minutes} for c in e.candidates]
    )


class AddItemsSchema(Schema):
    """Items (their current versions) to append to the paper."""

    item_ids = fields.List(fields.Int(), required=True, validate=validate.Length(min=1))
    section = fields.Str(load_default=None, allow_none=True)


class RosterEntrySchema(Schema):
    """A student and their extra time."""

    username = fields.Str(required=True)
    extra_minutes = fields.Int(load_default=0)


class RosterSchema(Schema):
    """Students to put on the roster (all or nothing)."""

    students = fields.List(fields.Nested(RosterEntrySchema), required=True, validate=validate.Length(min=1))


class StaffSchema(Schema):
    """A colleague's role on the exam."""

    username = fields.Str(required=True)
    role = fields.Str(required=True, validate=validate.OneOf(["examiner", "proctor", "marker"]))


class ResultsSchema(Schema):
    """The results table: a header and one row per roster student."""

    header = fields.List(fields.Str())
    rows = fields.List(fields.List(fields.Raw()))


def _settings(body: dict[str, Any]) -> services.ExamSettings:
    return services.ExamSettings(**body)


def _exam(exam_id: int) -> Exam:
    return require_exam(current_user, exam_id, "examiner")


@blp.route("/exams")
class Exams(MethodView):
    """Exams the examiner works on."""

    @role_required(Role.EXAMINER)
    @blp.response(200, ExamSchema(many=True))
    def get(self) -> Any:
        """Exams I own or examine."""
        return db.session.scalars(staff_exams_query(current_user, "examiner")).all()

    @role_required(Role.EXAMINER)
    @blp.arguments(ExamSettingsSchema)
    @blp.response(201, ExamSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Create an exam."""
        exam = services.create_exam(db.session, current_user, _settings(body))
        db.session.commit()
        return exam


@blp.route("/exams/<int:exam_id>")
class ExamResource(MethodView):
    """One exam."""

    @role_required(Role.EXAMINER)
    @blp.response(200, ExamSchema)
    def get(self, exam_id: int) -> Any:
        """The exam with its paper and roster."""
        return _exam(exam_id)

    @role_required(Role.EXAMINER)
    @blp.arguments(ExamSettingsSchema)
    @blp.response(200, ExamSchema)
    def put(self, body: dict[str, Any], exam_id: int) -> Any:
        """Change the settings (after publishing only the closing time, description and results policy)."""
        exam = services.update_exam(db.session, _exam(exam_id), _settings(body))
        db.session.commit()
        return exam


@blp.route("/exams/<int:exam_id>/items")
class ExamItems(MethodView):
    """The paper."""

    @role_required(Role.EXAMINER)
    @blp.arguments(AddItemsSchema)
    @blp.response(200, ExamSchema)
    def post(self, body: dict[str, Any], exam_id: int) -> Any:
        """Append items from my banks to the draft paper."""
        exam = _exam(exam_id)
        services.add_items(db.session, exam, current_user, body["item_ids"], body["section"])
        db.session.commit()
        return exam


@blp.route("/exams/<int:exam_id>/items/<int:paper_item_id>")
class ExamItem(MethodView):
    """One position of the paper."""

    @role_required(Role.EXAMINER)
    @blp.response(204)
    def delete(self, exam_id: int, paper_item_id: int) -> None:
        """Remove an item from the draft paper."""
        services.remove_paper_item(db.session, _exam(exam_id), paper_item_id)
        db.session.commit()


@blp.route("/exams/<int:exam_id>/roster")
class Roster(MethodView):
    """The students."""

    @role_required(Role.EXAMINER)
    @blp.arguments(RosterSchema)
    @blp.response(200, ExamSchema)
    def post(self, body: dict[str, Any], exam_id: int) -> Any:
        """Add students (or update their extra time); any unknown or non-student username refuses them all."""
        exam = _exam(exam_id)
        entries = [(n, s["username"], s["extra_minutes"]) for n, s in enumerate(body["students"], start=1)]
        services.add_to_roster(db.session, exam, entries)
        db.session.commit()
        return exam


@blp.route("/exams/<int:exam_id>/staff")
class Staff(MethodView):
    """Co-examiners, proctors, markers."""

    @role_required(Role.EXAMINER)
    @blp.arguments(StaffSchema)
    @blp.response(204)
    def post(self, body: dict[str, Any], exam_id: int) -> None:
        """Give a colleague a role on this exam."""
        services.set_staff(db.session, _exam(exam_id), body["username"], body["role"])
        db.session.commit()


@blp.route("/exams/<int:exam_id>/publish")
class Publish(MethodView):
    """Publishing freezes the paper."""

    @role_required(Role.EXAMINER)
    @blp.response(200, ExamSchema)
    def post(self, exam_id: int) -> Any:
        """Freeze the paper and open the exam to its roster in its window."""
        exam = _exam(exam_id)
        services.publish(db.session, exam)
        db.session.commit()
        return exam


@blp.route("/exams/<int:exam_id>/results")
class Results(MethodView):
    """Results."""

    @role_required(Role.EXAMINER)
    @blp.response(200, ResultsSchema)
    def get(self, exam_id: int) -> Any:
        """The results table (the same as the CSV/XLSX export)."""
        header, rows = services.results_table(db.session, _exam(exam_id))
        return {"header": header, "rows": rows}


@blp.route("/exams/<int:exam_id>/release")
class Release(MethodView):
    """Release results."""

    @role_required(Role.EXAMINER)
    @blp.response(204)
    def post(self, exam_id: int) -> None:
        """Show results to students now."""
        services.release_results(db.session, _exam(exam_id))
        db.session.commit()
