"""Calibration runs: the settings and fit of one IRT calibration, its per-item results, and the history of every
item's bank parameters (a run changes the bank only when an examiner accepts it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam.auth.models import User
from exam.db import db, utcnow


class CalibrationRun(db.Model):  # type: ignore[name-defined,misc]
    """One calibration of an exam's recorded responses."""

    __tablename__ = "calibration_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(10))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued | running | done | failed | accepted
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    examinees: Mapped[int | None]
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # loglik, AIC, BIC, iterations, converged...
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    accepted_at: Mapped[datetime | None]

    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    items: Mapped[list[ItemCalibration]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="ItemCalibration.position"
    )


class ItemCalibration(db.Model):  # type: ignore[name-defined,misc]
    """One item's estimates, standard errors, classical statistics, fit, DIF and warnings in one run."""

    __tablename__ = "item_calibrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("calibration_runs.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    a: Mapped[float | None] = mapped_column(Float)
    b: Mapped[float | None] = mapped_column(Float)
    c: Mapped[float | None] = mapped_column(Float)
    thresholds: Mapped[list[Any] | None] = mapped_column(JSON)
    standard_errors: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ctt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    fit: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    dif: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    warnings: Mapped[list[Any]] = mapped_column(JSON, default=list)

    run: Mapped[CalibrationRun] = relationship(back_populates="items")


class ItemParameterHistory(db.Model):  # type: ignore[name-defined,misc]
    """Every value an item's bank parameters have had, and which accepted run (or person) set them."""

    __tablename__ = "item_parameter_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("calibration_runs.id", ondelete="SET NULL"))
    model: Mapped[str | None] = mapped_column(String(10))
    a: Mapped[float | None] = mapped_column(Float)
    b: Mapped[float | None] = mapped_column(Float)
    c: Mapped[float | None] = mapped_column(Float)
    thresholds: Mapped[list[Any] | None] = mapped_column(JSON)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
