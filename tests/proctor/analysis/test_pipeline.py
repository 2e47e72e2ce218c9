"""The whole frame analysis on real face photographs (tests/proctor/data), people-free scenes and dark frames."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from proctor.analysis.detectors import DetectorError, FaceDetector
from proctor.analysis.findings import Tri
from proctor.analysis.pipeline import AnalyzerConfig, FrameAnalyzer

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def analyzer() -> Iterator[FrameAnalyzer]:
    with FrameAnalyzer() as instance:
        yield instance


def image(name: str) -> np.ndarray:
    loaded = cv2.imread(str(DATA / name))
    assert loaded is not None, name
    return loaded


def test_a_face_its_pose_and_gaze(analyzer: FrameAnalyzer) -> None:
    centre = analyzer.analyze(image("face_center.jpg"), 0.0)
    assert centre.face.state is Tri.PRESENT and centre.face_count == 1
    assert centre.multiple_faces.state is Tri.ABSENT and centre.pose.state is Tri.PRESENT
    assert centre.yaw is not None and abs(centre.yaw) < 15 and centre.gaze_x is not None
    assert 0.45 < centre.gaze_x < 0.56 and centre.gaze_direction == "centre"
    assert centre.gaze_left is not None and centre.gaze_right is not None
    assert centre.gaze_off_centre.state is Tri.ABSENT
    side = analyzer.analyze(image("face_left.jpg"), 1.0)
    # The head stays put; the eyes move: only the iris position tells, and both eyes agree.
    assert side.yaw is not None and side.gaze_x is not None and side.gaze_left and side.gaze_right
    assert abs(side.yaw - centre.yaw) < 8 and centre.gaze_x - side.gaze_x > 0.07
    assert side.gaze_left.x < centre.gaze_left.x and side.gaze_right.x < centre.gaze_right.x  # type: ignore[union-attr]
    assert side.gaze_direction == "left" and side.gaze_off_centre.state is Tri.PRESENT


def test_two_faces_including_a_small_one_in_the_background(analyzer: FrameAnalyzer) -> None:
    findings = analyzer.analyze(image("two_faces.jpg"), 0.0)
    assert findings.face_count == 2 and findings.multiple_faces.state is Tri.PRESENT
    assert min(b.width for b in findings.faces) < 80 and findings.faces[0].width > 150  # largest first
    assert findings.pose.state is Tri.PRESENT  # measured on the main face


def scenes() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    room = np.full((480, 640, 3), 150, np.uint8)
    cv2.rectangle(room, (100, 200), (300, 470), (40, 80, 120), -1)  # a desk
    cv2.rectangle(room, (400, 50), (600, 250), (30, 30, 30), -1)  # a screen
    cv2.circle(room, (500, 380), 40, (200, 200, 230), -1)  # a round lamp, face-sized
    return [
        np.full((480, 640, 3), 200, np.uint8),  # a white wall
        rng.integers(0, 255, (480, 640, 3), dtype=np.uint8),  # noise
        cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (31, 31), 0),
        room,
    ]


def test_no_faces_without_people(analyzer: FrameAnalyzer) -> None:
    for scene in scenes():
        findings = analyzer.analyze(scene, 0.0)
        assert findings.faces == []
        assert findings.face.state in (Tri.ABSENT, Tri.UNCERTAIN)
        assert findings.pose.state is Tri.UNCERTAIN and findings.gaze.state is Tri.UNCERTAIN
    room = analyzer.analyze(scenes()[-1], 0.0)
    assert room.face.state is Tri.ABSENT  # a usable, well-lit image without a face: absent, not uncertain


def test_dark_or_covered_is_uncertain_never_absent(analyzer: FrameAnalyzer) -> None:
    dark = analyzer.analyze(np.full((480, 640, 3), 8, np.uint8), 0.0)
    assert dark.face.state is Tri.UNCERTAIN and "covered or dark" in dark.face.reason
    assert dark.quality.usable.state is Tri.ABSENT and dark.quality.covered.state is Tri.PRESENT
    dim = (image("face_center.jpg").astype(np.float32) * 0.04).astype(np.uint8)  # lights off
    findings = analyzer.analyze(dim, 0.0)
    assert findings.face.state is not Tri.ABSENT


def test_small_faces_are_counted_but_not_measured(analyzer: FrameAnalyzer) -> None:
    canvas = np.full((480, 640, 3), 120, np.uint8)
    canvas[150:291, 250:330] = cv2.resize(image("face_center.jpg"), (80, 141))
    found = analyzer.analyze(canvas, 0.0)
    assert found.face_count == 1 and found.faces[0].width < 60
    assert found.pose.state is Tri.UNCERTAIN and "too small" in found.pose.reason and found.gaze_x is None


def test_the_tile_pass_finds_smaller_faces() -> None:
    canvas = np.full((480, 640, 3), 120, np.uint8)
    canvas[40:93, 480:510] = cv2.resize(image("face_center.jpg"), (30, 53))  # a face about 20 px wide
    canvas[150:470, 40:221] = cv2.resize(image("face_center.jpg"), (181, 320))
    with FrameAnalyzer() as plain, FrameAnalyzer(AnalyzerConfig(small_face_tiles=True)) as tiled:
        assert plain.analyze(canvas, 0.0).face_count == 1
        findings = tiled.analyze(canvas, 0.0)
    assert findings.face_count == 2 and findings.multiple_faces.state is Tri.PRESENT
    assert findings.faces[1].width < 30


def test_identity_against_the_enrolment_photo(analyzer: FrameAnalyzer) -> None:
    with FrameAnalyzer(enrolment=image("face_center.jpg")) as enrolled:
        assert enrolled.enrolled
        same = enrolled.analyze(image("face_left.jpg"), 0.0)
        assert same.identity_similarity is not None and same.identity.state is Tri.PRESENT
        itself = enrolled.analyze(image("face_center.jpg"), 0.0)
        # Not 1.0: the landmarks (and so the aligned crop) move by a pixel between runs of the tracking mesh.
        assert itself.identity.state is Tri.PRESENT and itself.identity_similarity > 0.75  # type: ignore[operator]
        noisy = np.random.default_rng(4).normal(0, 25, (636, 360, 3)) + image("face_center.jpg")
        degraded = enrolled.analyze(np.clip(noisy, 0, 255).astype(np.uint8), 0.0)
        assert degraded.identity_similarity < same.identity_similarity  # type: ignore[operator]
        assert degraded.identity.state is not Tri.PRESENT
        empty = enrolled.analyze(np.full((480, 640, 3), 200, np.uint8), 0.0)
        assert empty.identity.state is Tri.UNCERTAIN and empty.identity_similarity is None
    assert analyzer.analyze(image("face_left.jpg"), 0.0).identity.state is Tri.UNCERTAIN  # nobody enrolled
    with FrameAnalyzer() as blank:
        assert blank.enrol(np.full((480, 640, 3), 200, np.uint8)) is False and not blank.enrolled
        assert blank.enrol(image("two_faces.jpg")) is False


def test_the_detector_alone_reduces_the_frame_itself() -> None:
    detector = FaceDetector()
    try:
        boxes = detector.detect(image("two_faces.jpg"))
    finally:
        detector.close()
    assert len(boxes) == 2 and boxes[0].width > boxes[1].width and all(b.score >= 0.5 for b in boxes)


def test_bad_frames_are_refused(analyzer: FrameAnalyzer) -> None:
    with pytest.raises(DetectorError, match="BGR image"):
        analyzer.analyze(np.zeros((480, 640), np.uint8), 0.0)


def _threads() -> int:
    return len(os.listdir(f"/proc/{os.getpid()}/task"))


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="counts threads through /proc")
def test_the_graphs_run_on_the_calling_thread() -> None:
    # One analyzer = one core: MediaPipe's default executor would start a thread pool per graph. The first
    # analyzer of a process may start process-wide helpers (logging, the TFLite delegate), so count the second.
    with FrameAnalyzer() as first:
        first.analyze(image("face_center.jpg"), 0.0)
        before = _threads()
        with FrameAnalyzer() as second:
            second.analyze(image("face_center.jpg"), 0.0)
            second.analyze(image("two_faces.jpg"), 1.0)
            assert _threads() == before


def test_a_frame_gives_the_same_landmarks_whatever_came_before(analyzer: FrameAnalyzer) -> None:
    # The mesh is given each frame's own face region: no tracking state carries over from the previous frame
    # (which, on a shared worker, shows another student).
    first = analyzer.analyze(image("face_center.jpg"), 0.0)
    analyzer.analyze(image("two_faces.jpg"), 1.0)
    analyzer.analyze(image("face_left.jpg"), 2.0)
    again = analyzer.analyze(image("face_center.jpg"), 3.0)
    assert (again.gaze_x, again.gaze_y, again.yaw, again.pitch) == (first.gaze_x, first.gaze_y, first.yaw, first.pitch)


def test_a_rolled_head_is_levelled_before_the_mesh(analyzer: FrameAnalyzer) -> None:
    upright = analyzer.analyze(image("face_left.jpg"), 0.0)
    photo = image("face_left.jpg")
    h, w = photo.shape[:2]
    turned = cv2.warpAffine(photo, cv2.getRotationMatrix2D((w / 2, h / 2), 25, 1.0), (w, h))
    rolled = analyzer.analyze(turned, 1.0)
    assert rolled.roll is not None and upright.roll is not None and abs(rolled.roll - upright.roll) > 15
    # The iris position between the eye corners does not change when the whole head is rolled.
    assert rolled.gaze_x is not None and upright.gaze_x is not None
    assert abs(rolled.gaze_x - upright.gaze_x) < 0.03 and rolled.gaze_direction == "left"
