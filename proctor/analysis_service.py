"""Connects the pure analysis to stored frames: analyse a frame, keep the sitting's baseline, refresh its flags."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam.db import utcnow
from proctor.analysis.calibration import Baseline, calibrate
from proctor.analysis.findings import FrameFindings
from proctor.analysis.pipeline import FrameAnalyzer
from proctor.flags import evaluate, risk
from proctor.models import BrowserEvent, Flag, Frame, ProctorSession
from proctor.services import frame_file, proctor_session

# MediaPipe graphs are not thread-safe, and a Celery worker may run tasks in several threads: each thread keeps
# its own analyzers.
_LOCAL = threading.local()


def _analyzers() -> dict[tuple[Any, ...], FrameAnalyzer]:
    if not hasattr(_LOCAL, "analyzers"):
        _LOCAL.analyzers = {}
    return _LOCAL.analyzers  # type: ignore[no-any-return]


def analyzer_for(session: Session, sitting_id: int) -> FrameAnalyzer:
    """One analyzer per sitting and enrolment photo in this thread (MediaPipe graphs are stateful)."""
    record = session.get(ProctorSession, sitting_id)
    sitting = record.sitting if record is not None else None
    # The key includes the start time and the enrolment photo: ids alone can come back after a database reset.
    key = (sitting_id, sitting.started_at.isoformat() if sitting else "", record.enrolment_frame_id if record else None)
    cache = _analyzers()
    analyzer = cache.get(key)
    if analyzer is None:
        if len(cache) >= 32:  # bound memory: drop the oldest sitting's graphs
            oldest = next(iter(cache))
            cache.pop(oldest).close()
        analyzer = FrameAnalyzer()
        if record is not None and record.enrolment_frame_id:
            enrolment = session.get(Frame, record.enrolment_frame_id)
            image = _image(enrolment) if enrolment else None
            if image is not None:
                analyzer.enrol(image)
        cache[key] = analyzer
    return analyzer


def _image(frame: Frame) -> np.ndarray | None:
    path = frame_file(frame)
    if path is None:
        return None
    return cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)


def analyse_stored_frame(session: Session, frame_id: int) -> dict[str, Any] | None:
    """Analyse one frame, then recompute its sitting's baseline (after calibration frames) and flags."""
    frame = session.get(Frame, frame_id)
    if frame is None or frame.analysed_at is not None:
        return None
    image = _image(frame)
    if image is None:
        frame.findings = {"error": "the image is missing or unreadable"}
        frame.analysed_at = utcnow()
        session.flush()
        return frame.findings
    record = proctor_session(session, frame.sitting)
    started = frame.sitting.started_at
    t = (frame.taken_at - started).total_seconds()
    findings = analyzer_for(session, frame.sitting_id).analyze(image, t)
    frame.findings = findings.as_dict()
    frame.analysed_at = utcnow()
    session.flush()
    if frame.kind == "calibration":
        # Calibration frames are analysed in parallel on a worker pool: lock the sitting's row so the baselines are
        # computed one after the other, the last one seeing every frame the others committed.
        session.refresh(record, with_for_update=True)
        calibration = [FrameFindings.from_dict(f.findings) for f in _frames(session, frame.sitting_id, "calibration")]
        baseline = calibrate(calibration)
        record.baseline = baseline.as_dict() if baseline else None
    elif frame.kind == "exam":
        refresh_flags(session, record)
    session.flush()
    return frame.findings


def _frames(session: Session, sitting_id: int, kind: str) -> list[Frame]:
    return list(
        session.scalars(
            select(Frame)
            .where(Frame.sitting_id == sitting_id, Frame.kind == kind, Frame.analysed_at.is_not(None))
            .order_by(Frame.taken_at)
        ).all()
    )


def refresh_flags(session: Session, record: ProctorSession) -> None:
    """Recompute the rule-based flags of a sitting; flags a proctor already decided on are kept as they are.

    The sitting's proctoring row is locked first, so workers analysing frames of one sitting in parallel
    recompute its flags one after the other instead of interleaving deletes and inserts.
    """
    session.refresh(record, with_for_update=True)
    frames = [f for f in _frames(session, record.sitting_id, "exam") if f.findings and "error" not in f.findings]
    findings = [FrameFindings.from_dict(f.findings) for f in frames]  # type: ignore[arg-type]
    started = record.sitting.started_at
    events = [
        {"type": e.type, "t": (e.at - started).total_seconds(), "duration": e.duration_seconds}
        for e in session.scalars(select(BrowserEvent).where(BrowserEvent.sitting_id == record.sitting_id))
    ]
    baseline = Baseline(**record.baseline) if record.baseline else None
    computed = evaluate(findings, events, baseline)
    existing = session.scalars(select(Flag).where(Flag.sitting_id == record.sitting_id)).all()
    decided = [f for f in existing if f.status != "open"]
    for flag in existing:
        if flag.status == "open":
            session.delete(flag)
    for flag in computed:
        start = started + timedelta(seconds=flag.start)
        if any(d.rule == flag.rule and abs((d.start - start).total_seconds()) < 1 for d in decided):
            continue
        session.add(
            Flag(
                sitting_id=record.sitting_id,
                rule=flag.rule,
                start=start,
                end=started + timedelta(seconds=flag.end),
                severity=flag.severity,
                values=flag.values,
                thresholds=flag.thresholds,
                evidence_frame_ids=[frames[i].id for i in flag.evidence if i < len(frames)],
            )
        )
    record.risk = risk(computed)
    session.flush()


def pending_frame_ids(session: Session, limit: int = 500) -> list[int]:
    """Frames stored but not analysed yet (the sweep retries them)."""
    return list(
        session.scalars(
            select(Frame.id).where(Frame.analysed_at.is_(None), Frame.path.is_not(None)).order_by(Frame.id).limit(limit)
        ).all()
    )
