"""The machine grader in the marking workflow: train from human scores, score pending answers, auto-accept only
confident scores (or count as the first of two markers), and watch agreement with humans for drift."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam.auth.models import User
from exam.delivery.models import PaperItem, Response, Sitting, SittingState
from exam.validation import Problem, ValidationFailed
from grading.ml import DriftAlert, GraderBundle, GraderError, drift, fit_bundle, qwk
from grading.models import GraderModel, MachineScore, Mark
from itembank.models import ItemVersion


def _text(answer: Any) -> str:
    return answer if isinstance(answer, str) else ""


def human_scored(session: Session, item_id: int) -> list[Response]:
    """Responses to any version of the item whose score a person gave (marked, arbitrated or reviewed)."""
    return list(
        session.scalars(
            select(Response)
            .join(ItemVersion, ItemVersion.id == Response.item_version_id)
            .where(ItemVersion.item_id == item_id, Response.score_source == "human", Response.score.is_not(None))
            .order_by(Response.id)
        ).all()
    )


def train(session: Session, paper_item: PaperItem, user: User) -> GraderModel:
    """Train a grader for the paper item's item from every human-scored answer to it (in whole points)."""
    item_id = paper_item.item_version.item_id
    rows = [(str(item_id), _text(r.answer), round(r.score or 0)) for r in human_scored(session, item_id)]
    if len(rows) < 30:
        raise ValidationFailed.of(
            "The grader was not trained.",
            [Problem("answers", f"{len(rows)} human-scored answers; at least 30 are needed to train", value=len(rows))],
        )
    try:
        bundle = fit_bundle(rows)
    except GraderError as err:
        raise ValidationFailed.of(
            "The grader was not trained.", [Problem("answers", str(err), value=len(rows))]
        ) from err
    grader = bundle.graders[str(item_id)]
    directory = Path(current_app.config["STORAGE_DIR"]) / "models" / str(item_id)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{bundle.version}.joblib"
    bundle.save(str(path))
    # The coverage curve an examiner picks a threshold from is out of fold: re-scoring the training answers with
    # the final model would flatter it.
    curve = [asdict(p) for p in grader.curve]
    model = GraderModel(
        item_id=item_id,
        version=bundle.version,
        path=str(path),
        n_train=len(rows),
        cv_qwk=grader.cv_qwk,
        curve=curve,
        created_by_id=user.id,
    )
    session.add(model)
    session.flush()
    return model


def latest_model(session: Session, item_id: int) -> GraderModel | None:
    """The item's newest grader."""
    return session.scalar(select(GraderModel).where(GraderModel.item_id == item_id).order_by(GraderModel.id.desc()))


def apply(
    session: Session, paper_item: PaperItem, model: GraderModel, threshold: float | None, user: User
) -> dict[str, int]:
    """Score the item's unscored answers. At or above the threshold a score is accepted (audited as the
    machine's); with machine-first double marking the machine's score is the first mark instead."""
    from grading.services import marking_for, set_score

    if threshold is not None and not 0 <= threshold <= 1:
        raise ValidationFailed.of(
            "The threshold is not valid.", [Problem("threshold", "between 0 and 1", value=threshold)]
        )
    try:
        bundle = GraderBundle.load(model.path)
    except GraderError as err:
        raise ValidationFailed.of("The grader cannot be used; train it again.", [Problem("model", str(err))]) from err
    grader = bundle.graders[str(model.item_id)]
    model.threshold = threshold
    setup = marking_for(session, paper_item)
    pending = [
        r
        for r in session.scalars(
            select(Response)
            .join(Sitting, Sitting.id == Response.sitting_id)
            .where(
                Response.paper_item_id == paper_item.id,
                Response.score.is_(None),
                Sitting.state == SittingState.SUBMITTED,
            )
        ).all()
    ]
    counts = {"scored": 0, "accepted": 0, "first_marks": 0}
    if not pending:
        return counts
    scores, confidence = grader.predict([_text(r.answer) for r in pending])
    for response, score, conf in zip(pending, scores, confidence, strict=True):
        score = float(min(score, paper_item.points))
        accepted = threshold is not None and conf >= threshold and not setup.double
        session.add(
            MachineScore(
                response_id=response.id,
                model_id=model.id,
                score=score,
                confidence=float(conf),
                accepted=accepted,
                features={"chars": len(_text(response.answer)), "encoder": grader.encoder},
            )
        )
        counts["scored"] += 1
        if accepted:
            set_score(
                session,
                response,
                score,
                source="machine",
                by=None,
                reason=f"model {model.version}, confidence {conf:.2f} >= {threshold:.2f}",
            )
            counts["accepted"] += 1
        elif (
            setup.double
            and setup.machine_first
            and session.scalar(select(Mark.id).where(Mark.response_id == response.id)) is None
        ):
            session.add(
                Mark(response_id=response.id, round=1, marker_id=None, score=score, comment=f"machine {model.version}")
            )
            counts["first_marks"] += 1
    session.flush()
    return counts


def agreement_report(
    session: Session, model: GraderModel, tolerance: float = 0.05
) -> tuple[float | None, int, DriftAlert | None]:
    """Agreement (QWK) between the model's scores and later human scores of the same answers, and a drift alert
    when it falls more than `tolerance` below the model's cross-validated QWK."""
    rows = session.execute(
        select(MachineScore.score, Response.score)
        .join(Response, Response.id == MachineScore.response_id)
        .where(
            MachineScore.model_id == model.id,
            MachineScore.accepted.is_(False),
            Response.score_source == "human",
            Response.score.is_not(None),
        )
    ).all()
    if not rows:
        return None, 0, None
    machine = np.array([round(m) for m, _ in rows])
    human = np.array([round(h) for _, h in rows])
    return qwk(machine, human), len(rows), drift(model.cv_qwk, machine, human, tolerance=tolerance)
