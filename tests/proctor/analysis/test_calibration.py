"""A student's own baseline: median and robust spread of pose and gaze over the calibration frames."""

from __future__ import annotations

import numpy as np
import pytest

from proctor.analysis.calibration import MIN_SPREAD, Baseline, calibrate
from proctor.analysis.findings import Finding, FrameFindings, Quality

GOOD = Quality(120.0, 50.0, 300.0, Finding.present(), Finding.absent())


def measured(t: float, yaw: float, gaze_x: float, faces: int = 1) -> FrameFindings:
    f = FrameFindings(t=t, quality=GOOD)
    f.face, f.pose, f.gaze = Finding.present(), Finding.present(), Finding.present()
    f.multiple_faces = Finding.present() if faces > 1 else Finding.absent()
    f.yaw, f.pitch, f.roll, f.gaze_x, f.gaze_y = yaw, 2.0, 0.0, gaze_x, 0.44
    return f


def test_median_and_mad_resist_an_outlier() -> None:
    rng = np.random.default_rng(5)
    frames = [measured(t / 10, 8.0 + rng.normal(0, 6.0), 0.46 + rng.normal(0, 0.04)) for t in range(60)]
    frames.append(measured(6.0, 60.0, 0.9))  # one glance away during calibration
    baseline = calibrate(frames)
    assert baseline is not None and baseline.frames == 61
    assert baseline.yaw == pytest.approx(8.0, abs=1.0) and baseline.gaze_x == pytest.approx(0.46, abs=0.015)
    assert baseline.yaw_spread == pytest.approx(6.0, abs=1.5)
    assert baseline.gaze_x_spread == pytest.approx(0.04, abs=0.012)
    assert Baseline(**baseline.as_dict()) == baseline


def test_spread_floors_and_unusable_frames() -> None:
    still = [measured(t, 0.0, 0.5) for t in range(5)]
    baseline = calibrate(still)
    assert baseline is not None and baseline.gaze_x_spread == MIN_SPREAD["gaze_x"]
    assert baseline.yaw_spread == MIN_SPREAD["yaw"]
    unmeasured = [FrameFindings(t=t, quality=GOOD) for t in range(10)]
    crowd = [measured(t, 0.0, 0.5, faces=2) for t in range(10)]
    assert calibrate(unmeasured + still[:2]) is None and calibrate(crowd) is None
