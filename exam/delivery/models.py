"""Exams, their frozen papers, rosters, and the sittings in which students answer."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam.auth.models import User
from exam.db import TimestampMixin, db, str_enum, utcnow
from itembank.models import ItemBank, ItemVersion, Subject


class ResultsPolicy(enum.StrEnum):
    """When students see their scores."""

    IMMEDIATELY = "immediately"  # as soon as they submit
    AFTER_CLOSE = "after_close"  # when the exam window closes
    MANUAL = "manual"  # when the examiner releases them
    NEVER = "never"


class SittingState(enum.StrEnum):
    """Attempt state machine: not_started -> in_progress -> submitted (by the student or by the clock)."""

    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"


class Exam(TimestampMixin, db.Model):  # type: ignore[name-defined,misc]
    """An exam: its window, rules and paper. Frozen (paper immutable) from the moment it opens."""

    __tablename__ = "exams"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id"))
    bank_id: Mapped[int | None] = mapped_column(ForeignKey("item_banks.id"))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    duration_minutes: Mapped[int] = mapped_column(default=60)
    shuffle_items: Mapped[bool] = mapped_column(default=False)
    shuffle_options: Mapped[bool] = mapped_column(default=False)
    multiple_choice_rule: Mapped[str] = mapped_column(String(30), default="all_or_nothing")
    results_policy: Mapped[ResultsPolicy] = mapped_column(
        str_enum(ResultsPolicy, 20), default=ResultsPolicy.IMMEDIATELY
    )
    results_released: Mapped[bool] = mapped_column(default=False)
    proctored: Mapped[bool] = mapped_column(default=False)
    frozen_at: Mapped[datetime | None]
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    owner: Mapped[User] = relationship()
    subject: Mapped[Subject | None] = relationship()
    bank: Mapped[ItemBank | None] = relationship()
    paper_items: Mapped[list[PaperItem]] = relationship(
        back_populates="exam",
        cascade="all, delete-orphan",
        order_by="(PaperItem.form_no, PaperItem.position)",
        lazy="selectin",  # starting a sitting reads the whole paper: one query, not one per item
    )
    candidates: Mapped[list[Candidate]] = relationship(back_populates="exam", cascade="all, delete-orphan")
    staff: Mapped[list[ExamStaff]] = relationship(back_populates="exam", cascade="all, delete-orphan")

    def is_open(self, now: datetime) -> bool:
        """True while students may start or continue."""
        return self.opens_at <= now < self.closes_at

    @property
    def form_numbers(self) -> list[int]:
        """The distinct forms of the paper (1 unless per-student or parallel forms were assembled)."""
        return sorted({p.form_no for p in self.paper_items}) or [1]


class ExamStaff(db.Model):  # type: ignore[name-defined,misc]
    """A staff member given a role on one exam: co-examiner, proctor or marker."""

    __tablename__ = "exam_staff"

    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)  # examiner | proctor | marker

    exam: Mapped[Exam] = relationship(back_populates="staff")
    user: Mapped[User] = relationship()


class PaperItem(db.Model):  # type: ignore[name-defined,misc]
    """One position of one form of an exam's paper, pointing at the exact item version students see."""

    __tablename__ = "paper_items"
    __table_args__ = (UniqueConstraint("exam_id", "form_no", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    form_no: Mapped[int] = mapped_column(default=1)
    position: Mapped[int]
    section: Mapped[str | None] = mapped_column(String(120))
    item_version_id: Mapped[int] = mapped_column(ForeignKey("item_versions.id"), index=True)
    points: Mapped[float] = mapped_column(Float)

    exam: Mapped[Exam] = relationship(back_populates="paper_items")
    item_version: Mapped[ItemVersion] = relationship(lazy="joined")  # a paper is always used with its content


class Candidate(db.Model):  # type: ignore[name-defined,misc]
    """A student on an exam's roster, with their accommodations."""

    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("exam_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    extra_minutes: Mapped[int] = mapped_column(default=0)
    form_no: Mapped[int | None]

    exam: Mapped[Exam] = relationship(back_populates="candidates")
    user: Mapped[User] = relationship()


class Sitting(db.Model):  # type: ignore[name-defined,misc]
    """One student's attempt at one exam. The server's clock (deadline_at) is the only clock."""

    __tablename__ = "sittings"
    __table_args__ = (UniqueConstraint("exam_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    form_no: Mapped[int] = mapped_column(default=1)
    state: Mapped[SittingState] = mapped_column(
        str_enum(SittingState, 20), default=SittingState.IN_PROGRESS
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]
    submitted_by: Mapped[str | None] = mapped_column(String(20))  # student | clock | staff
    item_order: Mapped[list[Any]] = mapped_column(JSON, default=list)  # paper_item ids in this student's order
    option_orders: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # paper_item id -> option keys
    position: Mapped[int] = mapped_column(default=0)  # where the student was, for resume
    live_tab: Mapped[str | None] = mapped_column(String(64))
    live_seen_at: Mapped[datetime | None]
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float | None] = mapped_column(Float)
    needs_marking: Mapped[bool] = mapped_column(default=False)

    exam: Mapped[Exam] = relationship()
    user: Mapped[User] = relationship()
    responses: Mapped[list[Response]] = relationship(back_populates="sitting", cascade="all, delete-orphan")


class Response(db.Model):  # type: ignore[name-defined,misc]
    """The latest answer to one paper position in one sitting, pointing at the version the student saw."""

    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("sitting_id", "paper_item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id", ondelete="CASCADE"), index=True)
    paper_item_id: Mapped[int] = mapped_column(ForeignKey("paper_items.id"), index=True)
    item_version_id: Mapped[int] = mapped_column(ForeignKey("item_versions.id"), index=True)
    answer: Mapped[Any] = mapped_column(JSON, nullable=True)
    flagged: Mapped[bool] = mapped_column(default=False)
    client_seq: Mapped[int] = mapped_column(default=0)  # per-position counter from the browser; older saves lose
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float | None] = mapped_column(Float)
    score_source: Mapped[str | None] = mapped_column(String(20))  # rule | machine | human
    score_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    sitting: Mapped[Sitting] = relationship(back_populates="responses")
    paper_item: Mapped[PaperItem] = relationship()
    item_version: Mapped[ItemVersion] = relationship()


class SaveReceipt(db.Model):  # type: ignore[name-defined,misc]
    """Every acknowledged save, keyed by the browser's operation id: resends are answered, never applied twice."""

    __tablename__ = "save_receipts"

    op_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id", ondelete="CASCADE"), index=True)
    paper_item_id: Mapped[int | None] = mapped_column(ForeignKey("paper_items.id"))
    kind: Mapped[str] = mapped_column(String(20))  # answer | flag | position | submit
    payload: Mapped[Any] = mapped_column(JSON, nullable=True)
    client_seq: Mapped[int] = mapped_column(default=0)
    applied: Mapped[bool] = mapped_column(default=True)  # False when a newer save had already won
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
