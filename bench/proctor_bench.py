"""Proctoring benchmark: per-frame pipeline speed on one core, gaze classification of the labelled webcam videos
in ../shared/data/proctor/, and face counting on people-free scenes, real faces and a two-face composite.

    taskset -c 0 .venv/bin/python bench/proctor_bench.py     # pin to one core: the figure is per core
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from proctor.analysis.calibration import calibrate  # noqa: E402
from proctor.analysis.pipeline import FrameAnalyzer  # noqa: E402
from proctor.analysis.video import frames_from  # noqa: E402
from proctor.flags import evaluate  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "proctor"
TESTDATA = ROOT / "tests" / "proctor" / "data"
# README of ../shared/data: about 5 s centre, 5 s to the side, 5 s centre; "about", so the window in which the
# glance starts, [5, 6), is a transition and is reported separately.
SIDE = {"center_left_center.mp4": "left", "center_right_center.mp4": "right", "center_focus.mp4": None}
SHIFT = 0.05  # iris shift (fraction of the eye width) beyond which a one-second window counts as a side glance


def landscape(frame: np.ndarray) -> np.ndarray:
    """Fit a frame into 640 x 480 (letterboxed), the size the pipeline is specified for."""
    h, w = frame.shape[:2]
    scale = min(640 / w, 480 / h)
    resized = cv2.resize(frame, (round(w * scale), round(h * scale)))
    canvas = np.zeros((480, 640, 3), np.uint8)
    y, x = (480 - resized.shape[0]) // 2, (640 - resized.shape[1]) // 2
    canvas[y : y + resized.shape[0], x : x + resized.shape[1]] = resized
    return canvas


def main() -> None:
    """Print the three parts."""
    cv2.setNumThreads(1)
    analyzer = FrameAnalyzer()
    if not SHARED.exists():
        print(f"{SHARED} is not here: the video parts are skipped")
        videos = []
    else:
        videos = sorted(SHARED.glob("*.mp4"))
    frames = [landscape(f) for v in videos for _, _, f in frames_from(v)]
    if not frames:
        frames = [landscape(cv2.imread(str(TESTDATA / "face_center.jpg")))] * 200
    analyzer.analyze(frames[0], 0)
    start = time.perf_counter()
    for n, frame in enumerate(frames):
        analyzer.analyze(frame, n / 24)
    per_frame = (time.perf_counter() - start) / len(frames)
    fps = 1 / per_frame
    cores = len(os.sched_getaffinity(0))
    print(f"1. full pipeline (quality, faces, landmarks, pose, gaze) at 640x480 on {cores} core(s): "
          f"{per_frame * 1000:.2f} ms/frame = {fps:.0f} frames/s (target 100); at one frame every 2 s that is "
          f"{fps * 2:.0f} students per core (target 200)")

    if videos:
        print("\n2. one-second windows of the labelled videos (gaze relative to the first 3 s)")
        for video in videos:
            analyzer = FrameAnalyzer()
            findings = [analyzer.analyze(f, t) for _, t, f in frames_from(video)]
            baseline = calibrate([f for f in findings if f.t < 3])
            assert baseline is not None
            side = SIDE.get(video.name)
            correct = total = 0
            transition = ""
            for second in range(int(findings[-1].t) + 1):
                window = [f.gaze_x for f in findings if second <= f.t < second + 1 and f.gaze_x is not None]
                if not window:
                    continue
                shift = float(np.median(window)) - baseline.gaze_x
                said = "centre" if abs(shift) <= SHIFT else ("left" if shift < 0 else "right")
                truth = side if side and 5 <= second < 10 else "centre"
                if side and second == 5:
                    transition = f"[5,6) said {said}"
                    continue
                total += 1
                correct += said == truth
            flags = [f.rule for f in evaluate(findings, [], baseline)]
            print(f"   {video.name:26} {correct}/{total} windows correct ({transition or 'no transition window'}); "
                  f"flags: {flags or 'none'}")

    print("\n3. face counting")
    rng = np.random.default_rng(0)
    empty = [np.full((480, 640, 3), v, np.uint8) for v in (30, 128, 220)]
    empty += [rng.integers(0, 255, (480, 640, 3), dtype=np.uint8) for _ in range(5)]
    empty += [cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (k, k), 0) for k in (5, 15, 31)]
    false_faces = sum(len(analyzer.analyze(img, 0).faces) for img in empty)
    print(f"   people-free scenes: {false_faces} faces reported on {len(empty)} images (want 0)")
    for name, want in (("face_center.jpg", 1), ("face_left.jpg", 1), ("two_faces.jpg", 2)):
        found = analyzer.analyze(cv2.imread(str(TESTDATA / name)), 0)
        sizes = ", ".join(f"{b.width}px" for b in found.faces)
        print(f"   {name:16} {len(found.faces)} face(s) ({sizes}); want {want}")


if __name__ == "__main__":
    main()
