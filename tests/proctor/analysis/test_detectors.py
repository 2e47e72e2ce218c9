"""The instruments without MediaPipe: quality measures, head-pose maths, gaze ratios, box merging, LBP signature."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from proctor.analysis.detectors import (
    EYES,
    MODEL_POINTS,
    DetectorError,
    FaceSignature,
    IdentityEmbedder,
    QualityThresholds,
    check_frame,
    eye_gaze,
    head_pose,
    iou,
    lbp_histogram,
    merge_boxes,
    quality_of,
    run_graph,
)
from proctor.analysis.findings import FaceBox, Tri

WIDTH, HEIGHT = 640, 480
CAMERA = np.array([[WIDTH, 0, WIDTH / 2], [0, WIDTH, HEIGHT / 2], [0, 0, 1]], float)


def project(yaw: float, pitch: float = 0.0, roll: float = 0.0, distance: float = 1500.0) -> np.ndarray:
    """The generic face turned by known angles, as the camera would see it (pixels)."""
    # Our convention: pitch positive = looking up, i.e. a negative rotation about the camera's x axis.
    rx = cv2.Rodrigues(np.array([-np.radians(pitch), 0.0, 0.0]))[0]
    ry = cv2.Rodrigues(np.array([0.0, np.radians(yaw), 0.0]))[0]
    rz = cv2.Rodrigues(np.array([0.0, 0.0, np.radians(roll)]))[0]
    rotation = rz @ ry @ rx  # the order RQDecomp3x3 decomposes into
    points, _ = cv2.projectPoints(
        MODEL_POINTS, cv2.Rodrigues(rotation)[0], np.array([0.0, 0.0, distance]), CAMERA, np.zeros(4)
    )
    return points.reshape(-1, 2)


@pytest.mark.parametrize("yaw", [-30.0, -12.0, 0.0, 8.0, 25.0])
def test_head_pose_recovers_a_known_yaw(yaw: float) -> None:
    measured = head_pose(project(yaw), WIDTH, HEIGHT)
    assert measured is not None
    assert measured[0] == pytest.approx(yaw, abs=0.5)
    assert measured[1] == pytest.approx(0.0, abs=0.5) and measured[2] == pytest.approx(0.0, abs=0.5)


def test_head_pose_recovers_pitch_and_roll_and_refuses_garbage() -> None:
    measured = head_pose(project(10.0, pitch=15.0, roll=-5.0), WIDTH, HEIGHT)
    assert measured is not None
    assert np.allclose(measured, (10.0, 15.0, -5.0), atol=1.0)
    looking_down = head_pose(project(0.0, pitch=-20.0), WIDTH, HEIGHT)
    assert looking_down is not None and looking_down[1] == pytest.approx(-20.0, abs=1.0)
    assert head_pose(np.full((6, 2), np.nan), WIDTH, HEIGHT) is None
    assert head_pose(np.zeros((5, 2)), WIDTH, HEIGHT) is None


def eye_points(iris_x: float, iris_y: float, gap: float = 10.0) -> np.ndarray:
    """Two level eyes 40 px wide with the iris at the given fractions."""
    points = np.zeros((478, 2))
    for (left, right, iris, top, bottom), x0 in zip(EYES, (100.0, 200.0), strict=True):
        points[left], points[right] = (x0, 100.0), (x0 + 40.0, 100.0)
        points[top], points[bottom] = (x0 + 20, 100.0 - gap / 2), (x0 + 20, 100.0 + gap / 2)
        points[iris] = (x0 + 40.0 * iris_x, 100.0 - gap / 2 + gap * iris_y)
    return points


def test_gaze_ratio_per_eye() -> None:
    left, right = eye_gaze(eye_points(0.5, 0.5))
    assert left.x == pytest.approx(0.5) and right.y == pytest.approx(0.5) and left.openness == pytest.approx(0.25)
    left, right = eye_gaze(eye_points(0.3, 0.2))
    assert left.x == pytest.approx(0.3) and right.x == pytest.approx(0.3) and left.y == pytest.approx(0.2)
    closed, _ = eye_gaze(eye_points(0.5, 0.5, gap=0.0))
    assert closed.openness == 0.0 and closed.y == 0.5


def test_gaze_ratio_ignores_head_roll() -> None:
    points = eye_points(0.7, 0.5)
    angle = np.radians(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rotated = points @ rotation.T
    assert eye_gaze(rotated)[0].x == pytest.approx(0.7)


def test_quality_on_drawn_images() -> None:
    covered = quality_of(np.full((480, 640), 5, np.uint8))
    assert covered.usable.state is Tri.ABSENT and covered.covered.state is Tri.PRESENT
    dim = np.full((480, 640), 5, np.uint8)  # dark, but with shapes to see
    for y in range(0, 480, 60):
        cv2.rectangle(dim, (0, y), (639, y + 29), 50, -1)
    assert quality_of(dim).usable.state is Tri.UNCERTAIN and quality_of(dim).covered.state is Tri.ABSENT
    scene = np.full((480, 640), 120, np.uint8)
    for x in range(0, 640, 40):  # sharp stripes
        cv2.rectangle(scene, (x, 0), (x + 19, 479), 220, -1)
    sharp = quality_of(scene)
    blurred = quality_of(cv2.GaussianBlur(scene, (0, 0), 12))
    assert sharp.usable.state is Tri.PRESENT and sharp.blur > 10 * blurred.blur
    flat = quality_of(np.full((480, 640), 128, np.uint8))
    assert flat.usable.state is Tri.UNCERTAIN and "blurred" in flat.usable.reason
    assert sharp.brightness == pytest.approx(170, abs=3)
    strict = quality_of(scene, QualityThresholds(dark_brightness=200.0))
    assert strict.usable.state is Tri.UNCERTAIN and "too dark" in strict.usable.reason
    with pytest.raises(DetectorError, match="grey image"):
        quality_of(np.zeros((4, 4, 3), np.uint8))


def test_frame_checks_name_the_problem() -> None:
    with pytest.raises(DetectorError, match=r"\(480, 640\)"):
        check_frame(np.zeros((480, 640), np.uint8))
    with pytest.raises(DetectorError, match="float64"):
        check_frame(np.zeros((4, 4, 3)))
    check_frame(np.zeros((4, 4, 3), np.uint8))


def test_box_merging() -> None:
    a = FaceBox(100, 100, 100, 100, 0.9)
    b = FaceBox(110, 105, 100, 100, 0.7)  # the same face seen again by a tile
    c = FaceBox(400, 50, 30, 30, 0.6)
    half = FaceBox(150, 100, 45, 90, 0.8)  # half a face on a tile's edge
    assert iou(a, a) == 1.0 and iou(a, c) == 0.0
    assert merge_boxes([b, c, a, half]) == [a, c]


def test_lbp_signature_tells_textures_apart() -> None:
    rng = np.random.default_rng(3)
    stripes = np.tile((np.arange(64) // 4 % 2 * 200).astype(np.uint8), (64, 1))
    noise = rng.integers(0, 255, (64, 64), dtype=np.uint8)
    h_stripes, h_noise = lbp_histogram(stripes), lbp_histogram(noise)
    assert h_stripes.shape == (16 * 59,) and np.allclose(h_stripes.reshape(16, 59).sum(axis=1), 1.0)
    same = IdentityEmbedder.similarity(FaceSignature(h_noise, None), FaceSignature(h_noise, None))
    other = IdentityEmbedder.similarity(FaceSignature(h_noise, None), FaceSignature(h_stripes, None))
    assert same == pytest.approx(1.0) and other < 0.5
    geometry = np.linspace(0.5, 2.0, 105)
    close = IdentityEmbedder.similarity(FaceSignature(h_noise, geometry), FaceSignature(h_noise, geometry * 1.01))
    far = IdentityEmbedder.similarity(FaceSignature(h_noise, geometry), FaceSignature(h_noise, geometry * 1.3))
    assert 0.9 < close <= 1.0 and far < close - 0.2


def test_run_graph_falls_back_to_the_public_api() -> None:
    class Outputs:
        detections = ["a face"]

    class Solution:  # an mp.solutions object without the private attributes run_graph reads
        def process(self, rgb: np.ndarray) -> Outputs:
            assert rgb.shape == (4, 4, 3)
            return Outputs()

    assert run_graph(Solution(), np.zeros((4, 4, 3), np.uint8), "detections") == ["a face"]
