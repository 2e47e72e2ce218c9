"""Marking set-up per item, individual marks, the audit trail of every score change, and review requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam.auth.models import User
from exam.db import db, utcnow
from exam.delivery.models import Response


class ItemMarking(db.Model):  # type: ignore[name-defined,misc]
    """How one paper item is marked by people: single or double, tolerance, rubric, lead marker."""

    __tablename__ = "item_markings"
    __table_args__ = (UniqueConstraint("paper_item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    paper_item_id: Mapped[int] = mapped_column(ForeignKey("paper_items.id", ondelete="CASCADE"))
    double: Mapped[bool] = mapped_column(default=False)
    tolerance: Mapped[float] = mapped_column(Float, default=1.0)
    step: Mapped[float] = mapped_column(Float, default=0.5)
    machine_first: Mapped[bool] = mapped_column(default=False)  # the ML grader's score counts as the first mark
    rubric: Mapped[str | None] = mapped_column(Text)
    lead_marker_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Mark(db.Model):  # type: ignore[name-defined,misc]
    """One marker's (or the machine's) independent mark of one response, in marking order."""

    __tablename__ = "marks"
    __table_args__ = (UniqueConstraint("response_id", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), index=True)
    round: Mapped[int]  # 1, 2, 3; 4 = arbitration
    marker_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)  # None: the machine
    score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    marker: Mapped[User | None] = relationship()
    response: Mapped[Response] = relationship()


class ScoreChange(db.Model):  # type: ignore[name-defined,misc]
    """Audit trail: every change of a response's score, with who, when, why, before and after."""

    __tablename__ = "score_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), index=True)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(String(20))  # rule | machine | human | arbitration | regrade | review
    before: Mapped[float | None] = mapped_column(Float)
    after: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    changed_by: Mapped[User | None] = relationship()


class ReviewRequest(db.Model):  # type: ignore[name-defined,misc]
    """A request to change a released score; only an accepted request changes it."""

    __tablename__ = "review_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | accepted | rejected
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    new_score: Mapped[float | None] = mapped_column(Float)
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    response: Mapped[Response] = relationship()
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])


class GraderModel(db.Model):  # type: ignore[name-defined,misc]
    """A trained machine grader for one item: where its bundle is stored, how good it was, its threshold."""

    __tablename__ = "grader_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(60))
    path: Mapped[str] = mapped_column(String(300))
    n_train: Mapped[int]
    cv_qwk: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)  # auto-accept at or above; None: suggestions only
    curve: Mapped[list[Any]] = mapped_column(JSON, default=list)  # coverage/agreement points from training
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MachineScore(db.Model):  # type: ignore[name-defined,misc]
    """What a grader model said about one response, with its confidence and whether it was auto-accepted."""

    __tablename__ = "machine_scores"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("grader_models.id", ondelete="CASCADE"), index=True)
    score: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    accepted: Mapped[bool] = mapped_column(default=False)
    features: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    model: Mapped[GraderModel] = relationship()
