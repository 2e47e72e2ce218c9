"""Flag rules on synthetic findings: every rule fires when it should and stays silent otherwise."""

from __future__ import annotations

from proctor.analysis.calibration import Baseline
from proctor.analysis.findings import FaceBox, Finding, FrameFindings, Quality
from proctor.flags import FlagRules, evaluate, risk

GOOD = Quality(120.0, 50.0, 300.0, Finding.present())
BASE = Baseline(0.0, 0.0, 0.5, 0.45, 4.0, 4.0, 0.025, 0.04, 10)
BOX = FaceBox(100, 100, 150, 150, 0.9)


def frame(
    t: float,
    *,
    faces: int = 1,
    gaze: float = 0.5,
    yaw: float = 0.0,
    quality: Quality = GOOD,
    identity: Finding | None = None,
    face: Finding | None = None,
) -> FrameFindings:
    f = FrameFindings(t=t, quality=quality, faces=[BOX] * faces)
    f.face = face or (Finding.present() if faces else Finding.absent())
    f.multiple_faces = Finding.present() if faces > 1 else Finding.absent()
    if faces:
        f.pose = Finding.present()
        f.yaw, f.pitch, f.roll, f.gaze_x, f.gaze_y = yaw, 0.0, 0.0, gaze, 0.45
    if identity is not None:
        f.identity = identity
    return f


def rules_of(flags: list) -> list[str]:
    return [f.rule for f in flags]


def test_a_calm_sitting_has_no_flags() -> None:
    frames = [frame(t, gaze=0.5 + 0.01 * (t % 3 - 1)) for t in range(0, 120, 2)]
    assert evaluate(frames, [], BASE) == [] and risk([]) == 0


def test_no_face_needs_its_duration_and_uncertain_frames_do_not_count() -> None:
    gone = [frame(t) for t in range(0, 10, 2)] + [frame(t, faces=0) for t in range(10, 24, 2)]
    flags = evaluate(gone, [], BASE)
    assert rules_of(flags) == ["no_face"] and flags[0].values["seconds"] >= 10
    short = [frame(t) for t in range(0, 10, 2)] + [frame(t, faces=0) for t in range(10, 16, 2)]
    assert evaluate(short, [], BASE) == []
    dark = Quality(10.0, 3.0, 1.0, Finding.uncertain("too dark"))
    unseen = [frame(t, faces=0, quality=dark, face=Finding.uncertain("too dark")) for t in range(0, 30, 2)]
    assert "no_face" not in rules_of(evaluate(unseen, [], BASE))


def test_looking_away_is_relative_to_the_students_own_baseline() -> None:
    frames = [frame(t) for t in range(0, 6)] + [frame(t, gaze=0.38) for t in range(6, 12)] + [frame(12)]
    flags = evaluate(frames, [], BASE)
    assert rules_of(flags) == ["looking_away"] and flags[0].start == 6 and flags[0].evidence
    # The same eyes are this student's normal when their baseline sits there.
    own = Baseline(0.0, 0.0, 0.38, 0.45, 4.0, 4.0, 0.025, 0.04, 10)
    assert evaluate(frames[6:12], [], own) == []
    turned = [frame(t, yaw=35.0) for t in range(0, 8)]
    assert rules_of(evaluate(turned, [], BASE)) == ["looking_away"]


def test_faces_identity_camera_and_browser_events() -> None:
    crowd = [frame(t, faces=2) for t in range(0, 6, 2)]
    assert rules_of(evaluate(crowd, [], BASE)) == ["multiple_faces"]
    stranger = [frame(t, identity=Finding.absent("LBPH distance 140")) for t in range(0, 8, 2)]
    assert rules_of(evaluate(stranger, [], BASE)) == ["different_person"]
    covered = Quality(5.0, 2.0, 0.5, Finding.absent("camera covered"))
    blocked = [frame(t, faces=0, quality=covered, face=Finding.uncertain("covered")) for t in range(0, 20, 2)]
    assert rules_of(evaluate(blocked, [], BASE)) == ["camera_blocked"]
    events = [{"type": "tab_hidden", "t": 10.0 * k, "duration": 3.0} for k in range(3)]
    events += [
        {"type": "window_blur", "t": 50.0, "duration": 45.0},
        {"type": "paste", "t": 60.0},
        {"type": "camera_stopped", "t": 70.0},
    ]
    flags = evaluate([], events, BASE, FlagRules())
    assert sorted(rules_of(flags)) == ["camera_off", "copy_paste", "long_tab_absence", "tab_switches"]
    assert 0 < risk(flags) < 1
