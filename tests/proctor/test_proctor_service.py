"""Proctoring storage, API, review and retention on a real database with real JPEG files."""

from __future__ import annotations

import base64
import os
from datetime import timedelta
from typing import Any

import cv2
import numpy as np
from flask import Flask
from flask.testing import FlaskClient

from exam.auth.models import User
from exam.db import db, utcnow
from exam.delivery.models import ExamStaff, Sitting
from proctor import services
from proctor.models import BrowserEvent, Flag, FlagDecision, Frame, ProctorSession


def _jpeg() -> bytes:
    image = np.full((120, 160, 3), 128, np.uint8)
    cv2.circle(image, (80, 60), 30, (200, 180, 160), -1)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def _student(app: Flask, client: FlaskClient, login: Any, ids: dict[str, Any]) -> int:
    with app.app_context():
        username = db.session.get(User, ids["students"][0]).username
    login(client, username)
    return client.post(f"/api/v1/exams/{ids['exam']}/start").get_json()["sitting_id"]


def _frame_body(op: str, kind: str = "exam", image: str | None = None) -> dict[str, Any]:
    return {
        "op_id": op,
        "taken_at": utcnow().isoformat(),
        "kind": kind,
        "image": image or "data:image/jpeg;base64," + base64.b64encode(_jpeg()).decode(),
    }


def test_frames_and_events_through_the_api(app: Flask, client: FlaskClient, login: Any, exam_factory: Any) -> None:
    ids = exam_factory(proctored=True)
    sid = _student(app, client, login, ids)
    before_consent = client.post(f"/api/v1/sittings/{sid}/proctor/frames", json=_frame_body("frame-0001"))
    assert before_consent.status_code == 422 and "consent" in before_consent.get_data(as_text=True)
    assert client.post(f"/api/v1/sittings/{sid}/proctor/consent").get_json()["frame_seconds"] == 5
    first = client.post(f"/api/v1/sittings/{sid}/proctor/frames", json=_frame_body("frame-0001", "enrolment"))
    assert first.status_code == 200 and first.get_json()["stored"] is True
    again = client.post(f"/api/v1/sittings/{sid}/proctor/frames", json=_frame_body("frame-0001", "enrolment"))
    assert again.get_json() == {**first.get_json(), "stored": False}
    not_jpeg = client.post(
        f"/api/v1/sittings/{sid}/proctor/frames",
        json=_frame_body("frame-0002", image=base64.b64encode(b"GIF89a....").decode()),
    )
    assert not_jpeg.status_code == 422 and "not a JPEG image" in not_jpeg.get_data(as_text=True)
    bad_event = client.post(
        f"/api/v1/sittings/{sid}/proctor/events",
        json={"op_id": "event-001", "type": "dancing", "at": utcnow().isoformat()},
    )
    assert bad_event.status_code == 422 and "type" in bad_event.get_json()["error"]["details"]["json"]
    event = {"op_id": "event-002", "type": "tab_hidden", "at": utcnow().isoformat(), "duration_seconds": 12.5}
    assert client.post(f"/api/v1/sittings/{sid}/proctor/events", json=event).status_code == 200
    assert client.post(f"/api/v1/sittings/{sid}/proctor/events", json=event).status_code == 200
    with app.app_context():
        frames = db.session.query(Frame).all()
        assert len(frames) == 1 and frames[0].kind == "enrolment"
        assert services.frame_file(frames[0]).read_bytes()[:2] == b"\xff\xd8"
        assert db.session.get(ProctorSession, sid).enrolment_frame_id == frames[0].id
        assert db.session.query(BrowserEvent).count() == 1


def test_only_assigned_proctors_see_frames_and_decide(
    app: Flask, client: FlaskClient, login: Any, exam_factory: Any, make_user: Any, wait_for: Any
) -> None:
    ids = exam_factory(proctored=True)
    assigned = make_user("proctor.a", "proctor")
    make_user("proctor.b", "proctor")
    sid = _student(app, client, login, ids)
    client.post(f"/api/v1/sittings/{sid}/proctor/consent")
    frame_id = client.post(f"/api/v1/sittings/{sid}/proctor/frames", json=_frame_body("frame-0003")).get_json()[
        "frame_id"
    ]
    assert wait_for(lambda: db.session.get(Frame, frame_id).analysed_at is not None)
    with app.app_context():
        db.session.add(ExamStaff(exam_id=ids["exam"], user_id=assigned, role="proctor"))
        now = utcnow()
        flag = Flag(
            sitting_id=sid,
            rule="no_face",
            start=now,
            end=now + timedelta(seconds=20),
            severity=0.8,
            values={"seconds": 20},
            thresholds={"seconds": 10},
            evidence_frame_ids=[frame_id],
        )
        db.session.add(flag)
        db.session.get(ProctorSession, sid).risk = 0.8
        db.session.commit()
        flag_id = flag.id
    client.post("/logout")
    login(client, "proctor.b")
    assert client.get(f"/proctor/frames/{frame_id}.jpg").status_code == 404
    assert client.get(f"/proctor/sittings/{sid}").status_code == 404
    client.post("/logout")
    login(client, "proctor.a")
    assert "Unit test" in client.get("/proctor/").get_data(as_text=True)
    page = client.get(f"/proctor/sittings/{sid}").get_data(as_text=True)
    assert "no_face" in page and f"/proctor/frames/{frame_id}.jpg" in page
    image = client.get(f"/proctor/frames/{frame_id}.jpg")
    assert image.status_code == 200 and image.headers["Cache-Control"].startswith("private")
    refused = client.post(f"/proctor/flags/{flag_id}/decide", data={"decision": "confirm"}, follow_redirects=True)
    assert "a note is required" in refused.get_data(as_text=True)
    client.post(f"/proctor/flags/{flag_id}/decide", data={"decision": "confirm", "note": "a second person"})
    with app.app_context():
        assert db.session.get(Flag, flag_id).status == "confirmed"
        assert db.session.query(FlagDecision).one().note == "a second person"
        assert db.session.get(ProctorSession, sid).outcome == "confirmed"
        assert db.session.get(Frame, frame_id).keep is True
        rates = services.false_flag_rates(db.session)
        assert rates["no_face"]["false_flag_rate"] == 0.0
    client.post("/logout")
    login(client, db_username(app, ids["owner"]))
    assert client.get(f"/proctor/frames/{frame_id}.jpg").status_code == 403  # examiners do not see frames


def db_username(app: Flask, user_id: int) -> str:
    with app.app_context():
        return db.session.get(User, user_id).username


def test_retention_deletes_old_frames_but_keeps_evidence(app: Flask, ctx: Any, exam_factory: Any) -> None:
    ids = exam_factory(proctored=True)
    exam_sitting = Sitting(exam_id=ids["exam"], user_id=ids["students"][0], deadline_at=utcnow() + timedelta(hours=1))
    db.session.add(exam_sitting)
    db.session.flush()
    old, kept, fresh = (
        services.record_frame(db.session, exam_sitting, op_id=f"retain-{n}", taken_at=utcnow(), jpeg=_jpeg())[0]
        for n in range(3)
    )
    old.received_at = kept.received_at = utcnow() - timedelta(days=40)
    kept.keep = True
    db.session.flush()
    old_file = services.frame_file(old)
    assert services.purge_frames(db.session) == 1
    assert old.path is None and not os.path.exists(old_file)
    assert services.frame_file(kept) is not None and services.frame_file(fresh) is not None


def _real(name: str) -> bytes:
    from pathlib import Path

    return (Path(__file__).parent / "data" / name).read_bytes()


def test_stored_frames_are_analysed_into_flags_and_risk(
    app: Flask, client: FlaskClient, login: Any, exam_factory: Any, wait_for: Any
) -> None:
    ids = exam_factory(proctored=True)
    sid = _student(app, client, login, ids)
    client.post(f"/api/v1/sittings/{sid}/proctor/consent")
    start = utcnow()

    def send(op: str, kind: str, seconds: float, name: str) -> None:
        body = {
            "op_id": op,
            "kind": kind,
            "taken_at": (start + timedelta(seconds=seconds)).isoformat(),
            "image": base64.b64encode(_real(name)).decode(),
        }
        assert client.post(f"/api/v1/sittings/{sid}/proctor/frames", json=body).status_code == 200

    send("enrol-0001", "enrolment", 0, "face_center.jpg")
    for n in range(4):
        send(f"calib-000{n}", "calibration", 1 + n * 0.5, "face_center.jpg")
    for n in range(4):
        send(f"exam-c-000{n}", "exam", 10 + 2 * n, "face_center.jpg")
    for n in range(4):
        send(f"exam-l-000{n}", "exam", 18 + 2 * n, "face_left.jpg")
    send("exam-x-0001", "exam", 26, "two_faces.jpg")
    send("exam-x-0002", "exam", 28, "two_faces.jpg")
    assert wait_for(lambda: db.session.query(Frame).filter(Frame.analysed_at.is_(None)).count() == 0, timeout=60)
    with app.app_context():
        record = db.session.get(ProctorSession, sid)
        assert record.baseline is not None and record.baseline["frames"] == 4
        frames = db.session.query(Frame).filter_by(sitting_id=sid).all()
        assert all(f.findings and f.findings["face"]["state"] == "present" for f in frames)
        rules = sorted(f.rule for f in db.session.query(Flag).filter_by(sitting_id=sid))
        assert rules == ["looking_away", "multiple_faces"]
        assert record.risk > 0.3
    with app.app_context():
        from exam.authoring.services import results_table
        from exam.delivery.models import Exam

        header, rows = results_table(db.session, db.session.get(Exam, ids["exam"]))
        assert header[-1] == "proctoring" and rows[0][-1] == "review pending"
