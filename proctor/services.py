"""Proctoring services: consent, frames and events from the browser (idempotent), review decisions, retention."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam.auth.models import User
from exam.db import utcnow
from exam.delivery.models import Sitting, SittingState
from exam.validation import Problem, ValidationFailed
from proctor.models import BrowserEvent, Flag, FlagDecision, Frame, ProctorSession

MAX_FRAME_BYTES = 400_000
FRAME_KINDS = ("enrolment", "calibration", "exam")
EVENT_TYPES = (
    "tab_hidden",
    "window_blur",
    "fullscreen_exit",
    "copy",
    "paste",
    "camera_stopped",
    "camera_denied",
    "network_lost",
)
DECISIONS = {"dismiss": "dismissed", "confirm": "confirmed", "escalate": "escalated"}


def proctor_session(session: Session, sitting: Sitting) -> ProctorSession:
    """The sitting's proctoring record, created on first use."""
    record = session.get(ProctorSession, sitting.id)
    if record is None:
        record = ProctorSession(sitting_id=sitting.id)
        session.add(record)
        session.flush()
    return record


def consent(session: Session, sitting: Sitting) -> ProctorSession:
    """Record that the student read and accepted what is recorded, who sees it and how long it is kept."""
    record = proctor_session(session, sitting)
    if record.consented_at is None:
        record.consented_at = utcnow()
        session.flush()
    return record


def storage_dir() -> Path:
    """Where frames live: outside the web root, served only through permission-checked views."""
    return Path(current_app.config["STORAGE_DIR"]) / "proctor"


def _check_open(sitting: Sitting) -> None:
    if sitting.state is SittingState.SUBMITTED:
        raise ValidationFailed.of("The sitting is submitted.", [Problem("sitting", "no more frames or events")])


def record_frame(
    session: Session, sitting: Sitting, *, op_id: str, taken_at: datetime, jpeg: bytes, kind: str = "exam"
) -> tuple[Frame, bool]:
    """Store one snapshot (resends with the same op_id are acknowledged, not stored twice). Returns (frame, new)."""
    existing = session.scalar(select(Frame).where(Frame.op_id == op_id))
    if existing is not None:
        if existing.sitting_id != sitting.id:
            raise ValidationFailed.of("Operation id reused.", [Problem("op_id", "belongs to another sitting")])
        return existing, False
    problems = []
    if kind not in FRAME_KINDS:
        problems.append(Problem("kind", f"one of {', '.join(FRAME_KINDS)}", value=kind))
    if not jpeg.startswith(b"\xff\xd8"):
        problems.append(Problem("image", "not a JPEG image"))
    if len(jpeg) > MAX_FRAME_BYTES:
        problems.append(Problem("image", f"at most {MAX_FRAME_BYTES} bytes", value=len(jpeg)))
    if problems:
        raise ValidationFailed.of("The frame was refused.", problems)
    if kind == "exam":
        _check_open(sitting)
    relative = Path(str(sitting.exam_id)) / str(sitting.id) / f"{op_id}.jpg"
    target = storage_dir() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(jpeg)
    frame = Frame(sitting_id=sitting.id, op_id=op_id, kind=kind, taken_at=taken_at, path=str(relative))
    session.add(frame)
    session.flush()
    if kind == "enrolment":
        proctor_session(session, sitting).enrolment_frame_id = frame.id
        session.flush()
    return frame, True


def record_event(
    session: Session,
    sitting: Sitting,
    *,
    op_id: str,
    type: str,
    at: datetime,
    duration_seconds: float | None = None,
    details: dict[str, Any] | None = None,
) -> BrowserEvent:
    """Store one browser event; resending the same op_id returns the stored one."""
    existing = session.scalar(select(BrowserEvent).where(BrowserEvent.op_id == op_id))
    if existing is not None:
        return existing
    problems = []
    if type not in EVENT_TYPES:
        problems.append(Problem("type", f"one of {', '.join(EVENT_TYPES)}", value=type))
    if duration_seconds is not None and not 0 <= duration_seconds <= 24 * 3600:
        problems.append(Problem("duration_seconds", "between 0 and 86400", value=duration_seconds))
    if problems:
        raise ValidationFailed.of("The event was refused.", problems)
    event = BrowserEvent(
        sitting_id=sitting.id, op_id=op_id, type=type, at=at, duration_seconds=duration_seconds, details=details
    )
    session.add(event)
    session.flush()
    return event


def frame_file(frame: Frame) -> Path | None:
    """The stored JPEG of a frame, or None once retention deleted it."""
    if frame.path is None:
        return None
    path = storage_dir() / frame.path
    return path if path.exists() else None


def decide(session: Session, flag: Flag, proctor: User, decision: str, note: str | None) -> FlagDecision:
    """Dismiss, confirm or escalate a flag, with a note; confirmed/escalated evidence is kept past retention."""
    if decision not in DECISIONS:
        raise ValidationFailed.of(
            "Unknown decision.", [Problem("decision", "dismiss, confirm or escalate", value=decision)]
        )
    if decision != "dismiss" and not (note or "").strip():
        raise ValidationFailed.of("Say why.", [Problem("note", "a note is required to confirm or escalate a flag")])
    row = FlagDecision(flag_id=flag.id, proctor_id=proctor.id, decision=decision, note=(note or "").strip() or None)
    session.add(row)
    flag.status = DECISIONS[decision]
    keep = decision != "dismiss"
    for frame in session.scalars(select(Frame).where(Frame.id.in_(flag.evidence_frame_ids or []))).all():
        frame.keep = keep or frame.keep
    record = session.get(ProctorSession, flag.sitting_id)
    if record is not None:
        statuses = {f.status for f in session.scalars(select(Flag).where(Flag.sitting_id == flag.sitting_id))}
        if "escalated" in statuses:
            record.outcome = "escalated"
        elif "confirmed" in statuses:
            record.outcome = "confirmed"
        elif "open" not in statuses:
            record.outcome = "clear"
    session.flush()
    return row


def false_flag_rates(session: Session) -> dict[str, dict[str, float]]:
    """Per rule: decided flags, and the share dismissed (the rule's false-flag rate as judged by proctors)."""
    rows = session.execute(select(Flag.rule, Flag.status).where(Flag.status != "open")).all()
    out: dict[str, dict[str, float]] = {}
    for rule, status in rows:
        entry = out.setdefault(rule, {"decided": 0, "dismissed": 0})
        entry["decided"] += 1
        entry["dismissed"] += status == "dismissed"
    for entry in out.values():
        entry["false_flag_rate"] = entry["dismissed"] / entry["decided"]
    return out


def purge_frames(session: Session, now: datetime | None = None) -> int:
    """Delete raw frames older than the retention period, unless they are evidence of a confirmed flag.

    Findings, flags and decisions stay: only the images go.
    """
    now = now or utcnow()
    days = current_app.config["FRAME_RETENTION_DAYS"]
    cutoff = now - timedelta(days=days)
    frames = session.scalars(
        select(Frame).where(Frame.received_at < cutoff, Frame.path.is_not(None), Frame.keep.is_(False))
    ).all()
    for frame in frames:
        path = frame_file(frame)
        if path is not None:
            path.unlink()
        frame.path = None
    session.flush()
    return len(frames)
