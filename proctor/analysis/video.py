"""Frames from a video file (with its rotation applied) or a folder of images, with their times (PURE)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
# Container rotation (degrees clockwise to display upright) -> the cv2.rotate code that applies it.
ROTATIONS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def frames_from(
    path: str | Path, every: int = 1, fps_for_images: float = 1.0
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield (frame index, seconds, BGR image). Videos use their own frame rate; images are spaced 1/fps apart."""
    path = Path(path)
    if every < 1:
        raise ValueError("--every must be at least 1")
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise ValueError(f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        for index, image_path in enumerate(images):
            if index % every:
                continue
            image = cv2.imread(str(image_path))
            if image is None:
                raise ValueError(f"{image_path}: not a readable image")
            yield index, index / fps_for_images, image
        return
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"{path}: not a video OpenCV can read")
    # Phones record upright video as rotated frames plus a rotation tag. The FFmpeg backend applies the tag when
    # asked (CAP_PROP_ORIENTATION_AUTO); when a backend cannot, rotate here from CAP_PROP_ORIENTATION_META.
    rotate = None
    if not capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1) or not capture.get(cv2.CAP_PROP_ORIENTATION_AUTO):
        rotate = ROTATIONS.get(int(capture.get(cv2.CAP_PROP_ORIENTATION_META)) % 360)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                yield index, index / fps, frame if rotate is None else cv2.rotate(frame, rotate)
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise ValueError(f"{path}: the video has no frames")
