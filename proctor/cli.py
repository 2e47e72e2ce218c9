"""`exam proctor ...`: webcam analysis in file mode and proctoring maintenance."""

from __future__ import annotations

import json
from collections import Counter

import click
from flask.cli import with_appcontext


@click.group("proctor", help="Proctoring: analyse webcam video, maintain evidence.")
def proctor() -> None:
    """Group for proctoring commands."""


@proctor.command("analyze")
@click.argument("path", type=click.Path(exists=True))
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), required=True, help="FINDINGS.jsonl")
@click.option("--every", default=1, show_default=True, help="analyse every Nth frame")
@click.option(
    "--calibrate-seconds",
    default=3.0,
    show_default=True,
    help="the first seconds are the student's neutral pose and gaze",
)
@click.option("--fps", default=1.0, show_default=True, help="frames per second for a folder of images")
def analyze_command(path: str, out: str, every: int, calibrate_seconds: float, fps: float) -> None:
    """Run the frame pipeline and the flag rules on a video file or a folder of images."""
    from proctor.analysis.calibration import calibrate
    from proctor.analysis.pipeline import FrameAnalyzer
    from proctor.analysis.video import frames_from
    from proctor.flags import evaluate, risk

    analyzer = FrameAnalyzer()
    findings = []
    try:
        with open(out, "w", encoding="utf-8") as handle:
            for index, t, frame in frames_from(path, every, fps):
                result = analyzer.analyze(frame, t)
                findings.append((index, result))
                record = {
                    "frame": index,
                    "t": round(t, 3),
                    "faces": len(result.faces),
                    "yaw": result.yaw,
                    "pitch": result.pitch,
                    "gaze_x": result.gaze_x,
                    "gaze_y": result.gaze_y,
                    "flags": [],
                    "findings": result.as_dict(),
                }
                handle.write(json.dumps(record) + "\n")
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    finally:
        analyzer.close()
    baseline = calibrate([f for _, f in findings if f.t < calibrate_seconds])
    flags = evaluate([f for _, f in findings], [], baseline)
    # Second pass: mark each frame with the flags it is evidence of (the file is small: rewrite it).
    by_frame: dict[int, list[str]] = {}
    for flag in flags:
        for position in flag.evidence:
            by_frame.setdefault(findings[position][0], []).append(flag.rule)
    with open(out, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    with open(out, "w", encoding="utf-8") as handle:
        for line in lines:
            record = json.loads(line)
            record["flags"] = by_frame.get(record["frame"], [])
            handle.write(json.dumps(record) + "\n")
    states = Counter(f.face.state.value for _, f in findings)
    click.echo(
        f"{len(findings)} frames analysed; face present {states.get('present', 0)}, absent "
        f"{states.get('absent', 0)}, uncertain {states.get('uncertain', 0)}; baseline from "
        f"{baseline.frames if baseline else 0} frames"
    )
    for flag in flags:
        click.echo(f"  {flag.rule:16} {flag.start:7.1f}-{flag.end:7.1f} s  severity {flag.severity:.2f}  {flag.values}")
    click.echo(f"risk {risk(flags):.2f}; wrote {out}")


@proctor.command("purge")
@with_appcontext
def purge_command() -> None:
    """Delete raw frames past the retention period (findings, flags and decisions stay)."""
    from exam.db import db
    from proctor.services import purge_frames

    count = purge_frames(db.session)
    db.session.commit()
    click.echo(f"deleted {count} frames past retention")
