"""Background analysis of webcam frames: on Celery workers when a broker is configured, in-process otherwise.

A frame is stored before it is analysed, so a failing or slow analysis never costs a student an upload; frames
left unanalysed are picked up again by the periodic sweep.
"""

from __future__ import annotations

import logging
from typing import Any

from exam.db import db
from exam.jobs import celery_app

log = logging.getLogger(__name__)


@celery_app.task(name="proctor.analyze_frame")
def analyze_frame(frame_id: int) -> dict[str, Any] | None:
    """Analyse one stored frame and refresh its sitting's flags and risk."""
    from proctor.analysis_service import analyse_stored_frame

    try:
        result = analyse_stored_frame(db.session, frame_id)
        db.session.commit()
        return result
    finally:
        db.session.remove()


@celery_app.task(name="proctor.sweep")
def sweep() -> dict[str, int]:
    """Analyse frames that are still waiting, then delete raw frames past their retention period."""
    from proctor.analysis_service import pending_frame_ids
    from proctor.services import purge_frames

    try:
        pending = pending_frame_ids(db.session, limit=500)
        for frame_id in pending:
            analyze_frame.delay(frame_id)
        purged = purge_frames(db.session)
        db.session.commit()
        return {"dispatched": len(pending), "purged": purged}
    finally:
        db.session.remove()


def dispatch_analysis(frame_id: int) -> None:
    """Queue a frame's analysis; in-process mode runs it now but never lets it fail the upload."""
    try:
        analyze_frame.delay(frame_id)
    except Exception:  # analysis is best effort at upload time; the sweep retries
        log.exception("analysis of frame %s failed; the sweep will retry", frame_id)
