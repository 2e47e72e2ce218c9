"""/api/v1 for the exam page's proctoring: consent, webcam snapshots and browser events (idempotent by op_id)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from exam.auth.access import require_own_sitting
from exam.auth.decorators import role_required
from exam.auth.models import Role
from exam.db import db
from exam.validation import Problem, ValidationFailed
from proctor import services

blp = Blueprint("api_proctor", __name__, url_prefix="/api/v1", description="Webcam and browser-event proctoring")


class ConsentResultSchema(Schema):
    """The consent as recorded."""

    consented_at = fields.DateTime()
    frame_seconds = fields.Int(metadata={"description": "send one snapshot every this many seconds"})


class FrameSchema(Schema):
    """One webcam snapshot, a small JPEG in base64."""

    op_id = fields.Str(required=True, validate=validate.Length(min=8, max=64))
    taken_at = fields.AwareDateTime(required=True, default_timezone=None)
    kind = fields.Str(load_default="exam", validate=validate.OneOf(services.FRAME_KINDS))
    image = fields.Str(required=True, metadata={"description": "base64 JPEG (data: URL prefix allowed)"})
    tab = fields.Str(load_default=None)


class FrameAckSchema(Schema):
    """Acknowledgement of a stored frame."""

    op_id = fields.Str()
    frame_id = fields.Int()
    stored = fields.Bool(metadata={"description": "false when this op_id had been stored already"})


class EventSchema(Schema):
    """One browser event."""

    op_id = fields.Str(required=True, validate=validate.Length(min=8, max=64))
    type = fields.Str(required=True, validate=validate.OneOf(services.EVENT_TYPES))
    at = fields.AwareDateTime(required=True)
    duration_seconds = fields.Float(load_default=None, allow_none=True)
    details = fields.Dict(load_default=None, allow_none=True)
    tab = fields.Str(load_default=None)


class EventAckSchema(Schema):
    """Acknowledgement of a stored event."""

    op_id = fields.Str()
    event_id = fields.Int()


def _proctored_sitting(sitting_id: int) -> Any:
    sitting = require_own_sitting(current_user, sitting_id)
    if not sitting.exam.proctored:
        raise ValidationFailed.of("This exam is not proctored.", [Problem("sitting", "not proctored")])
    return sitting


@blp.route("/sittings/<int:sitting_id>/proctor/consent")
class Consent(MethodView):
    """The student's consent to webcam proctoring."""

    @role_required(Role.STUDENT)
    @blp.response(200, ConsentResultSchema)
    def post(self, sitting_id: int) -> Any:
        """Accept recording for this sitting (idempotent)."""
        from flask import current_app

        record = services.consent(db.session, _proctored_sitting(sitting_id))
        db.session.commit()
        return {"consented_at": record.consented_at, "frame_seconds": current_app.config["PROCTOR_FRAME_SECONDS"]}


@blp.route("/sittings/<int:sitting_id>/proctor/frames")
class Frames(MethodView):
    """Webcam snapshots."""

    @role_required(Role.STUDENT)
    @blp.arguments(FrameSchema)
    @blp.response(200, FrameAckSchema)
    def post(self, body: dict[str, Any], sitting_id: int) -> Any:
        """Store a snapshot and queue its analysis. Resending the same op_id is harmless."""
        sitting = _proctored_sitting(sitting_id)
        record = services.proctor_session(db.session, sitting)
        if record.consented_at is None:
            raise ValidationFailed.of("Consent first.", [Problem("consent", "the student has not consented")])
        raw = body["image"].split(",", 1)[1] if body["image"].startswith("data:") else body["image"]
        try:
            jpeg = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as err:
            raise ValidationFailed.of("The frame was refused.", [Problem("image", "not valid base64")]) from err
        frame, new = services.record_frame(
            db.session, sitting, op_id=body["op_id"], taken_at=body["taken_at"], jpeg=jpeg, kind=body["kind"]
        )
        db.session.commit()
        if new:
            from proctor.tasks import dispatch_analysis

            dispatch_analysis(frame.id)
        return {"op_id": frame.op_id, "frame_id": frame.id, "stored": new}


@blp.route("/sittings/<int:sitting_id>/proctor/events")
class Events(MethodView):
    """Browser events."""

    @role_required(Role.STUDENT)
    @blp.arguments(EventSchema)
    @blp.response(200, EventAckSchema)
    def post(self, body: dict[str, Any], sitting_id: int) -> Any:
        """Store a browser event (tab hidden, blur, full screen left, copy/paste, camera, network)."""
        sitting = _proctored_sitting(sitting_id)
        body.pop("tab", None)
        event = services.record_event(db.session, sitting, **body)
        db.session.commit()
        return {"op_id": event.op_id, "event_id": event.id}
