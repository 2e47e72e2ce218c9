"""`exam irt ...`: IRT calibration and ability scoring in file mode (no database) and for stored exams."""

from __future__ import annotations

import time

import click
import numpy as np
from flask.cli import with_appcontext


@click.group("irt", help="IRT calibration and ability scoring.")
def irt() -> None:
    """Group for IRT commands."""


@irt.command("calibrate")
@click.argument("responses", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--model", type=click.Choice(["rasch", "1pl", "2pl", "3pl", "grm", "gpcm"]), default="2pl", show_default=True
)
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), required=True, help="PARAMS.csv")
@click.option(
    "--anchors",
    "anchors_path",
    type=click.Path(exists=True, dir_okay=False),
    help="PARAMS.csv of bank items: those present in RESPONSES.csv are held at these values (2PL/3PL)",
)
@click.option("--quad-points", default=61, show_default=True)
@click.option("--tol", default=1e-4, show_default=True, help="largest parameter change at convergence")
@click.option("--max-iter", default=2000, show_default=True)
def calibrate_command(
    responses: str, model: str, out: str, anchors_path: str | None, quad_points: int, tol: float, max_iter: int
) -> None:
    """Calibrate RESPONSES.csv by marginal maximum likelihood (EM) and write PARAMS.csv."""
    from itembank.irt.estimation import IRTInputError, calibrate
    from itembank.irt.io import read_params, read_responses, write_params

    try:
        table = read_responses(responses)
        anchors: dict[int, tuple[float, float, float]] = {}
        if anchors_path:
            bank = read_params(anchors_path)
            for k, item_id in enumerate(bank.item_ids):
                if item_id in table.item_ids:
                    anchors[table.item_ids.index(item_id)] = (float(bank.a[k]), float(bank.b[k]), float(bank.c[k]))
            if not anchors:
                raise IRTInputError(f"{anchors_path}: none of its items is a column of {responses}")
        started = time.perf_counter()
        result = calibrate(
            table.scores,
            model,
            item_ids=table.item_ids,
            anchors=anchors or None,
            quad_points=quad_points,
            tol=tol,
            max_iter=max_iter,
        )
    except IRTInputError as err:
        raise click.ClickException(str(err)) from err
    write_params(result, out)
    report = result.report
    click.echo(
        f"{model}: {table.scores.shape[0]} examinees x {table.scores.shape[1]} items; "
        f"{'converged' if report.converged else 'NOT converged'} after {report.iterations} EM iterations "
        f"({report.extrapolations} accelerated; largest change {report.max_change:.2e}) "
        f"in {time.perf_counter() - started:.2f} s"
    )
    latent = ""
    if model == "rasch":
        latent = f"  latent SD {result.latent_sd:.4f}"
    elif anchors:
        latent = f"  {len(anchors)} anchors; latent mean {result.latent_mean:.4f} SD {result.latent_sd:.4f}"
    click.echo(f"log-likelihood {result.loglik:.4f}  AIC {result.aic:.2f}  BIC {result.bic:.2f}{latent}")
    click.echo(f"wrote {out}")


@irt.command("score")
@click.argument("responses", type=click.Path(exists=True, dir_okay=False))
@click.option("--params", "params_path", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--method", type=click.Choice(["eap", "map", "ml"]), default="eap", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), required=True, help="THETA.csv")
def score_command(responses: str, params_path: str, method: str, out: str) -> None:
    """Estimate each examinee's θ with its standard error from RESPONSES.csv and PARAMS.csv."""
    from itembank.irt.estimation import IRTInputError
    from itembank.irt.io import read_params, read_responses, write_theta
    from itembank.irt.scoring import score

    try:
        table = read_responses(responses)
        params = read_params(params_path)
    except IRTInputError as err:
        raise click.ClickException(str(err)) from err
    missing = [i for i in params.item_ids if i not in table.item_ids]
    if missing:
        raise click.ClickException(f"{responses}: no column for item(s) {', '.join(missing[:10])}")
    columns = [table.item_ids.index(i) for i in params.item_ids]
    try:
        estimates = score(params, table.scores[:, columns], method)
    except ValueError as err:
        raise click.ClickException(f"{responses}: {err}") from err
    write_theta(table.person_ids, estimates, out)
    extreme = int(np.sum(estimates.extreme))
    click.echo(
        f"{method}: {len(table.person_ids)} examinees scored"
        + (
            f"; {extreme} patterns with no finite ML estimate (e.g. all right/all wrong) held at ±6, SE inf"
            if extreme
            else ""
        )
        + f"; wrote {out}"
    )


@irt.command("calibrate-exam")
@click.argument("exam_id", type=int)
@click.option(
    "--model", type=click.Choice(["rasch", "1pl", "2pl", "3pl", "grm", "gpcm"]), default="2pl", show_default=True
)
@click.option("--as", "username", required=True, help="the examiner the run is recorded for")
@click.option("--accept", is_flag=True, help="write the estimates into the bank when the run succeeds")
@with_appcontext
def calibrate_exam_command(exam_id: int, model: str, username: str, accept: bool) -> None:
    """Database mode: calibrate an exam's recorded responses into a stored run (optionally accept it)."""
    from sqlalchemy import select

    from exam.auth.access import exam_role
    from exam.auth.models import User
    from exam.db import db
    from exam.delivery.models import Exam
    from exam.validation import ValidationFailed
    from itembank.calibration_service import accept_run, run_calibration, start_run

    user = db.session.scalar(select(User).where(User.username == username))
    exam = db.session.get(Exam, exam_id)
    if user is None or exam is None or not exam_role(user, exam, "examiner"):
        raise click.ClickException(f"no exam {exam_id} that {username!r} examines")
    try:
        run = start_run(db.session, exam, user, model)
        run_calibration(db.session, run)
        if run.status == "done" and accept:
            accept_run(db.session, run, user)
    except ValidationFailed as err:
        db.session.rollback()
        raise click.ClickException(str(err)) from err
    db.session.commit()
    if run.error:
        raise click.ClickException(f"run {run.id} failed: {run.error}")
    summary = run.summary or {}
    flagged = sum(1 for r in run.items if r.warnings)
    click.echo(
        f"run {run.id}: {run.status}; {run.examinees} examinees, {len(run.items)} items, "
        f"log-likelihood {summary.get('loglik', float('nan')):.2f}; {flagged} items with warnings"
    )
