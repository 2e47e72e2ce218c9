"""Calibration in database mode: an exam's recorded responses become a matrix, the pure IRT core estimates
parameters, and a stored run keeps settings, fit and per-item results until an examiner accepts it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam.auth.models import User
from exam.db import utcnow
from exam.delivery.models import Exam, Response, Sitting, SittingState
from exam.validation import Problem, ValidationFailed
from itembank.calibration_models import CalibrationRun, ItemParameterHistory
from itembank.models import Item

DICHOTOMOUS = ("rasch", "1pl", "2pl", "3pl")
POLYTOMOUS = ("grm", "gpcm")


@dataclass
class ResponseMatrix:
    """Scored responses: rows are sittings, columns items; NaN where an item was not presented."""

    item_ids: list[int]
    sitting_ids: list[int]
    scores: np.ndarray
    max_points: np.ndarray


def response_matrix(session: Session, exam: Exam, *, polytomous: bool) -> ResponseMatrix:
    """Build the matrix from submitted sittings. Dichotomous models score full credit as 1, anything else 0;
    polytomous models use whole points (0..max). Items on another form than the student's stay NaN."""
    rows = session.execute(
        select(Response.sitting_id, Response.score, Response.max_score, Response.item_version_id)
        .join(Sitting, Sitting.id == Response.sitting_id)
        .where(Sitting.exam_id == exam.id, Sitting.state == SittingState.SUBMITTED)
    ).all()
    version_to_item = {p.item_version_id: p.item_version.item_id for p in exam.paper_items}
    item_ids = sorted(set(version_to_item.values()))
    sitting_ids = sorted({r.sitting_id for r in rows})
    col = {item_id: j for j, item_id in enumerate(item_ids)}
    row = {sid: i for i, sid in enumerate(sitting_ids)}
    scores = np.full((len(sitting_ids), len(item_ids)), np.nan)
    max_points = np.zeros(len(item_ids))
    for r in rows:
        j = col[version_to_item[r.item_version_id]]
        maximum = r.max_score or 0.0
        max_points[j] = max(max_points[j], maximum)
        if r.score is None:
            continue  # not yet marked: treated as not observed rather than wrong
        if polytomous:
            scores[row[r.sitting_id], j] = float(np.clip(np.round(r.score), 0, np.round(maximum)))
        else:
            scores[row[r.sitting_id], j] = 1.0 if r.score >= maximum - 1e-9 and maximum > 0 else 0.0
    return ResponseMatrix(item_ids, sitting_ids, scores, max_points)


def accept_run(session: Session, run: CalibrationRun, user: User) -> int:
    """Copy a finished run's estimates into the bank (with history). Nothing changes the bank without this."""
    if run.status != "done":
        raise ValidationFailed.of(
            "Only a finished run can be accepted.", [Problem("status", "must be done", value=run.status)]
        )
    changed = 0
    for result in run.items:
        item = session.get(Item, result.item_id)
        if item is None or (result.b is None and not result.thresholds):
            continue
        item.irt_model, item.irt_a, item.irt_b, item.irt_c = run.model, result.a, result.b, result.c
        item.irt_thresholds = result.thresholds
        session.add(
            ItemParameterHistory(
                item_id=item.id,
                run_id=run.id,
                model=run.model,
                a=result.a,
                b=result.b,
                c=result.c,
                thresholds=result.thresholds,
                changed_by_id=user.id,
            )
        )
        changed += 1
    run.status, run.accepted_by_id, run.accepted_at = "accepted", user.id, utcnow()
    session.flush()
    return changed


def start_run(
    session: Session, exam: Exam, user: User, model: str, *, dif_groups: tuple[str, str] | None = None
) -> CalibrationRun:
    """Record a queued calibration run (the work happens in run_calibration, usually as a background job)."""
    if model not in DICHOTOMOUS + POLYTOMOUS:
        raise ValidationFailed.of(
            "Unknown model.", [Problem("model", "rasch, 1pl, 2pl, 3pl, grm or gpcm", value=model)]
        )
    settings: dict[str, object] = {"quad_points": 61, "tol": 1e-4}
    if dif_groups:
        settings["dif_groups"] = list(dif_groups)
    run = CalibrationRun(exam_id=exam.id, model=model, settings=settings, created_by_id=user.id)
    session.add(run)
    session.flush()
    return run


def run_calibration(session: Session, run: CalibrationRun, progress: object = None) -> CalibrationRun:
    """Calibrate, then add classical statistics, item fit, DIF and plain-language warnings per item."""
    from itembank.calibration_models import ItemCalibration
    from itembank.irt.ctt import item_statistics
    from itembank.irt.dif import mantel_haenszel
    from itembank.irt.estimation import IRTInputError, calibrate
    from itembank.irt.fit import s_x2

    exam = session.get(Exam, run.exam_id)
    assert exam is not None
    matrix = response_matrix(session, exam, polytomous=run.model in POLYTOMOUS)
    run.status = "running"
    usable = []
    skipped = {}
    for j, item_id in enumerate(matrix.item_ids):
        column = matrix.scores[:, j]
        seen = column[~np.isnan(column)]
        if seen.size == 0:
            skipped[item_id] = "no scored responses yet"
        elif np.unique(seen).size < 2:
            skipped[item_id] = f"every examinee scored {seen[0]:g}: no variance"
        else:
            usable.append(j)
    scores = matrix.scores[:, usable]
    item_ids = [matrix.item_ids[j] for j in usable]
    try:
        result = calibrate(
            scores, run.model, item_ids=[str(i) for i in item_ids], progress=progress if callable(progress) else None
        )
    except IRTInputError as err:
        run.status, run.error = "failed", str(err)
        session.flush()
        return run
    stats = item_statistics(scores, matrix.max_points[usable] if run.model in POLYTOMOUS else None)
    fit = None
    if run.model in DICHOTOMOUS:
        complete = ~np.isnan(scores).any(axis=1)
        if complete.sum() >= 50:
            fit = s_x2(result.params, scores[complete])
    dif = _dif(session, matrix, usable, run, mantel_haenszel)
    run.examinees = int(scores.shape[0])
    run.summary = {
        "loglik": result.loglik,
        "aic": result.aic,
        "bic": result.bic,
        "iterations": result.report.iterations,
        "converged": result.report.converged,
        "max_change": result.report.max_change,
        "alpha": stats.alpha,
        "sem": stats.sem,
        "latent_sd": result.latent_sd,
        "skipped": {str(k): v for k, v in skipped.items()},
    }
    for position, item_id in enumerate(item_ids):
        p = result.params
        steps = p.steps[position][~np.isnan(p.steps[position])].tolist() if p.steps.size else None
        ctt = {
            "p_value": _num(stats.p_value[position]),
            "point_biserial": _num(stats.point_biserial[position]),
            "biserial": _num(stats.biserial[position]),
            "discrimination_index": _num(stats.discrimination_index[position]),
            "alpha_if_deleted": _num(stats.alpha_if_deleted[position]),
        }
        item_fit = None
        if fit is not None:
            item_fit = {
                "s_x2": _num(fit.s_x2[position]),
                "df": _num(fit.df[position]),
                "p_value": _num(fit.p_value[position]),
            }
        item_dif = dif.get(position)
        run.items.append(
            ItemCalibration(
                item_id=item_id,
                position=position,
                a=_num(p.a[position]),
                b=_num(p.b[position]),
                c=_num(p.c[position]) if run.model == "3pl" else None,
                thresholds=steps,
                standard_errors={k: _num(v[position]) for k, v in result.se.items()},
                ctt=ctt,
                fit=item_fit,
                dif=item_dif,
                warnings=warnings_for(ctt, item_fit, item_dif, _num(p.a[position])),
            )
        )
    run.status = "done"
    session.flush()
    return run


def _num(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def _dif(
    session: Session, matrix: ResponseMatrix, usable: list[int], run: CalibrationRun, mh: object
) -> dict[int, dict[str, object]]:
    """Mantel–Haenszel DIF between two classes (the run's `dif_groups`), matched on total score."""
    groups = run.settings.get("dif_groups") if run.settings else None
    if not groups or run.model in POLYTOMOUS:
        return {}
    rows = session.execute(
        select(Sitting.id, User.class_name)
        .join(User, User.id == Sitting.user_id)
        .where(Sitting.id.in_(matrix.sitting_ids))
    ).all()
    klass = dict(rows)
    names = [klass.get(sid) for sid in matrix.sitting_ids]
    in_groups = np.array([n in groups for n in names])
    focal = np.array([n == groups[1] for n in names])
    scores = matrix.scores[:, usable][in_groups]
    total = np.nansum(scores, axis=1)
    out = {}
    for position in range(scores.shape[1]):
        result = mh(scores[:, position], total, focal[in_groups])  # type: ignore[operator]
        out[position] = {
            "delta": _num(result.delta),
            "p_value": _num(result.p_value),
            "class": result.ets_class,
            "groups": list(groups),
        }
    return out


def warnings_for(
    ctt: dict[str, float | None], fit: dict[str, float | None] | None, dif: dict[str, object] | None, a: float | None
) -> list[str]:
    """Plain-language warnings (stable codes; pages translate them) for an item that misbehaves."""
    out = []
    pbis = ctt.get("point_biserial")
    if pbis is not None and pbis < 0:
        out.append("negative_discrimination")
    elif (pbis is not None and pbis < 0.15) or (a is not None and a < 0.3):
        out.append("weak_discrimination")
    if fit and fit.get("p_value") is not None and fit["p_value"] < 0.01:  # type: ignore[operator]
        out.append("misfit")
    if dif and dif.get("class") == "C":
        out.append("dif_c")
    p_value = ctt.get("p_value")
    if p_value is not None and (p_value > 0.95 or p_value < 0.05):
        out.append("extreme_difficulty")
    return out
