"""Proctoring records: a sitting's consent and baseline, stored frames with their findings, browser events,
flags with evidence, and proctors' decisions (the audit trail)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam.auth.models import User
from exam.db import db, utcnow
from exam.delivery.models import Sitting


class ProctorSession(db.Model):  # type: ignore[name-defined,misc]
    """Proctoring of one sitting: consent, the enrolment photo, the student's neutral pose/gaze, the risk."""

    __tablename__ = "proctor_sessions"

    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id", ondelete="CASCADE"), primary_key=True)
    consented_at: Mapped[datetime | None]
    enrolment_frame_id: Mapped[int | None] = mapped_column(ForeignKey("frames.id", ondelete="SET NULL"))
    baseline: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # neutral yaw/pitch/gaze from calibration frames
    risk: Mapped[float] = mapped_column(Float, default=0.0)
    outcome: Mapped[str | None] = mapped_column(String(20))  # clear | confirmed | escalated (after review)

    sitting: Mapped[Sitting] = relationship()


class Frame(db.Model):  # type: ignore[name-defined,misc]
    """One webcam snapshot: where the JPEG is kept (outside the web root) and what the analysis found."""

    __tablename__ = "frames"
    __table_args__ = (UniqueConstraint("op_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id", ondelete="CASCADE"), index=True)
    op_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20), default="exam")  # enrolment | calibration | exam
    taken_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    path: Mapped[str | None] = mapped_column(String(300))  # None once the raw image is deleted
    findings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    analysed_at: Mapped[datetime | None]
    keep: Mapped[bool] = mapped_column(default=False)  # evidence of a confirmed/escalated flag: kept longer

    sitting: Mapped[Sitting] = relationship()


class BrowserEvent(db.Model):  # type: ignore[name-defined,misc]
    """Something the exam page saw: tab hidden, window blurred, full screen left, copy/paste, camera or network."""

    __tablename__ = "browser_events"
    __table_args__ = (UniqueConstraint("op_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id", ondelete="CASCADE"), index=True)
    op_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime]
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Flag(db.Model):  # type: ignore[name-defined,misc]
    """Evidence for a human: a rule that fired over a time span, with the values, thresholds and frames."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(40))
    start: Mapped[datetime]
    end: Mapped[datetime]
    severity: Mapped[float] = mapped_column(Float)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evidence_frame_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | dismissed | confirmed | escalated

    decisions: Mapped[list[FlagDecision]] = relationship(back_populates="flag", order_by="FlagDecision.id")


class FlagDecision(db.Model):  # type: ignore[name-defined,misc]
    """A proctor's decision on a flag, with a note: the audit trail."""

    __tablename__ = "flag_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("flags.id", ondelete="CASCADE"), index=True)
    proctor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(20))  # dismiss | confirm | escalate
    note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)

    flag: Mapped[Flag] = relationship(back_populates="decisions")
    proctor: Mapped[User] = relationship()
