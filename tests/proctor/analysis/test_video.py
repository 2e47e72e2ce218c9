"""Frames from folders of images and from video files written by the test itself."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from proctor.analysis.video import frames_from


def test_frames_from_a_folder(tmp_path: Path) -> None:
    for n in range(3):
        cv2.imwrite(str(tmp_path / f"{n:02d}.png"), np.full((10, 12, 3), n * 50, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    frames = list(frames_from(tmp_path, every=2, fps_for_images=0.5))
    assert [(i, t) for i, t, _ in frames] == [(0, 0.0), (2, 4.0)] and frames[1][2][0, 0, 0] == 100


def test_bad_paths_are_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images"):
        list(frames_from(empty))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(ValueError, match="not a video"):
        list(frames_from(broken))
    (empty / "bad.jpg").write_bytes(b"nope")
    with pytest.raises(ValueError, match=r"bad\.jpg"):
        list(frames_from(empty))
    with pytest.raises(ValueError, match="at least 1"):
        list(frames_from(empty, every=0))
    with pytest.raises(ValueError, match="no such file"):
        list(frames_from(tmp_path / "missing.mp4"))


def test_frames_from_a_video(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    assert writer.isOpened()
    for n in range(12):
        writer.write(np.full((48, 64, 3), 20 * n, np.uint8))
    writer.release()
    frames = list(frames_from(path, every=5))
    assert [i for i, _, _ in frames] == [0, 5, 10]
    assert frames[1][1] == pytest.approx(0.5) and frames[0][2].shape == (48, 64, 3)
