"""A student's own neutral head pose and gaze, from the few seconds they look at the screen before the exam
(PURE). "Looking away" is then measured against this baseline rather than against an average face."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from proctor.analysis.findings import FrameFindings, Tri

# Floors on the spread so a very still calibration does not make every tiny movement "away".
MIN_SPREAD = {"yaw": 4.0, "pitch": 4.0, "gaze_x": 0.025, "gaze_y": 0.04}


@dataclass(frozen=True)
class Baseline:
    """Median and robust spread (1.4826 x MAD, floored by MIN_SPREAD) of each measure while the student looks at
    the screen. `frames` is how many calibration frames could be measured."""

    yaw: float
    pitch: float
    gaze_x: float
    gaze_y: float
    yaw_spread: float
    pitch_spread: float
    gaze_x_spread: float
    gaze_y_spread: float
    frames: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


DEFAULT_BASELINE = Baseline(0.0, 0.0, 0.5, 0.45, 6.0, 6.0, 0.04, 0.06, 0)


def calibrate(frames: list[FrameFindings], min_frames: int = 3) -> Baseline | None:
    """The baseline from calibration frames with a measured pose and gaze and a single face; None when fewer
    than `min_frames` such frames exist (the caller then falls back to DEFAULT_BASELINE and says so)."""
    usable = [
        f
        for f in frames
        if f.pose.state is Tri.PRESENT
        and f.multiple_faces.state is not Tri.PRESENT
        and None not in (f.yaw, f.pitch, f.gaze_x, f.gaze_y)
    ]
    if len(usable) < min_frames:
        return None
    values = {name: np.array([getattr(f, name) for f in usable], float) for name in MIN_SPREAD}
    centre = {name: float(np.median(v)) for name, v in values.items()}
    spread = {
        name: max(MIN_SPREAD[name], float(1.4826 * np.median(np.abs(v - centre[name])))) for name, v in values.items()
    }
    return Baseline(
        centre["yaw"],
        centre["pitch"],
        centre["gaze_x"],
        centre["gaze_y"],
        spread["yaw"],
        spread["pitch"],
        spread["gaze_x"],
        spread["gaze_y"],
        len(usable),
    )
