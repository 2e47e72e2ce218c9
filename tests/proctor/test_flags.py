"""Flag rules on synthetic findings: every rule fires when it should and stays silent otherwise."""

from __future__ import annotations

import pytest

from proctor.analysis.calibration import Baseline
from proctor.analysis.findings import FaceBox, Finding, FrameFindings, Quality, Tri
from proctor.flags import EventError, Flag, FlagRules, evaluate, gaze_windows, glances, is_away, risk

GOOD = Quality(120.0, 50.0, 300.0, Finding.present(), Finding.absent())
COVERED = Quality(5.0, 2.0, 0.5, Finding.absent("camera covered"), Finding.present())
DARK = Quality(20.0, 30.0, 50.0, Finding.uncertain("too dark"), Finding.absent())
BASE = Baseline(0.0, 0.0, 0.5, 0.45, 4.0, 4.0, 0.025, 0.04, 10)
BOX = FaceBox(100, 100, 150, 150, 0.9)


def frame(
    t: float,
    *,
    faces: int = 1,
    gaze: float | None = 0.5,
    yaw: float = 0.0,
    quality: Quality = GOOD,
    identity: Finding | None = None,
    similarity: float | None = None,
    face: Finding | None = None,
) -> FrameFindings:
    f = FrameFindings(t=t, quality=quality, faces=[BOX] * faces)
    f.face = face or (Finding.present() if faces else Finding.absent())
    f.multiple_faces = Finding.present() if faces > 1 else Finding.absent()
    if faces:
        f.pose = Finding.present()
        f.yaw, f.pitch, f.roll = yaw, 0.0, 0.0
        if gaze is not None:
            f.gaze_x, f.gaze_y, f.gaze = gaze, 0.45, Finding.present()
        else:
            f.gaze = Finding.uncertain("eyes closed")
    if identity is not None:
        f.identity, f.identity_similarity = identity, similarity
    return f


def rules_of(flags: list[Flag]) -> list[str]:
    return [f.rule for f in flags]


def test_a_calm_sitting_has_no_flags() -> None:
    frames = [frame(t, gaze=0.5 + 0.01 * (t % 3 - 1), yaw=3.0 * (t % 2)) for t in range(0, 120, 2)]
    frames += [frame(t, identity=Finding.present("similarity 0.8"), similarity=0.8) for t in range(120, 130, 2)]
    assert evaluate(frames, [], BASE) == [] and risk([]) == 0


def test_no_face_needs_its_duration_and_uncertain_frames_do_not_count() -> None:
    gone = [frame(t) for t in range(0, 10, 2)] + [frame(t, faces=0) for t in range(10, 24, 2)]
    flags = evaluate(gone, [], BASE)
    assert rules_of(flags) == ["no_face"] and flags[0].values["seconds"] >= 10
    assert flags[0].start == 10 and flags[0].end == 22 and flags[0].thresholds == {"seconds": 10.0}
    assert set(flags[0].evidence) <= set(range(5, 12)) and len(flags[0].evidence) == 5
    short = [frame(t) for t in range(0, 10, 2)] + [frame(t, faces=0) for t in range(10, 16, 2)]
    assert evaluate(short, [], BASE) == []
    unseen = [frame(t, faces=0, quality=DARK, face=Finding.uncertain("too dark")) for t in range(0, 30, 2)]
    assert "no_face" not in rules_of(evaluate(unseen, [], BASE))
    # Uncertain frames interrupt a run: 8 s absent, a dark frame, 8 s absent is not 10 s without a face.
    split = [frame(t, faces=0) for t in range(0, 8, 2)]
    split += [frame(8, faces=0, quality=DARK, face=Finding.uncertain("too dark"))]
    split += [frame(t, faces=0) for t in range(10, 18, 2)]
    assert evaluate(split, [], BASE) == []
    # A long gap between frames ends a run too: nobody saw what happened in between.
    gap = [frame(0, faces=0), frame(4, faces=0), frame(30, faces=0), frame(34, faces=0)]
    assert evaluate(gap, [], BASE) == []


def test_looking_away_is_relative_to_the_students_own_baseline() -> None:
    frames = [frame(t) for t in range(0, 6)] + [frame(t, gaze=0.38) for t in range(6, 12)] + [frame(12)]
    flags = evaluate(frames, [], BASE)
    assert rules_of(flags) == ["looking_away"] and flags[0].start == 6 and flags[0].end == 11 and flags[0].evidence
    assert flags[0].values["max_gaze_shift"] == pytest.approx(0.12)
    assert flags[0].thresholds["gaze_shift"] == pytest.approx(0.085)
    # The same eyes are this student's normal when their baseline sits there.
    own = Baseline(0.0, 0.0, 0.38, 0.45, 4.0, 4.0, 0.025, 0.04, 10)
    assert evaluate(frames[6:12], [], own) == []
    # A glance shorter than the rule's seconds is not flagged.
    brief = (
        [frame(t) for t in range(0, 6)] + [frame(t, gaze=0.38) for t in range(6, 9)] + [frame(t) for t in range(9, 14)]
    )
    assert evaluate(brief, [], BASE) == []
    turned = [frame(t, yaw=35.0, gaze=None) for t in range(0, 8)]  # head turned: away even with eyes unread
    assert rules_of(evaluate(turned, [], BASE)) == ["looking_away"]


def test_unreadable_eyes_are_never_away() -> None:
    closed = frame(0, gaze=None)
    assert is_away(closed, BASE, FlagRules()) is Tri.UNCERTAIN
    assert is_away(frame(0, faces=0), BASE, FlagRules()) is Tri.UNCERTAIN
    assert is_away(frame(0, gaze=0.52), BASE, FlagRules()) is Tri.ABSENT
    assert evaluate([frame(t, gaze=None) for t in range(0, 20)], [], BASE) == []


def test_multiple_faces_and_different_person() -> None:
    crowd = [frame(t, faces=2) for t in range(0, 6, 2)]
    flags = evaluate(crowd, [], BASE)
    assert rules_of(flags) == ["multiple_faces"] and flags[0].values == {"frames": 3, "faces": 2}
    assert evaluate([frame(0, faces=2), frame(2), frame(4, faces=2)], [], BASE) == []  # never two frames in a row
    stranger = [frame(t, identity=Finding.absent("similarity 0.4"), similarity=0.4) for t in range(0, 8, 2)]
    flags = evaluate(stranger, [], BASE)
    assert rules_of(flags) == ["different_person"] and flags[0].values["max_similarity"] == 0.4
    unsure = [frame(t, identity=Finding.uncertain("between"), similarity=0.6) for t in range(0, 8, 2)]
    assert evaluate(unsure, [], BASE) == []


def test_camera_blocked_needs_a_covered_view_not_just_a_dark_one() -> None:
    blocked = [frame(t, faces=0, quality=COVERED, face=Finding.uncertain("covered")) for t in range(0, 20, 2)]
    flags = evaluate(blocked, [], BASE)
    assert rules_of(flags) == ["camera_blocked"] and flags[0].values["seconds"] >= 10
    assert evaluate(blocked[:4], [], BASE) == []
    dark = [frame(t, faces=0, quality=DARK, face=Finding.uncertain("dark")) for t in range(0, 20, 2)]
    assert evaluate(dark, [], BASE) == []
    # A long dark (not covered) stretch is a camera problem of its own, never "no face".
    long_dark = [frame(t, faces=0, quality=DARK, face=Finding.uncertain("dark")) for t in range(0, 40, 2)]
    flags = evaluate(long_dark, [], BASE)
    assert rules_of(flags) == ["camera_dark"] and flags[0].values == {"seconds": 40, "max_brightness": 20.0}
    assert flags[0].severity < 0.5


def test_browser_events() -> None:
    events = [{"type": "tab_hidden", "t": 10.0 * k, "duration": 3.0} for k in range(3)]
    events += [
        {"type": "window_blur", "t": 50.0, "duration": 45.0},
        {"type": "paste", "t": 60.0},
        {"type": "camera_stopped", "t": 70.0, "duration": 12},
        {"type": "fullscreen_exit", "t": 80.0},
        {"type": "fullscreen_exit", "t": 90.0},
        {"type": "network_lost", "t": 100.0, "duration": 90.0},
        {"type": "network_lost", "t": 300.0, "duration": 5.0},
        {"type": "answer_saved", "t": 310.0},
    ]
    flags = evaluate([], events, BASE, FlagRules())
    assert sorted(rules_of(flags)) == [
        "camera_off",
        "copy_paste",
        "fullscreen_exits",
        "long_tab_absence",
        "network_lost",
        "tab_switches",
    ]
    switches = next(f for f in flags if f.rule == "tab_switches")
    assert switches.values == {"count": 4, "seconds_away": 54.0} and switches.thresholds == {"count": 3}
    assert next(f for f in flags if f.rule == "camera_off").end == 82.0
    assert 0 < risk(flags) < 1 and risk(flags) > risk(flags[:1])
    calm = [{"type": "tab_hidden", "t": 1.0, "duration": 2.0}, {"type": "fullscreen_exit", "t": 5.0}]
    assert evaluate([], calm, BASE) == []


def test_rules_are_configurable_and_bad_input_is_named() -> None:
    frames = [frame(t) for t in range(0, 4)] + [frame(t, gaze=0.38) for t in range(4, 7)] + [frame(7)]
    assert evaluate(frames, [], BASE) == []
    assert rules_of(evaluate(frames, [], BASE, FlagRules(away_seconds=2.0))) == ["looking_away"]
    with pytest.raises(ValueError, match="away_seconds"):
        FlagRules(away_seconds=0)
    with pytest.raises(EventError, match="event 0"):
        evaluate([], [{"type": "copy"}], BASE)
    with pytest.raises(EventError, match=r"tab_hidden at t=1\.0: duration 'long'"):
        evaluate([], [{"type": "tab_hidden", "t": 1.0, "duration": "long"}] * 3, BASE)


def test_risk_orders_sittings() -> None:
    one = [Flag("copy_paste", 0, 0, 0.3)]
    two = [Flag("copy_paste", 0, 0, 0.3), Flag("no_face", 0, 20, 0.5)]
    assert risk(one) == pytest.approx(0.3) and risk(two) == pytest.approx(0.65) and risk(two) > risk(one)


def gaze_track(segments: list[tuple[float, float, float]], fps: float = 24.0) -> list[FrameFindings]:
    """Frames at `fps` from 0 to the last segment's end, with gaze x per (start, end, gaze) segment."""
    end = segments[-1][1]
    out = []
    for k in range(int(end * fps)):
        t = k / fps
        gaze = next(g for s, e, g in segments if s <= t < e)
        out.append(frame(t, gaze=gaze))
    return out


def labels(frames: list[FrameFindings]) -> str:
    return "".join(w.label[0].upper() for w in gaze_windows(frames, BASE))


def test_a_glance_counts_from_the_window_it_begins_in() -> None:
    # Threshold: baseline 0.5 ± 0.025 + 0.06. A glance left from 5.7 s to 10.2 s: the window [5, 6) holds only
    # 0.3 s of it but is where it begins; [10, 11) holds its last 0.2 s and stays centre.
    frames = gaze_track([(0, 5.7, 0.5), (5.7, 10.2, 0.38), (10.2, 15, 0.5)])
    assert labels(frames) == "CCCCCLLLLLCCCCC"
    (glance,) = glances(frames, BASE)
    assert glance.side == "left" and glance.start == pytest.approx(5.7, abs=0.05)
    window = gaze_windows(frames, BASE)[5]
    assert window.glance_start == pytest.approx(5.7, abs=0.05) and "begins" in window.reason
    late_end = gaze_windows(gaze_track([(0, 5, 0.5), (5, 10.6, 0.62), (10.6, 12, 0.5)]), BASE)
    assert [w.label for w in late_end][9:] == ["right", "right", "centre"]  # [10, 11): 0.6 s, more than half


def test_flicks_and_noise_are_not_glances() -> None:
    flicks = gaze_track([(0, 2.3, 0.5), (2.3, 2.6, 0.3), (2.6, 4.2, 0.5), (4.2, 4.5, 0.7), (4.5, 6, 0.5)])
    assert glances(flicks, BASE) == [] and labels(flicks) == "CCCCCC"
    near = gaze_track([(0, 3, 0.5), (3, 6, 0.58)])  # 0.08 off: within spread + threshold (0.085)
    assert labels(near) == "CCCCCC"
    # Alternating sides never make one sustained glance.
    zigzag = gaze_track([(i * 0.25, (i + 1) * 0.25, 0.35 if i % 2 else 0.65) for i in range(16)])
    assert glances(zigzag, BASE) == [] and set(labels(zigzag)) == {"C"}


def test_blinks_do_not_break_a_glance_and_unmeasured_windows_are_uncertain() -> None:
    frames = gaze_track([(0, 2, 0.5), (2, 5, 0.36), (5, 7, 0.5)])
    for f in frames:
        if 3.4 <= f.t < 3.6:  # a blink: eyes closed, gaze not measured
            f.gaze_x = f.gaze_y = None
            f.gaze = Finding.uncertain("eyes closed")
    assert len(glances(frames, BASE)) == 1 and labels(frames) == "CCLLLCC"
    closed = gaze_track([(0, 3, 0.5)])
    for f in closed:
        if f.t >= 1:
            f.gaze_x = None
    windows = gaze_windows(closed, BASE)
    assert [w.label for w in windows] == ["centre", "uncertain", "uncertain"] and windows[1].frames == 0
    assert gaze_windows([], BASE) == []
