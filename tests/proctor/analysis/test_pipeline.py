"""Frame analysis on real face photographs, people-free scenes and synthetic geometry."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from proctor.analysis.calibration import calibrate
from proctor.analysis.findings import FrameFindings, Tri
from proctor.analysis.pipeline import MODEL_POINTS, AnalyzerConfig, FrameAnalyzer, head_pose, quality_of
from proctor.analysis.video import frames_from

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def analyzer() -> FrameAnalyzer:
    instance = FrameAnalyzer()
    yield instance
    instance.close()


def _image(name: str) -> np.ndarray:
    return cv2.imread(str(DATA / name))


def test_a_face_its_pose_and_gaze(analyzer: FrameAnalyzer) -> None:
    centre = analyzer.analyze(_image("face_center.jpg"), 0.0)
    assert centre.face.state is Tri.PRESENT and len(centre.faces) == 1
    assert centre.multiple_faces.state is Tri.ABSENT and centre.pose.state is Tri.PRESENT
    assert abs(centre.yaw) < 15 and 0.45 < centre.gaze_x < 0.56
    side = analyzer.analyze(_image("face_left.jpg"), 1.0)
    # The head stays put; the eyes move: only the iris position tells.
    assert abs(side.yaw - centre.yaw) < 8 and centre.gaze_x - side.gaze_x > 0.07


def test_two_faces_including_a_small_one_in_the_background(analyzer: FrameAnalyzer) -> None:
    findings = analyzer.analyze(_image("two_faces.jpg"), 0.0)
    assert len(findings.faces) == 2 and findings.multiple_faces.state is Tri.PRESENT
    assert min(b.width for b in findings.faces) < 80


def test_no_faces_without_people_and_uncertain_in_the_dark(analyzer: FrameAnalyzer) -> None:
    rng = np.random.default_rng(1)
    scenes = [
        np.full((480, 640, 3), 200, np.uint8),  # a white wall
        rng.integers(0, 255, (480, 640, 3), dtype=np.uint8),  # noise
        cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (31, 31), 0),
    ]
    room = np.full((480, 640, 3), 150, np.uint8)
    cv2.rectangle(room, (100, 200), (300, 470), (40, 80, 120), -1)  # a desk
    cv2.rectangle(room, (400, 50), (600, 250), (30, 30, 30), -1)  # a screen
    scenes.append(room)
    for scene in scenes:
        findings = analyzer.analyze(scene, 0.0)
        assert findings.faces == []
        assert findings.face.state in (Tri.ABSENT, Tri.UNCERTAIN)
    dark = analyzer.analyze(np.full((480, 640, 3), 8, np.uint8), 0.0)
    assert dark.face.state is Tri.UNCERTAIN and "covered or dark" in dark.face.reason
    assert dark.quality.usable.state is Tri.ABSENT
    small = cv2.resize(_image("face_center.jpg"), (36, 64))
    tiny = np.full((480, 640, 3), 120, np.uint8)
    tiny[200:264, 300:336] = small
    found = analyzer.analyze(tiny, 0.0)
    if found.faces:  # a face this small is counted, but pose and gaze are not guessed
        assert found.pose.state is Tri.UNCERTAIN and found.gaze_x is None


def test_identity_against_the_enrolment_photo() -> None:
    analyzer = FrameAnalyzer(enrolment=_image("face_center.jpg"))
    same = analyzer.analyze(_image("face_left.jpg"), 0.0)
    assert same.identity_distance is not None and same.identity.state is not Tri.ABSENT
    blank = FrameAnalyzer()
    assert blank.enrol(np.full((480, 640, 3), 200, np.uint8)) is False
    analyzer.close()
    blank.close()


def test_head_pose_recovers_a_known_rotation() -> None:
    width, height = 640, 480
    camera = np.array([[width, 0, width / 2], [0, width, height / 2], [0, 0, 1]], float)
    for yaw in (-25.0, 0.0, 30.0):
        rotation, _ = cv2.Rodrigues(np.array([0.0, np.radians(yaw), 0.0]))
        points, _ = cv2.projectPoints(
            MODEL_POINTS, cv2.Rodrigues(rotation)[0], np.array([0.0, 0.0, 1500.0]), camera, np.zeros(4)
        )
        measured = head_pose(points.reshape(-1, 2), width, height)
        assert measured is not None and measured[0] == pytest.approx(yaw, abs=1.0)
        assert abs(measured[1]) < 1.0 and abs(measured[2]) < 1.0


def test_quality_measures() -> None:
    config = AnalyzerConfig()
    covered = quality_of(np.full((480, 640), 5, np.uint8), config)
    assert covered.usable.state is Tri.ABSENT
    textured = quality_of(np.random.default_rng(2).integers(0, 255, (480, 640), dtype=np.uint8), config)
    assert textured.usable.state is Tri.PRESENT and textured.sharpness > covered.sharpness


def test_findings_round_trip_and_baseline(analyzer: FrameAnalyzer) -> None:
    frames = [analyzer.analyze(_image("face_center.jpg"), float(t)) for t in range(4)]
    again = FrameFindings.from_dict(frames[0].as_dict())
    assert again.face == frames[0].face and again.gaze_x == frames[0].gaze_x
    baseline = calibrate(frames)
    assert baseline is not None and baseline.frames == 4 and baseline.gaze_x_spread >= 0.025
    assert calibrate(frames[:2]) is None


def test_frames_from_a_folder_and_bad_paths(tmp_path: Path) -> None:
    for n in range(3):
        cv2.imwrite(str(tmp_path / f"{n:02d}.jpg"), np.full((10, 10, 3), n * 50, np.uint8))
    frames = list(frames_from(tmp_path, every=2, fps_for_images=0.5))
    assert [(i, t) for i, t, _ in frames] == [(0, 0.0), (2, 4.0)]
    with pytest.raises(ValueError, match="no images"):
        list(frames_from(tmp_path / "empty" if (tmp_path / "empty").mkdir() is None else tmp_path))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(ValueError, match="not a video"):
        list(frames_from(broken))
