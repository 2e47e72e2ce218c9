"""`exam grade ...` and `exam report ...`: machine grading and score reports in file mode."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click
from flask.cli import with_appcontext


@click.group("grade", help="Machine grading of short answers and essays.")
def grade() -> None:
    """Group for grading commands."""


@click.group("report", help="Score reports (PDF) and exports.")
def report() -> None:
    """Group for report commands."""


def read_answers(path: str, *, need_score: bool) -> list[dict[str, str]]:
    """TRAIN.csv / ANSWERS.csv: item_id, answer[, score]; UTF-8 (with or without BOM). Errors name the row."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise click.ClickException(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    reader = csv.DictReader(io.StringIO(text))
    columns = ["item_id", "answer"] + (["score"] if need_score else [])
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise click.ClickException(f"{path}: missing column(s) {', '.join(missing)}; found {reader.fieldnames}")
    rows = list(reader)
    if not rows:
        raise click.ClickException(f"{path}: no answers")
    if need_score:
        for number, row in enumerate(rows, start=2):
            value = (row.get("score") or "").strip()
            if not value.isdigit():
                raise click.ClickException(f"{path}: row {number}, column 'score': {value!r} is not a whole score")
            # Optional: a second rater's score of a double-marked answer (empty where there is none).
            second = (row.get("score2") or "").strip()
            if second and not second.isdigit():
                raise click.ClickException(f"{path}: row {number}, column 'score2': {second!r} is not a whole score")
    return rows


@grade.command("fit")
@click.argument("train", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True), help="MODEL.joblib")
def fit_command(train: str, out: str) -> None:
    """Train one grader per item from human-scored answers (TRAIN.csv: item_id,answer,score[,score2]).

    score2, where present, is a second rater's score of the same answer: extra training signal."""
    from grading.ml import GraderError, fit_bundle

    rows = read_answers(train, need_score=True)
    try:
        bundle = fit_bundle(
            [
                (
                    r["item_id"],
                    r["answer"],
                    int(r["score"]),
                    int(r["score2"]) if (r.get("score2") or "").strip() else None,
                )
                for r in rows
            ],
            progress=lambda n, total, item: click.echo(f"  [{n}/{total}] item {item}", err=True),
        )
    except GraderError as err:
        raise click.ClickException(str(err)) from err
    bundle.save(out)
    for item_id, grader in bundle.graders.items():
        point = grader.threshold_for_agreement(0.95)
        safe = (
            f"confidence >= {point.threshold:.3f} auto-accepts {point.coverage:.0%} at "
            f"{point.exact_agreement:.1%} exact agreement"
            if point
            else "no threshold reaches 95% exact agreement"
        )
        click.echo(
            f"item {item_id}: {grader.n_train} answers, scores 0-{grader.max_score}, {grader.method} model, "
            f"cross-validated QWK {grader.cv_qwk:.3f}; out of fold, {safe}"
        )
    click.echo(f"model version {bundle.version}; wrote {out}")


@grade.command("score")
@click.argument("answers", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True), help="SCORES.csv")
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="confidence at or above which a score is auto-accepted (adds an `accepted` column)",
)
def score_command(answers: str, model_path: str, out: str, threshold: float | None) -> None:
    """Score ANSWERS.csv (item_id,answer) and write SCORES.csv with score and confidence."""
    from grading.ml import GraderBundle, GraderError

    try:
        bundle = GraderBundle.load(model_path)
    except GraderError as err:
        raise click.ClickException(str(err)) from err
    rows = read_answers(answers, need_score=False)
    unknown = sorted({r["item_id"] for r in rows} - set(bundle.graders))
    if unknown:
        raise click.ClickException(f"{answers}: no trained grader for item(s) {', '.join(unknown[:10])}")
    by_item: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        by_item.setdefault(row["item_id"], []).append(index)
    scores: dict[int, tuple[int, float]] = {}
    for item_id, indices in by_item.items():
        predicted, confidence = bundle.graders[item_id].predict([rows[i]["answer"] for i in indices])
        for i, s, c in zip(indices, predicted, confidence, strict=True):
            scores[i] = (int(s), float(c))
    fields = [*rows[0].keys(), "score", "confidence", *(["accepted"] if threshold is not None else [])]
    fields = list(dict.fromkeys(fields))
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for index, row in enumerate(rows):
            s, c = scores[index]
            record = {**row, "score": s, "confidence": f"{c:.3f}"}
            if threshold is not None:
                record["accepted"] = int(c >= threshold)
            writer.writerow(record)
    accepted = sum(1 for s, c in scores.values() if threshold is not None and c >= threshold)
    click.echo(
        f"scored {len(rows)} answers with model {bundle.version}"
        + (f"; {accepted} at or above confidence {threshold:g}" if threshold is not None else "")
        + f"; wrote {out}"
    )


@report.command("exam")
@click.argument("exam_id", type=int)
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True))
@click.option("--locale", type=click.Choice(["zh_CN", "en"]), default="zh_CN", show_default=True)
@with_appcontext
def exam_report_command(exam_id: int, out: str, locale: str) -> None:
    """The exam's analysis report as PDF."""
    from exam.db import db
    from exam.delivery.models import Exam
    from grading.report_service import exam_report
    from grading.reports import ReportError, exam_report_pdf

    exam = db.session.get(Exam, exam_id)
    if exam is None:
        raise click.ClickException(f"no exam {exam_id}")
    try:
        Path(out).write_bytes(exam_report_pdf(exam_report(db.session, exam, locale)))
    except ReportError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"wrote {out}")


@report.command("students")
@click.argument("exam_id", type=int)
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True), help="a .zip")
@click.option("--locale", type=click.Choice(["zh_CN", "en"]), default="zh_CN", show_default=True)
@with_appcontext
def students_report_command(exam_id: int, out: str, locale: str) -> None:
    """Every submitted student's report of an exam, one PDF each, in a ZIP."""
    import time

    from exam.db import db
    from exam.delivery.models import Exam
    from grading.report_service import bulk_student_reports
    from grading.reports import ReportError

    exam = db.session.get(Exam, exam_id)
    if exam is None:
        raise click.ClickException(f"no exam {exam_id}")
    started = time.perf_counter()
    try:
        count = bulk_student_reports(db.session, exam, locale, Path(out))
    except ReportError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"{count} student reports in {time.perf_counter() - started:.1f} s; wrote {out}")


@report.command("student")
@click.argument("scores", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True), help="X.pdf")
@click.option(
    "--locale", type=click.Choice(["zh_CN", "en"]), default=None, help="overrides the JSON's locale (default zh_CN)"
)
def student_report_command(scores: str, out: str, locale: str | None) -> None:
    """File mode: one student's PDF report from SCORES.json (the StudentReport fields); no database needed."""
    import json

    from grading.reports import ReportError, student_report_from_dict, student_report_pdf

    try:
        data = json.loads(Path(scores).read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise click.ClickException(f"{scores}: not a UTF-8 JSON file ({err})") from err
    if locale and isinstance(data, dict):
        data["locale"] = locale
    try:
        pdf = student_report_pdf(student_report_from_dict(data))
    except ReportError as err:
        raise click.ClickException(f"{scores}: {err}") from err
    Path(out).write_bytes(pdf)
    click.echo(f"wrote {out} ({len(pdf) / 1024:.0f} KiB)")
