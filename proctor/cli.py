"""`exam proctor ...`: webcam analysis in file mode and proctoring maintenance."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import click
from flask.cli import with_appcontext

if TYPE_CHECKING:
    from proctor.analysis.findings import FrameFindings


@click.group("proctor", help="Proctoring: analyse webcam video, maintain evidence.")
def proctor() -> None:
    """Group for proctoring commands."""


@proctor.command("analyze")
@click.argument("path", type=click.Path(exists=True))
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), required=True, help="FINDINGS.jsonl")
@click.option("--every", default=1, show_default=True, type=click.IntRange(min=1), help="analyse every Nth frame")
@click.option(
    "--calibrate-seconds",
    default=3.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="the first seconds are the student's neutral pose and gaze (0: a generic baseline)",
)
@click.option("--fps", default=1.0, show_default=True, type=click.FloatRange(min=0.001), help="for a folder of images")
@click.option("--small-faces", is_flag=True, help="second detector pass on tiles: smaller faces, 4x slower")
@click.option("--enrolment", type=click.Path(exists=True, dir_okay=False), help="enrolment photo for identity")
def analyze_command(
    path: str, out: str, every: int, calibrate_seconds: float, fps: float, small_faces: bool, enrolment: str | None
) -> None:
    """Run the frame pipeline and the flag rules on a video file or a folder of images (no database)."""
    import cv2

    from proctor.analysis.calibration import calibrate
    from proctor.analysis.pipeline import AnalyzerConfig, FrameAnalyzer
    from proctor.analysis.video import frames_from
    from proctor.flags import evaluate, glances, risk

    analyzer = FrameAnalyzer(AnalyzerConfig(small_face_tiles=small_faces))
    try:
        if enrolment:
            photo = cv2.imread(enrolment)
            if photo is None or not analyzer.enrol(photo):
                raise click.ClickException(f"{enrolment}: not an image with exactly one face big enough to enrol")
        records = []
        findings = []
        for index, t, frame in frames_from(path, every, fps):
            result = analyzer.analyze(frame, t)
            findings.append(result)
            records.append(_record(index, result))
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    finally:
        analyzer.close()
    baseline = calibrate([f for f in findings if f.t < calibrate_seconds]) if calibrate_seconds > 0 else None
    flags = evaluate(findings, [], baseline)
    for flag in flags:  # mark each frame with the flags it is evidence of, and each run's frames with its rule
        for position, record in enumerate(records):
            if flag.start <= findings[position].t <= flag.end and flag.rule not in record["flags"]:
                record["flags"].append(flag.rule)
    # Glances need frames at least every 0.5 s (a video, not the exam's snapshots every few seconds).
    found = glances(findings, baseline)
    for glance in found:
        for position, record in enumerate(records):
            if glance.start <= findings[position].t < glance.end:
                record["glance"] = glance.side
    with open(out, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    states = Counter(f.face.state.value for f in findings)
    click.echo(
        f"{len(findings)} frames analysed; face present {states.get('present', 0)}, absent "
        f"{states.get('absent', 0)}, uncertain {states.get('uncertain', 0)}; "
        + (
            f"baseline from {baseline.frames} frames (gaze x {baseline.gaze_x:.3f}, yaw {baseline.yaw:.1f})"
            if baseline
            else "generic baseline (calibration frames missing or unmeasurable)"
        )
    )
    for flag in flags:
        click.echo(f"  {flag.rule:16} {flag.start:7.1f}-{flag.end:7.1f} s  severity {flag.severity:.2f}  {flag.values}")
    for glance in found:
        click.echo(f"  glance {glance.side:9} {glance.start:7.2f}-{glance.end:7.2f} s")
    click.echo(f"{len(flags)} flag(s), {len(found)} glance(s), risk {risk(flags):.2f}; wrote {out}")


def _record(index: int, result: FrameFindings) -> dict[str, Any]:
    """One FINDINGS.jsonl line: the DESIGN.md fields first, then gaze, the side of a sustained glance the frame
    is part of (see `proctor.flags.glances`) and the full findings."""

    def rounded(value: float | None, digits: int) -> float | None:
        return None if value is None else round(value, digits)

    return {
        "frame": index,
        "t": round(result.t, 3),
        "faces": result.face_count,
        "yaw": rounded(result.yaw, 2),
        "pitch": rounded(result.pitch, 2),
        "roll": rounded(result.roll, 2),
        "gaze_x": rounded(result.gaze_x, 4),
        "gaze_y": rounded(result.gaze_y, 4),
        "gaze_direction": result.gaze_direction,
        "face": result.face.state.value,
        "flags": [],
        "glance": None,
        "findings": result.as_dict(),
    }


@proctor.command("purge")
@with_appcontext
def purge_command() -> None:
    """Delete raw frames past the retention period (findings, flags and decisions stay)."""
    from exam.db import db
    from proctor.services import purge_frames

    count = purge_frames(db.session)
    db.session.commit()
    click.echo(f"deleted {count} frames past retention")
