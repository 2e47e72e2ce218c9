"""FaceDetector (the full-range model run directly in tflite-runtime, MediaPipe's pre/post-processing in numpy)
against MediaPipe's own FaceDetectionFullRangeCpu graph on the same images: same faces, boxes, scores, eyes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from proctor.analysis.detectors import (
    DETECT_SIDE,
    FaceDetector,
    full_range_anchors,
    mediapipe_full_range_detection,
    run_graph,
    weighted_nms,
)
from proctor.analysis.findings import FaceBox

DATA = Path(__file__).resolve().parent.parent / "data"
PHOTOS = ("face_center.jpg", "face_left.jpg", "two_faces.jpg")
MAX_PX = 2.0  # box edges, frame pixels (measured: at most 0.5, the rounding of the boxes to whole pixels)
MAX_SCORE = 0.02  # measured: below 1e-6
MAX_EYE_PX = 1.0  # eye keypoints are not rounded (measured: below 0.01 px)

Reference = tuple[tuple[float, float, float, float], float, tuple[tuple[float, float], tuple[float, float]]]


@pytest.fixture(scope="module")
def graph() -> Iterator[Any]:
    solution = mediapipe_full_range_detection()
    yield solution
    solution.close()


@pytest.fixture(scope="module")
def detector() -> Iterator[FaceDetector]:
    instance = FaceDetector()
    yield instance
    instance.close()


def reference(graph: Any, rgb: np.ndarray, x0: float = 0.0, y0: float = 0.0, scale: float = 1.0) -> list[Reference]:
    """The graph's detections on `rgb`, in the same frame pixels FaceDetector reports (x0, y0, scale as in _run)."""
    h, w = rgb.shape[:2]
    out = []
    for detection in run_graph(graph, rgb, "detections") or []:
        box = detection.location_data.relative_bounding_box
        points = detection.location_data.relative_keypoints
        eyes = tuple((x0 + p.x * w / scale, y0 + p.y * h / scale) for p in points[:2])
        corners = (x0 + box.xmin * w / scale, y0 + box.ymin * h / scale, box.width * w / scale, box.height * h / scale)
        out.append((corners, float(detection.score[0]), eyes))
    return out


def reduced(bgr: np.ndarray) -> np.ndarray:
    """The frame reduced to fit the detector's input and converted to RGB, as FaceDetector.detect does."""
    h, w = bgr.shape[:2]
    scale = min(1.0, DETECT_SIDE / max(w, h))
    small = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)


def assert_same(found: list[FaceBox], eyes: dict[FaceBox, Any], expected: list[Reference], label: str) -> None:
    assert len(found) == len(expected), f"{label}: {len(found)} faces, MediaPipe {len(expected)}"
    by_area = sorted(expected, key=lambda r: -r[0][2] * r[0][3])
    for box, (corners, score, ref_eyes) in zip(found, by_area, strict=True):
        assert np.allclose((box.x, box.y, box.width, box.height), corners, atol=MAX_PX), (label, box, corners)
        assert box.score == pytest.approx(score, abs=MAX_SCORE), (label, box.score, score)
        assert np.allclose(eyes[box], ref_eyes, atol=MAX_EYE_PX), (label, eyes[box], ref_eyes)


def variants() -> Iterator[tuple[str, np.ndarray]]:
    """The shipped photographs, scaled, cropped, padded and pasted into a larger scene, and people-free images."""
    for name in PHOTOS:
        photo = cv2.imread(str(DATA / name))
        assert photo is not None, name
        h, w = photo.shape[:2]
        yield name, photo
        for factor in (0.4, 0.75, 1.6):
            yield f"{name} x{factor}", cv2.resize(photo, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        yield f"{name} cropped", photo[h // 8 :, w // 10 : w - w // 7]
        yield f"{name} 108x192", cv2.resize(photo, (108, 192))  # whole-pixel side borders (the copy, not the warp)
        canvas = np.full((480, 640, 3), 110, np.uint8)
        small = cv2.resize(photo, (w * 300 // h, 300))
        canvas[100 : 100 + small.shape[0], 300 : 300 + small.shape[1]] = small[:, : 640 - 300]
        yield f"{name} in a 640x480 scene", canvas
    rng = np.random.default_rng(5)
    yield "grey wall", np.full((480, 640, 3), 128, np.uint8)
    yield "blurred noise", cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (15, 15), 0)
    room = np.full((480, 640, 3), (150, 160, 170), np.uint8)
    cv2.rectangle(room, (0, 330), (640, 480), (60, 80, 100), -1)
    cv2.circle(room, (420, 120), 45, (220, 220, 230), -1)
    yield "drawn room", room


def test_the_detector_finds_what_the_mediapipe_graph_finds(graph: Any, detector: FaceDetector) -> None:
    faces = 0
    for label, frame in variants():
        rgb = reduced(frame)
        expected = reference(graph, rgb, scale=rgb.shape[1] / frame.shape[1])
        found = detector.detect(frame)
        assert_same(found, detector.eyes, expected, label)
        faces += len(found)
    assert faces >= 20  # 24 faces on these variants: the comparison is not an empty one


def test_larger_inputs_are_letterboxed_as_the_graph_does(graph: Any, detector: FaceDetector) -> None:
    # The tile pass gives the model images larger than 192 px (resized inside the letterbox): compare those too.
    for name in PHOTOS:
        photo = cv2.cvtColor(cv2.imread(str(DATA / name)), cv2.COLOR_BGR2RGB)
        for size in ((320, 240), (250, 333), (200, 150)):
            rgb = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
            detector.eyes = {}
            found = sorted(detector._run(rgb, 10, 20, 0.8), key=lambda b: -b.width * b.height)
            assert_same(found, detector.eyes, reference(graph, rgb, 10, 20, 0.8), f"{name} {size}")


def test_the_anchors_cover_the_model_output_grid() -> None:
    anchors = full_range_anchors()
    assert anchors.shape == (2304, 2)  # the model's (1, 2304, 16) output: one anchor per 4 px cell of 192 x 192
    assert np.allclose(anchors[0], (0.5 / 48, 0.5 / 48)) and np.allclose(anchors[1], (1.5 / 48, 0.5 / 48))
    assert np.allclose(anchors[-1], (47.5 / 48, 47.5 / 48))


def test_weighted_nms_averages_a_cluster_by_score() -> None:
    weak = (0.6, [0.12, 0.1, 0.32, 0.3], [0.3] * 12)
    best = (0.9, [0.1, 0.1, 0.3, 0.3], [0.2] * 12)  # overlaps `weak` (IoU 0.82)
    apart = (0.7, [0.6, 0.6, 0.7, 0.7], [0.65] * 12)
    out = weighted_nms([weak, best, apart])
    assert [score for score, _, _ in out] == [0.9, 0.7]  # the best score of a cluster, not an average
    assert np.allclose(out[0][1], (0.9 * np.array(best[1]) + 0.6 * np.array(weak[1])) / 1.5)
    assert np.allclose(out[0][2], (0.9 * 0.2 + 0.6 * 0.3) / 1.5)
    assert out[1][1] == apart[1] and out[1][2] == apart[2]
    assert weighted_nms([]) == []  # a frame without candidates


def test_min_score_is_applied(detector: FaceDetector) -> None:
    frame = cv2.imread(str(DATA / "two_faces.jpg"))
    scores = sorted(b.score for b in detector.detect(frame))
    assert len(scores) == 2
    strict = FaceDetector(min_score=(scores[0] + scores[1]) / 2)
    try:
        assert [b.score for b in strict.detect(frame)] == [pytest.approx(scores[1])]
    finally:
        strict.close()
