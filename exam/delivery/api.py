"""/api/v1 for students: list exams, start, resume, save answers idempotently, take over a tab, submit, results.

The exam page's JavaScript uses exactly these endpoints, so any school system can drive delivery the same way.
"""

from __future__ import annotations

from typing import Any

from flask import abort
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from exam.auth.access import require_own_sitting
from exam.auth.decorators import role_required
from exam.auth.models import Role
from exam.db import db, utcnow
from exam.delivery import services
from exam.delivery.models import Exam, Sitting, SittingState

blp = Blueprint("api_delivery", __name__, url_prefix="/api/v1", description="Exam delivery for students")


class ExamSummarySchema(Schema):
    """An exam on the student's roster."""

    id = fields.Int()
    title = fields.Str()
    opens_at = fields.DateTime()
    closes_at = fields.DateTime()
    duration_minutes = fields.Int()
    is_open = fields.Bool()
    sitting_id = fields.Int(allow_none=True)
    sitting_state = fields.Str(allow_none=True)
    score = fields.Float(allow_none=True)
    max_score = fields.Float(allow_none=True)


class StudentItemSchema(Schema):
    """An item as the student's browser may see it (never the key)."""

    id = fields.Int(metadata={"description": "paper item id; answers are saved against it"})
    number = fields.Int()
    type = fields.Str()
    section = fields.Str(allow_none=True)
    points = fields.Float()
    stem = fields.Str(metadata={"description": "sanitised HTML with MathML"})
    options = fields.List(fields.Dict())
    blanks = fields.Int()
    units = fields.List(fields.Str())


class SittingStateSchema(Schema):
    """Everything the exam page needs to rebuild itself where the student left off."""

    sitting_id = fields.Int()
    exam_title = fields.Str()
    state = fields.Str()
    remaining_seconds = fields.Int()
    deadline = fields.Str()
    server_time = fields.Str()
    position = fields.Int()
    items = fields.List(fields.Nested(StudentItemSchema))
    answers = fields.Dict(keys=fields.Str(), values=fields.Dict())


class ClaimSchema(Schema):
    """Which browser tab holds the sitting."""

    tab = fields.Str(required=True, validate=validate.Length(min=8, max=64))
    force = fields.Bool(load_default=False)


class ClaimResultSchema(Schema):
    """Whether another live tab was displaced."""

    displaced_other_tab = fields.Bool()
    remaining_seconds = fields.Int()


class AnswerSchema(Schema):
    """One save from the browser's outbox. `op_id` makes resends harmless; `seq` orders saves per item."""

    op_id = fields.Str(required=True, validate=validate.Length(min=8, max=64))
    paper_item_id = fields.Int(required=True)
    answer = fields.Raw(allow_none=True, load_default=None)
    flagged = fields.Bool(allow_none=True, load_default=None)
    seq = fields.Int(required=True, validate=validate.Range(min=0))
    tab = fields.Str(required=True, validate=validate.Length(min=8, max=64))


class AckSchema(Schema):
    """The server's acknowledgement of one save."""

    op_id = fields.Str()
    applied = fields.Bool()
    saved_at = fields.Str()
    remaining_seconds = fields.Int()


class PositionSchema(Schema):
    """Where the student is in the paper."""

    position = fields.Int(required=True, validate=validate.Range(min=0))
    tab = fields.Str(required=True, validate=validate.Length(min=8, max=64))


class ResultSchema(Schema):
    """A submitted sitting's outcome, as far as the exam's policy lets the student see it."""

    sitting_id = fields.Int()
    state = fields.Str()
    submitted_at = fields.DateTime(allow_none=True)
    submitted_by = fields.Str(allow_none=True)
    visible = fields.Bool()
    score = fields.Float(allow_none=True)
    max_score = fields.Float(allow_none=True)
    needs_marking = fields.Bool()
    items = fields.List(fields.Dict())


def _exam_summary(exam: Exam, sitting: Sitting | None) -> dict[str, Any]:
    now = utcnow()
    visible = sitting is not None and sitting.state is SittingState.SUBMITTED and services.results_visible(exam, now)
    return {
        "id": exam.id,
        "title": exam.title,
        "opens_at": exam.opens_at,
        "closes_at": exam.closes_at,
        "duration_minutes": exam.duration_minutes,
        "is_open": exam.is_open(now),
        "sitting_id": sitting.id if sitting else None,
        "sitting_state": sitting.state.value if sitting else None,
        "score": sitting.score if visible and sitting else None,
        "max_score": sitting.max_score if visible and sitting else None,
    }


def _own_open_sitting(sitting_id: int) -> Sitting:
    """The student's sitting, auto-submitted first if its time ran out while nobody was looking."""
    sitting = require_own_sitting(current_user, sitting_id)
    if services.close_if_overdue(db.session, sitting):
        db.session.commit()
    return sitting


@blp.route("/my/exams")
class MyExams(MethodView):
    """The signed-in student's exams."""

    @role_required(Role.STUDENT)
    @blp.response(200, ExamSummarySchema(many=True))
    def get(self) -> Any:
        """Exams on my roster with my sitting's state."""
        return [_exam_summary(exam, sitting) for exam, sitting in services.student_exams(db.session, current_user)]


@blp.route("/exams/<int:exam_id>/start")
class StartExam(MethodView):
    """Start or resume."""

    @role_required(Role.STUDENT)
    @blp.response(200, SittingStateSchema)
    def post(self, exam_id: int) -> Any:
        """Start my sitting of the exam (or return the one already started). Safe to repeat."""
        exam = db.session.get(Exam, exam_id)
        if exam is None or services.candidate_for(db.session, exam, current_user) is None:
            abort(404)
        sitting = services.start_sitting(db.session, exam, current_user)
        db.session.commit()
        return services.sitting_state(sitting)


@blp.route("/sittings/<int:sitting_id>")
class SittingResource(MethodView):
    """A sitting in progress."""

    @role_required(Role.STUDENT)
    @blp.response(200, SittingStateSchema)
    def get(self, sitting_id: int) -> Any:
        """The full state of my sitting: items (no keys), my answers, flags, position, remaining time."""
        return services.sitting_state(_own_open_sitting(sitting_id))


@blp.route("/sittings/<int:sitting_id>/claim")
class ClaimSitting(MethodView):
    """One live tab per sitting."""

    @role_required(Role.STUDENT)
    @blp.arguments(ClaimSchema)
    @blp.response(200, ClaimResultSchema)
    def post(self, body: dict[str, Any], sitting_id: int) -> Any:
        """Make this tab the live one; 409 `other_tab` while another tab is live unless `force` is set."""
        sitting = _own_open_sitting(sitting_id)
        displaced = services.claim_sitting(db.session, sitting, body["tab"], force=body["force"])
        db.session.commit()
        state = services.sitting_state(sitting)
        return {"displaced_other_tab": displaced, "remaining_seconds": state["remaining_seconds"]}


@blp.route("/sittings/<int:sitting_id>/answers")
class SaveAnswer(MethodView):
    """Idempotent answer saves."""

    @role_required(Role.STUDENT)
    @blp.arguments(AnswerSchema)
    @blp.response(200, AckSchema)
    def post(self, body: dict[str, Any], sitting_id: int) -> Any:
        """Save one answer and/or review flag. Resending the same `op_id` returns the first acknowledgement."""
        sitting = require_own_sitting(current_user, sitting_id)
        ack = services.save_answer(db.session, sitting, **body)
        db.session.commit()
        return ack.as_dict()


@blp.route("/sittings/<int:sitting_id>/position")
class SavePosition(MethodView):
    """Resume where I was."""

    @role_required(Role.STUDENT)
    @blp.arguments(PositionSchema)
    @blp.response(204)
    def post(self, body: dict[str, Any], sitting_id: int) -> None:
        """Remember the item the student is on."""
        sitting = require_own_sitting(current_user, sitting_id)
        services.save_position(db.session, sitting, body["position"], body["tab"])
        db.session.commit()


@blp.route("/sittings/<int:sitting_id>/submit")
class SubmitSitting(MethodView):
    """Hand in."""

    @role_required(Role.STUDENT)
    @blp.response(200, ResultSchema)
    def post(self, sitting_id: int) -> Any:
        """Submit my sitting (idempotent) and score what rules can score."""
        sitting = require_own_sitting(current_user, sitting_id)
        services.submit(db.session, sitting)
        db.session.commit()
        return services.sitting_result(sitting)


@blp.route("/sittings/<int:sitting_id>/result")
class SittingResult(MethodView):
    """My result."""

    @role_required(Role.STUDENT)
    @blp.response(200, ResultSchema)
    def get(self, sitting_id: int) -> Any:
        """My score and per-item results, when the exam's policy shows them."""
        return services.sitting_result(_own_open_sitting(sitting_id))
