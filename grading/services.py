"""Marking workflow: who marks what next, recording marks, resolving double marking, and auditing every score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exam.auth.models import User
from exam.db import utcnow
from exam.delivery.models import Exam, PaperItem, Response, Sitting, SittingState
from exam.delivery.services import results_visible, score_sitting
from exam.validation import Problem, ValidationFailed
from grading.marking import Resolution, Step, consistency, resolve
from grading.models import ItemMarking, Mark, ReviewRequest, ScoreChange
from grading.objective import MACHINE_SCORABLE

ARBITRATION_ROUND = 4


def human_items(exam: Exam) -> list[PaperItem]:
    """Paper items that rules cannot score (short answers, essays)."""
    return [p for p in exam.paper_items if p.item_version.item.type.value not in MACHINE_SCORABLE]


def marking_for(session: Session, paper_item: PaperItem) -> ItemMarking:
    """The item's marking set-up (single marking, tolerance 1 point, half-point steps until configured)."""
    setup = session.scalar(select(ItemMarking).where(ItemMarking.paper_item_id == paper_item.id))
    if setup is None:
        setup = ItemMarking(
            exam_id=paper_item.exam_id,
            paper_item_id=paper_item.id,
            double=False,
            tolerance=1.0,
            step=0.5,
            machine_first=False,
        )
        session.add(setup)
        session.flush()
    return setup


def configure(
    session: Session,
    paper_item: PaperItem,
    *,
    double: bool,
    tolerance: float,
    step: float,
    rubric: str | None,
    machine_first: bool = False,
    lead_marker_id: int | None = None,
) -> ItemMarking:
    """Change how an item is marked (before or during marking; marks already given stay)."""
    problems = []
    if not 0 <= tolerance <= paper_item.points:
        problems.append(Problem("tolerance", f"between 0 and the item's {paper_item.points:g} points", value=tolerance))
    if step not in (0.25, 0.5, 1.0):
        problems.append(Problem("step", "0.25, 0.5 or 1", value=step))
    if problems:
        raise ValidationFailed.of("The marking set-up was not saved.", problems)
    setup = marking_for(session, paper_item)
    setup.double, setup.tolerance, setup.step = double, tolerance, step
    setup.rubric, setup.machine_first, setup.lead_marker_id = rubric, machine_first, lead_marker_id
    session.flush()
    return setup


def _marks(session: Session, response_id: int) -> list[Mark]:
    return list(session.scalars(select(Mark).where(Mark.response_id == response_id).order_by(Mark.round)).all())


def state_of(setup: ItemMarking, marks: list[Mark]) -> Resolution:
    """Where a response stands under its item's rules."""
    arbitration = next((m.score for m in marks if m.round == ARBITRATION_ROUND), None)
    ordinary = [m.score for m in marks if m.round < ARBITRATION_ROUND]
    return resolve(ordinary, double=setup.double, tolerance=setup.tolerance, arbitration=arbitration, step=setup.step)


def _can_arbitrate(user: User, exam: Exam, setup: ItemMarking) -> bool:
    from exam.auth.access import exam_role

    return setup.lead_marker_id == user.id or exam_role(user, exam, "examiner")


def _submitted_responses(session: Session, paper_item: PaperItem) -> list[Response]:
    return list(
        session.scalars(
            select(Response)
            .join(Sitting, Sitting.id == Response.sitting_id)
            .where(Response.paper_item_id == paper_item.id, Sitting.state == SittingState.SUBMITTED)
            .order_by(Response.id)
        ).all()
    )


def _needs_human(response: Response) -> bool:
    return response.score_source not in ("rule",)


@dataclass(frozen=True)
class QueueCount:
    """How much of one item is left for a marker."""

    paper_item: PaperItem
    waiting_for_me: int
    done: int
    total: int


def queue(session: Session, exam: Exam, marker: User) -> list[QueueCount]:
    """Per human-marked item: answers this marker can mark now, finished answers, all answers."""
    out = []
    for paper_item in human_items(exam):
        setup = marking_for(session, paper_item)
        responses = [r for r in _submitted_responses(session, paper_item) if _needs_human(r)]
        waiting = done = 0
        for response in responses:
            marks = _marks(session, response.id)
            step = state_of(setup, marks).step
            if step is Step.DONE:
                done += 1
            elif _may_mark(marker, exam, setup, marks, step):
                waiting += 1
        out.append(QueueCount(paper_item, waiting, done, len(responses)))
    return out


def _may_mark(marker: User, exam: Exam, setup: ItemMarking, marks: list[Mark], step: Step) -> bool:
    if any(m.marker_id == marker.id for m in marks):
        return False  # independence: nobody marks the same answer twice
    if step is Step.ARBITRATION:
        return _can_arbitrate(marker, exam, setup)
    return step is not Step.DONE


def next_response(session: Session, exam: Exam, paper_item: PaperItem, marker: User) -> Response | None:
    """The next answer this marker may mark on this item (anonymised by the page), or None when none is left."""
    setup = marking_for(session, paper_item)
    for response in _submitted_responses(session, paper_item):
        if not _needs_human(response):
            continue
        marks = _marks(session, response.id)
        step = state_of(setup, marks).step
        if _may_mark(marker, exam, setup, marks, step):
            return response
    return None


def set_score(
    session: Session,
    response: Response,
    score: float | None,
    *,
    source: str,
    by: User | None,
    reason: str,
    allow_released: bool = False,
) -> None:
    """The one place a response's score changes: records the change, then re-totals the sitting."""
    sitting = response.sitting
    if (
        not allow_released
        and response.score_source in ("human", "arbitration", "review")
        and results_visible(sitting.exam)
        and response.score != score
    ):
        raise ValidationFailed.of(
            "This score is released; change it through a review request.",
            [Problem("score", "released scores change only through review", value=response.score)],
        )
    session.add(
        ScoreChange(
            response_id=response.id,
            changed_by_id=by.id if by else None,
            source=source,
            before=response.score,
            after=score,
            reason=reason,
        )
    )
    response.score = score
    response.score_source = "human" if source in ("human", "arbitration", "review") else source
    session.flush()
    score_sitting(session, sitting)


def submit_mark(
    session: Session, response: Response, marker: User, score: float, comment: str | None = None
) -> Resolution:
    """Record a marker's mark at the response's current step; finalise the score when the rules allow."""
    paper_item = response.paper_item
    exam = paper_item.exam
    setup = marking_for(session, paper_item)
    marks = _marks(session, response.id)
    before = state_of(setup, marks)
    problems = []
    if not 0 <= score <= paper_item.points:
        problems.append(Problem("score", f"between 0 and {paper_item.points:g}", value=score))
    elif abs(score / setup.step - round(score / setup.step)) > 1e-9:
        problems.append(Problem("score", f"a multiple of {setup.step:g}", value=score))
    if before.step is Step.DONE:
        problems.append(Problem("response", "already has its final score"))
    elif not _may_mark(marker, exam, setup, marks, before.step):
        problems.append(Problem("response", "you have marked it already or may not arbitrate"))
    if problems:
        raise ValidationFailed.of("The mark was not saved.", problems)
    round_no = ARBITRATION_ROUND if before.step is Step.ARBITRATION else len(marks) + 1
    nested = session.begin_nested()
    session.add(Mark(response_id=response.id, round=round_no, marker_id=marker.id, score=score, comment=comment))
    try:
        nested.commit()
    except IntegrityError as err:
        nested.rollback()
        raise ValidationFailed.of(
            "Another marker marked this answer at the same moment.", [Problem("response", "take the next answer")]
        ) from err
    after = state_of(setup, _marks(session, response.id))
    if after.final is not None:
        source = "arbitration" if round_no == ARBITRATION_ROUND else "human"
        set_score(session, response, after.final, source=source, by=marker, reason=after.reason)
    return after


def marker_consistency(session: Session, exam: Exam, paper_item: PaperItem) -> list[Any]:
    """Each marker's marks against the final scores on this item (for the lead marker)."""
    setup = marking_for(session, paper_item)
    rows = []
    for response in _submitted_responses(session, paper_item):
        marks = _marks(session, response.id)
        final = state_of(setup, marks).final
        if final is None:
            continue
        for mark in marks:
            name = mark.marker.username if mark.marker else "machine"
            rows.append((name, mark.score, final))
    return consistency(rows, setup.tolerance)


def history(session: Session, response: Response) -> list[ScoreChange]:
    """The audit trail of one response's score, oldest first."""
    return list(
        session.scalars(
            select(ScoreChange).where(ScoreChange.response_id == response.id).order_by(ScoreChange.id)
        ).all()
    )


def request_review(session: Session, response: Response, user: User, reason: str) -> ReviewRequest:
    """Ask for a released score to be looked at again."""
    if not reason.strip():
        raise ValidationFailed.of("Give a reason for the review.", [Problem("reason", "required")])
    request = ReviewRequest(response_id=response.id, requested_by_id=user.id, reason=reason.strip())
    session.add(request)
    session.flush()
    return request


def decide_review(
    session: Session, request: ReviewRequest, user: User, *, accept: bool, new_score: float | None, note: str
) -> None:
    """Accept (changing the score, audited) or reject a review request."""
    if request.status != "open":
        raise ValidationFailed.of("The request is already decided.", [Problem("status", request.status)])
    response = request.response
    if accept and (new_score is None or not 0 <= new_score <= (response.max_score or 0)):
        raise ValidationFailed.of(
            "The new score is not valid.",
            [Problem("new_score", f"between 0 and {response.max_score}", value=new_score)],
        )
    request.status = "accepted" if accept else "rejected"
    request.decided_by_id, request.decided_at, request.decision_note = user.id, utcnow(), note
    if accept:
        request.new_score = new_score
        set_score(
            session,
            response,
            new_score,
            source="review",
            by=user,
            reason=f"review #{request.id}: {note}",
            allow_released=True,
        )
    session.flush()


def pending_marking_count(session: Session, exam: Exam) -> int:
    """How many submitted responses on human-marked items have no score yet."""
    ids = [p.id for p in human_items(exam)]
    if not ids:
        return 0
    return int(
        session.scalar(
            select(func.count(Response.id))
            .join(Sitting, Sitting.id == Response.sitting_id)
            .where(Response.paper_item_id.in_(ids), Response.score.is_(None), Sitting.state == SittingState.SUBMITTED)
        )
        or 0
    )


def regrade_version(session: Session, version: Any, new_key: Any, *, by: User, reason: str) -> int:
    """Correct the key of a delivered item version and rescore every response to it, keeping the history.

    Returns how many responses changed score. Each change is in the audit trail with the reason given.
    """
    from grading.objective import score_objective

    item_type = version.item.type.value
    if item_type not in MACHINE_SCORABLE:
        raise ValidationFailed.of(
            "Only rule-scored items are regraded.", [Problem("item", "not rule-scored", value=item_type)]
        )
    if not reason.strip():
        raise ValidationFailed.of("Say why the key changes.", [Problem("reason", "required")])
    old_key = version.key
    version.key = new_key
    responses = session.scalars(select(Response).where(Response.item_version_id == version.id)).all()
    changed = 0
    touched: dict[int, Sitting] = {}
    try:
        for response in responses:
            sitting = response.sitting
            if sitting.state is not SittingState.SUBMITTED:
                continue
            settings = dict(version.settings or {})
            settings.setdefault("n_options", len(version.options or []))
            result = score_objective(
                item_type,
                new_key,
                response.answer,
                response.paper_item.points,
                rule=sitting.exam.multiple_choice_rule,
                settings=settings,
            )
            if response.score != result.score:
                session.add(
                    ScoreChange(
                        response_id=response.id,
                        changed_by_id=by.id,
                        source="regrade",
                        before=response.score,
                        after=result.score,
                        reason=f"key changed from {old_key!r} to {new_key!r}: {reason.strip()}",
                    )
                )
                changed += 1
            touched[sitting.id] = sitting
    except (TypeError, ValueError) as err:
        raise ValidationFailed.of(
            "The new key does not fit the item.", [Problem("key", str(err), value=new_key)]
        ) from err
    session.flush()
    for sitting in touched.values():
        score_sitting(session, sitting)
    return changed
