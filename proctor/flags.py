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
