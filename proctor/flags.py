"""Findings and browser events over time -> flags with severity and evidence (PURE).

Flags are evidence for a person to weigh, never a verdict. An uncertain finding (too dark, face too small,
landmarks not found) never counts as "no face" or "looking away": it interrupts a run instead of extending it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proctor.analysis.calibration import DEFAULT_BASELINE, Baseline
from proctor.analysis.findings import FrameFindings, Tri


@dataclass(frozen=True)
class FlagRules:
    """Thresholds of every rule (seconds are spans between the first and last frame of a run, plus one gap)."""

    no_face_seconds: float = 10.0
    multiple_faces_frames: int = 2
    away_seconds: float = 4.0
    away_gaze_x: float = 0.06  # iris shift from the baseline (fraction of the eye width), beyond its spread
    away_gaze_y: float = 0.25  # vertical iris shift between the lids (noisier: lids move with the gaze)
    away_yaw_degrees: float = 20.0
    away_pitch_degrees: float = 18.0
    glance_seconds: float = 0.5  # eyes off-centre at least this long (one side, unbroken) = a glance, for windows
    different_person_frames: int = 3
    covered_seconds: float = 10.0
    dark_seconds: float = 30.0  # a view too dark to judge (not covered): a camera problem, not "no face"
    dark_brightness: float = 35.0
    tab_switches: int = 3
    tab_hidden_seconds: float = 30.0
    fullscreen_exits: int = 2
    network_lost_seconds: float = 60.0
    frame_gap_seconds: float = 10.0  # longer gaps between frames end a run (nobody saw what happened)

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"FlagRules.{name} must be a positive number, got {value!r}")


@dataclass
class Flag:
    """One flag: the rule, its span, severity 0..1, what was measured and which thresholds it crossed."""

    rule: str
    start: float
    end: float
    severity: float
    values: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)
    evidence: list[int] = field(default_factory=list)  # indices into the frame list


def is_away(frame: FrameFindings, baseline: Baseline, rules: FlagRules) -> Tri:
    """Whether the student looks away from the screen in this frame, relative to their own baseline.

    Present when the head (yaw/pitch) or the eyes (iris position) are beyond the baseline's spread plus the
    rule's threshold; absent when everything measured is within and the eyes were measured; uncertain when the
    face, the pose or (with the head within bounds) the eyes could not be measured.
    """
    if frame.face.state is not Tri.PRESENT or frame.pose.state is not Tri.PRESENT:
        return Tri.UNCERTAIN
    if frame.yaw is None or frame.pitch is None:
        return Tri.UNCERTAIN
    yaw = abs(frame.yaw - baseline.yaw) - baseline.yaw_spread
    pitch = abs(frame.pitch - baseline.pitch) - baseline.pitch_spread
    if yaw > rules.away_yaw_degrees or pitch > rules.away_pitch_degrees:
        return Tri.PRESENT
    if frame.gaze_x is None or frame.gaze_y is None:
        return Tri.UNCERTAIN  # eyes closed or unreadable: the head alone cannot say "looking at the screen"
    gaze_x = abs(frame.gaze_x - baseline.gaze_x) - baseline.gaze_x_spread
    gaze_y = abs(frame.gaze_y - baseline.gaze_y) - baseline.gaze_y_spread
    if gaze_x > rules.away_gaze_x or gaze_y > rules.away_gaze_y:
        return Tri.PRESENT
    return Tri.ABSENT


def gaze_side(frame: FrameFindings, baseline: Baseline, rules: FlagRules) -> str | None:
    """Where the eyes point in this frame against the student's baseline: "left" or "right" (image terms) when
    the iris shift exceeds the baseline spread plus `away_gaze_x`, "centre" within it, None when not measured."""
    if frame.gaze_x is None:
        return None
    shift = frame.gaze_x - baseline.gaze_x
    if abs(shift) - baseline.gaze_x_spread <= rules.away_gaze_x:
        return "centre"
    return "left" if shift < 0 else "right"


@dataclass(frozen=True)
class Glance:
    """An unbroken run of frames with the eyes off-centre to one side, lasting at least `glance_seconds`."""

    side: str
    start: float
    end: float  # the last frame's time plus one frame step


@dataclass(frozen=True)
class GazeWindow:
    """One window of a sitting's timeline (e.g. a second) classified as centre, left, right or uncertain."""

    start: float
    end: float
    label: str
    frames: int  # frames with the gaze measured
    glance_frames: int  # of those, frames inside a glance
    glance_start: float | None  # when a glance begins inside this window
    reason: str


def glances(
    frames: list[FrameFindings], baseline: Baseline | None = None, rules: FlagRules | None = None
) -> list[Glance]:
    """Sustained side glances: runs of off-centre frames to one side; a centre frame, the other side or a gap
    of more than 0.5 s without a measured gaze ends a run (a blink's unmeasured frames do not); runs shorter
    than `glance_seconds` (a flick of the eyes, landmark noise) are not glances."""
    rules = rules or FlagRules()
    base = baseline or DEFAULT_BASELINE
    measured = [(f.t, side) for f in sorted(frames, key=lambda f: f.t) if (side := gaze_side(f, base, rules))]
    out: list[Glance] = []
    run: list[float] = []
    run_side = ""

    def close() -> None:
        if run:
            step = run[-1] - run[-2] if len(run) > 1 else 0.0
            if run[-1] + step - run[0] >= rules.glance_seconds:
                out.append(Glance(run_side, run[0], run[-1] + step))

    for t, side in measured:
        if run and (side != run_side or t - run[-1] > 0.5):
            close()
            run = []
        if side != "centre":
            run_side = side
            run.append(t)
    close()
    return out


def gaze_windows(
    frames: list[FrameFindings],
    baseline: Baseline | None = None,
    rules: FlagRules | None = None,
    seconds: float = 1.0,
) -> list[GazeWindow]:
    """Each `seconds`-long window from 0 to the last frame, classified by the rule a proctor would state: a
    window is a glance to one side when a glance (see `glances`) begins in it, or when glance frames fill at
    least half of its measured frames; otherwise centre; uncertain when no gaze was measured in it.

    So a glance is reported from the window in which it starts, however late in that window, and a window in
    which a glance only ends (its last fraction of a second) stays centre unless the glance fills half of it.
    """
    rules = rules or FlagRules()
    base = baseline or DEFAULT_BASELINE
    found = glances(frames, base, rules)
    out: list[GazeWindow] = []
    if not frames:
        return out
    count = int(max(f.t for f in frames) // seconds) + 1
    # One pass over the frames: per window, the measured frames and how many of them fall inside each side's
    # glances (glances do not overlap, so a frame is in at most one).
    measured = [0] * count
    per_window = [{"left": 0, "right": 0} for _ in range(count)]
    for f in frames:
        if gaze_side(f, base, rules) is None:
            continue
        k = int(f.t // seconds)
        measured[k] += 1
        glance = next((g for g in found if g.start <= f.t < g.end), None)
        if glance is not None:
            per_window[k][glance.side] += 1
    onsets = {int(g.start // seconds): g for g in reversed(found)}  # the first glance beginning in each window
    for k in range(count):
        start, end = k * seconds, (k + 1) * seconds
        if not measured[k]:
            out.append(GazeWindow(start, end, "uncertain", 0, 0, None, "no gaze measured in this window"))
            continue
        per_side = per_window[k]
        in_glance = per_side["left"] + per_side["right"]
        onset = onsets.get(k)
        if onset is not None:
            label, reason = onset.side, f"a glance {onset.side} begins at {onset.start:.2f} s"
        elif 2 * in_glance >= measured[k]:
            label = max(per_side, key=lambda side: per_side[side])
            reason = f"{in_glance} of {measured[k]} frames inside a glance"
        else:
            label, reason = "centre", f"{in_glance} of {measured[k]} frames inside a glance"
        out.append(GazeWindow(start, end, label, measured[k], in_glance, onset.start if onset else None, reason))
    return out


def _runs(frames: list[FrameFindings], state: list[Tri], rules: FlagRules) -> list[tuple[int, int]]:
    """Maximal runs of PRESENT states; an UNCERTAIN frame or a long gap between frames ends a run."""
    runs = []
    start = None
    for i, s in enumerate(state):
        gap = i > 0 and frames[i].t - frames[i - 1].t > rules.frame_gap_seconds
        if start is not None and (s is not Tri.PRESENT or gap):
            runs.append((start, i - 1))
            start = None
        if s is Tri.PRESENT and start is None:
            start = i
    if start is not None:
        runs.append((start, len(state) - 1))
    return runs


def _span(frames: list[FrameFindings], run: tuple[int, int]) -> float:
    first, last = run
    step = frames[last].t - frames[last - 1].t if last > first else 0.0
    return frames[last].t - frames[first].t + step


def _evidence(run: tuple[int, int], limit: int = 5) -> list[int]:
    first, last = run
    indices = list(range(first, last + 1))
    if len(indices) <= limit:
        return indices
    step = (len(indices) - 1) / (limit - 1)
    return sorted({indices[round(k * step)] for k in range(limit)})


def evaluate(
    frames: list[FrameFindings],
    events: list[dict[str, Any]] | None = None,
    baseline: Baseline | None = None,
    rules: FlagRules | None = None,
) -> list[Flag]:
    """All flags for one sitting, ordered by start time."""
    rules = rules or FlagRules()
    base = baseline or DEFAULT_BASELINE
    frames = sorted(frames, key=lambda f: f.t)
    flags: list[Flag] = []

    def add(
        rule: str, run: tuple[int, int], severity: float, values: dict[str, Any], thresholds: dict[str, Any]
    ) -> None:
        flags.append(
            Flag(
                rule,
                frames[run[0]].t,
                frames[run[1]].t,
                round(min(1.0, severity), 3),
                values,
                thresholds,
                _evidence(run),
            )
        )

    no_face = [
        Tri.PRESENT if f.face.state is Tri.ABSENT else Tri.UNCERTAIN if f.face.state is Tri.UNCERTAIN else Tri.ABSENT
        for f in frames
    ]
    for run in _runs(frames, no_face, rules):
        seconds = _span(frames, run)
        if seconds >= rules.no_face_seconds:
            add(
                "no_face",
                run,
                seconds / (3 * rules.no_face_seconds),
                {"seconds": round(seconds, 1)},
                {"seconds": rules.no_face_seconds},
            )

    multiple = [f.multiple_faces.state for f in frames]
    for run in _runs(frames, multiple, rules):
        count = run[1] - run[0] + 1
        if count >= rules.multiple_faces_frames:
            most = max(len(frames[i].faces) for i in range(run[0], run[1] + 1))
            add(
                "multiple_faces",
                run,
                0.6 + 0.1 * count,
                {"frames": count, "faces": most},
                {"frames": rules.multiple_faces_frames},
            )

    away = [is_away(f, base, rules) for f in frames]
    for run in _runs(frames, away, rules):
        seconds = _span(frames, run)
        if seconds >= rules.away_seconds:
            span = [frames[i] for i in range(run[0], run[1] + 1)]
            gaze = [abs(f.gaze_x - base.gaze_x) for f in span if f.gaze_x is not None] or [0.0]
            yaw = [abs(f.yaw - base.yaw) for f in span if f.yaw is not None] or [0.0]
            add(
                "looking_away",
                run,
                seconds / (4 * rules.away_seconds),
                {
                    "seconds": round(seconds, 1),
                    "max_gaze_shift": round(max(gaze), 3),
                    "max_yaw_shift": round(max(yaw), 1),
                },
                {
                    "seconds": rules.away_seconds,
                    "gaze_shift": round(rules.away_gaze_x + base.gaze_x_spread, 3),
                    "yaw_degrees": round(rules.away_yaw_degrees + base.yaw_spread, 1),
                    "baseline_gaze_x": round(base.gaze_x, 3),
                    "baseline_yaw": round(base.yaw, 1),
                    "baseline_frames": base.frames,
                },
            )

    other = [
        f.identity.state
        if f.identity.state is Tri.UNCERTAIN
        else (Tri.PRESENT if f.identity.state is Tri.ABSENT else Tri.ABSENT)
        for f in frames
    ]
    for run in _runs(frames, other, rules):
        count = run[1] - run[0] + 1
        if count >= rules.different_person_frames:
            similarity = [frames[i].identity_similarity or 0.0 for i in range(run[0], run[1] + 1)]
            add(
                "different_person",
                run,
                0.5 + 0.1 * count,
                {"frames": count, "max_similarity": round(max(similarity), 3)},
                {"frames": rules.different_person_frames},
            )

    covered = [
        Tri.PRESENT if f.quality.usable.state is Tri.ABSENT or f.quality.covered.state is Tri.PRESENT else Tri.ABSENT
        for f in frames
    ]
    for run in _runs(frames, covered, rules):
        seconds = _span(frames, run)
        if seconds >= rules.covered_seconds:
            add(
                "camera_blocked",
                run,
                seconds / (3 * rules.covered_seconds),
                {"seconds": round(seconds, 1), "brightness": round(frames[run[0]].quality.brightness, 1)},
                {"seconds": rules.covered_seconds},
            )

    # Too dark to judge but not covered (some texture left): the frames are uncertain for every other rule, so
    # a long dark stretch is reported as a camera problem of its own, with a low severity.
    dark = [
        Tri.PRESENT
        if f.quality.brightness < rules.dark_brightness and covered[i] is not Tri.PRESENT
        else (Tri.UNCERTAIN if covered[i] is Tri.PRESENT else Tri.ABSENT)
        for i, f in enumerate(frames)
    ]
    for run in _runs(frames, dark, rules):
        seconds = _span(frames, run)
        if seconds >= rules.dark_seconds:
            brightness = max(frames[i].quality.brightness for i in range(run[0], run[1] + 1))
            add(
                "camera_dark",
                run,
                0.2 + seconds / (20 * rules.dark_seconds),
                {"seconds": round(seconds, 1), "max_brightness": round(brightness, 1)},
                {"seconds": rules.dark_seconds, "brightness": rules.dark_brightness},
            )

    flags.extend(_event_flags(events or [], rules))
    return sorted(flags, key=lambda f: f.start)


class EventError(ValueError):
    """A browser event that cannot be read (names the event and the bad value)."""


def _event_flags(events: list[dict[str, Any]], rules: FlagRules) -> list[Flag]:
    for position, event in enumerate(events):
        if not isinstance(event, dict) or not isinstance(event.get("t"), int | float):
            raise EventError(f"event {position}: expected a dict with a numeric t, got {event!r}")
    out = []
    hidden = sorted((e for e in events if e.get("type") in ("tab_hidden", "window_blur")), key=lambda e: e["t"])
    if len(hidden) >= rules.tab_switches:
        total = sum(_duration(e) for e in hidden)
        out.append(
            Flag(
                "tab_switches",
                hidden[0]["t"],
                hidden[-1]["t"],
                min(1.0, len(hidden) / (3 * rules.tab_switches)),
                {"count": len(hidden), "seconds_away": round(total, 1)},
                {"count": rules.tab_switches},
            )
        )
    for event in hidden:
        duration = _duration(event)
        if duration >= rules.tab_hidden_seconds:
            out.append(
                Flag(
                    "long_tab_absence",
                    event["t"],
                    event["t"] + duration,
                    min(1.0, duration / (4 * rules.tab_hidden_seconds)),
                    {"seconds": round(duration, 1)},
                    {"seconds": rules.tab_hidden_seconds},
                )
            )
    exits = sorted((e for e in events if e.get("type") == "fullscreen_exit"), key=lambda e: e["t"])
    if len(exits) >= rules.fullscreen_exits:
        out.append(
            Flag(
                "fullscreen_exits",
                exits[0]["t"],
                exits[-1]["t"],
                min(1.0, len(exits) / (4 * rules.fullscreen_exits)),
                {"count": len(exits)},
                {"count": rules.fullscreen_exits},
            )
        )
    for event in events:
        kind = event.get("type")
        if kind in ("camera_stopped", "camera_denied"):
            out.append(Flag("camera_off", event["t"], event["t"] + _duration(event), 0.5, {"event": kind}, {}))
        elif kind in ("copy", "paste"):
            out.append(Flag("copy_paste", event["t"], event["t"], 0.3, {"event": kind}, {}))
        elif kind == "network_lost" and _duration(event) >= rules.network_lost_seconds:
            # Short outages are normal; a long one is a stretch nobody could watch.
            seconds = _duration(event)
            out.append(
                Flag(
                    "network_lost",
                    event["t"],
                    event["t"] + seconds,
                    min(1.0, seconds / (10 * rules.network_lost_seconds)),
                    {"seconds": round(seconds, 1)},
                    {"seconds": rules.network_lost_seconds},
                )
            )
    return out


def _duration(event: dict[str, Any]) -> float:
    value = event.get("duration") or 0
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError) as err:
        where = f"event {event.get('type')} at t={event.get('t')}"
        raise EventError(f"{where}: duration {value!r} is not a number") from err


def risk(flags: list[Flag]) -> float:
    """A sitting's risk for ordering the review queue: 1 - Π(1 - severity) over its flags (0 without flags)."""
    remaining = 1.0
    for flag in flags:
        remaining *= 1 - flag.severity
    return round(1 - remaining, 4)
