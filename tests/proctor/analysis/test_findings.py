"""Findings dataclasses: JSON round trip, older stored forms, bad stored forms."""

from __future__ import annotations

import json

import pytest

from proctor.analysis.findings import EyeGaze, FaceBox, Finding, FindingsFormatError, FrameFindings, Quality, Tri


def full_findings() -> FrameFindings:
    findings = FrameFindings(
        t=3.5,
        quality=Quality(120.0, 40.0, 300.0, Finding.present(), Finding.absent("brightness 120")),
        faces=[FaceBox(10, 20, 100, 110, 0.9), FaceBox(300, 40, 30, 30, 0.6)],
    )
    findings.face = Finding.present("2 face(s)")
    findings.multiple_faces = Finding.present("2 faces")
    findings.yaw, findings.pitch, findings.roll = 5.0, -3.0, 1.0
    findings.pose = Finding.present()
    findings.gaze_left, findings.gaze_right = EyeGaze(0.4, 0.5, 0.3), EyeGaze(0.42, 0.48, 0.31)
    findings.gaze_x, findings.gaze_y, findings.gaze_direction = 0.41, 0.49, "left"
    findings.gaze = Finding.present()
    findings.gaze_off_centre = Finding.present("left")
    findings.identity, findings.identity_similarity = Finding.uncertain("between"), 0.7
    return findings


def test_round_trip_through_json() -> None:
    findings = full_findings()
    data = json.loads(json.dumps(findings.as_dict()))
    assert data["face_count"] == 2 and data["face"] == {"state": "present", "reason": "2 face(s)"}
    assert "yaw 5°" in data["summary"] and "gaze left" in data["summary"]
    again = FrameFindings.from_dict(data)
    assert again == findings and again.quality.blur == 300.0


def test_older_stored_forms_still_read() -> None:
    # The form stored before per-eye gaze, gaze states, covered and similarity existed.
    old = {
        "t": 1.0,
        "quality": {"brightness": 9.0, "contrast": 2.0, "sharpness": 1.0, "usable": {"state": "absent", "reason": "x"}},
        "faces": [],
        "face": {"state": "uncertain", "reason": "dark"},
        "multiple_faces": {"state": "uncertain", "reason": "dark"},
        "yaw": None,
        "pose": {"state": "uncertain", "reason": "no face"},
        "identity": {"state": "uncertain", "reason": "no enrolment photo"},
        "identity_distance": None,
    }
    findings = FrameFindings.from_dict(old)
    assert findings.face.state is Tri.UNCERTAIN and findings.quality.covered.state is Tri.UNCERTAIN
    assert findings.gaze.state is Tri.UNCERTAIN and findings.gaze_left is None and findings.face_count == 0


def test_bad_stored_forms_are_named() -> None:
    with pytest.raises(FindingsFormatError, match="t/quality"):
        FrameFindings.from_dict({"faces": []})
    data = full_findings().as_dict()
    data["face"] = {"state": "maybe"}
    with pytest.raises(FindingsFormatError, match="maybe"):
        FrameFindings.from_dict(data)
