"""`exam proctor analyze` in file mode on a folder of images the test assembles (no database)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
from click.testing import CliRunner

from proctor.cli import proctor

DATA = Path(__file__).resolve().parent / "data"


def test_analyze_a_folder_of_images(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for n in range(4):  # calibration: looking at the screen
        shutil.copy(DATA / "face_center.jpg", folder / f"{n:03d}.jpg")
    for n in range(4, 10):  # six seconds of side glances
        shutil.copy(DATA / "face_left.jpg", folder / f"{n:03d}.jpg")
    shutil.copy(DATA / "two_faces.jpg", folder / "010.jpg")
    shutil.copy(DATA / "two_faces.jpg", folder / "011.jpg")
    cv2.imwrite(str(folder / "012.png"), np.full((480, 640, 3), 4, np.uint8))  # camera covered
    out = tmp_path / "findings.jsonl"
    result = CliRunner().invoke(
        proctor, ["analyze", str(folder), "--out", str(out), "--calibrate-seconds", "4", "--fps", "1"]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 13
    assert {"frame", "t", "faces", "yaw", "pitch", "flags", "gaze_x", "gaze_y"} <= set(records[0])
    assert [r["faces"] for r in records[9:]] == [1, 2, 2, 0] and records[12]["face"] == "uncertain"
    assert records[0]["flags"] == [] and records[0]["gaze_direction"] == "centre"
    assert all("looking_away" in r["flags"] for r in records[4:10])
    assert records[10]["flags"] == ["multiple_faces"]
    assert "baseline from 4 frames" in result.output and "looking_away" in result.output
    assert "multiple_faces" in result.output and "risk" in result.output


def test_analyze_reports_sustained_glances_not_flicks(tmp_path: Path) -> None:
    # Four frames a second: 2 s at the screen, a flick left (one frame), 1 s more, 2 s looking left, then back.
    folder = tmp_path / "frames"
    folder.mkdir()
    sequence = ["face_center.jpg"] * 8 + ["face_left.jpg"] + ["face_center.jpg"] * 4
    sequence += ["face_left.jpg"] * 8 + ["face_center.jpg"] * 4
    for n, name in enumerate(sequence):
        shutil.copy(DATA / name, folder / f"{n:03d}.jpg")
    out = tmp_path / "findings.jsonl"
    result = CliRunner().invoke(
        proctor, ["analyze", str(folder), "--out", str(out), "--calibrate-seconds", "2", "--fps", "4"]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["glance"] for r in records] == [None] * 13 + ["left"] * 8 + [None] * 4
    assert "glance left" in result.output and "1 glance(s)" in result.output


def test_analyze_refuses_bad_input(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no images here")
    result = CliRunner().invoke(proctor, ["analyze", str(tmp_path), "--out", str(tmp_path / "f.jsonl")])
    assert result.exit_code != 0 and "no images" in result.output
    result = CliRunner().invoke(proctor, ["analyze", str(tmp_path), "--out", str(tmp_path / "f.jsonl"), "--every", "0"])
    assert result.exit_code != 0 and "--every" in result.output
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((48, 64, 3), 200, np.uint8))
    result = CliRunner().invoke(
        proctor, ["analyze", str(tmp_path), "--out", str(tmp_path / "f.jsonl"), "--enrolment", str(blank)]
    )
    assert result.exit_code != 0 and "exactly one face" in result.output
