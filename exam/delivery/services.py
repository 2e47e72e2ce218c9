"""Exam delivery: start, save, resume, take over, submit. Every student write is idempotent and acknowledged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from exam.auth.models import User
from exam.db import utcnow
from exam.delivery import rules
from exam.delivery.models import (
    Candidate,
    Exam,
    PaperItem,
    Response,
    ResultsPolicy,
    SaveReceipt,
    Sitting,
    SittingState,
)
from exam.delivery.rules import DeliveryError
from grading.objective import MACHINE_SCORABLE, score_objective
from itembank.content import render_content
from itembank.models import Item, ItemType, ItemVersion

OPTION_TYPES = frozenset({ItemType.SINGLE_CHOICE, ItemType.MULTIPLE_CHOICE, ItemType.MATCHING, ItemType.ORDERING})


def candidate_for(session: Session, exam: Exam, user: User) -> Candidate | None:
    """The user's roster entry on the exam, if any."""
    return session.scalar(select(Candidate).where(Candidate.exam_id == exam.id, Candidate.user_id == user.id))


def student_exams(session: Session, user: User) -> list[tuple[Exam, Sitting | None]]:
    """Exams on the student's roster with their sitting (if started), newest window first."""
    rows = session.execute(
        select(Exam, Sitting)
        .join(Candidate, Candidate.exam_id == Exam.id)
        .outerjoin(Sitting, (Sitting.exam_id == Exam.id) & (Sitting.user_id == user.id))
        .where(Candidate.user_id == user.id, Exam.frozen_at.is_not(None))
        .order_by(Exam.opens_at.desc())
    ).all()
    return [(exam, sitting) for exam, sitting in rows]


def freeze_exam(session: Session, exam: Exam, now: datetime | None = None) -> None:
    """Freeze the paper: its item versions become immutable (edits to those items then create new versions)."""
    if exam.frozen_at is not None:
        return
    if not exam.paper_items:
        raise DeliveryError("empty_paper", _("The exam has no items yet."), 422)
    for paper_item in exam.paper_items:
        paper_item.item_version.frozen = True
    # Each administration counts once per item (whatever its forms), for assembly's exposure limits (max_uses).
    used = {p.item_version.item_id for p in exam.paper_items}
    session.execute(update(Item).where(Item.id.in_(used)).values(exposure_count=Item.exposure_count + 1))
    exam.frozen_at = now or utcnow()
    session.flush()


def start_sitting(session: Session, exam: Exam, user: User, now: datetime | None = None) -> Sitting:
    """Start (or return the already started) sitting of `user` on `exam`. Safe to call twice concurrently."""
    now = now or utcnow()
    existing = session.scalar(select(Sitting).where(Sitting.exam_id == exam.id, Sitting.user_id == user.id))
    if existing is not None:
        return existing
    candidate = candidate_for(session, exam, user)
    if candidate is None:
        raise DeliveryError("not_on_roster", _("You are not on the roster of this exam."), 403)
    if exam.frozen_at is None or not exam.is_open(now):
        raise DeliveryError("exam_closed", _("This exam is not open now."), 409)
    form_no = rules.choose_form(exam.form_numbers, candidate.form_no, seed=(exam.id, user.id))
    items = [p for p in exam.paper_items if p.form_no == form_no]
    seed = (exam.id, user.id)
    order = rules.shuffled_order([p.id for p in items], shuffle=exam.shuffle_items, seed=seed)
    option_orders: dict[str, Any] = {}
    for p in items:
        version = p.item_version
        if version.item.type in OPTION_TYPES and version.options:
            keys = [o["key"] for o in version.options]
            option_orders[str(p.id)] = rules.shuffled_options(keys, shuffle=exam.shuffle_options, seed=(*seed, p.id))
    sitting = Sitting(
        exam_id=exam.id,
        user_id=user.id,
        form_no=form_no,
        started_at=now,
        deadline_at=rules.sitting_deadline(now, exam.duration_minutes, candidate.extra_minutes, exam.closes_at),
        item_order=order,
        option_orders=option_orders,
    )
    nested = session.begin_nested()
    session.add(sitting)
    try:
        nested.commit()
    except IntegrityError:
        # A second tab started at the same instant: the unique (exam, user) constraint kept one sitting.
        nested.rollback()
        found = session.scalar(select(Sitting).where(Sitting.exam_id == exam.id, Sitting.user_id == user.id))
        assert found is not None
        return found
    return sitting


def close_if_overdue(session: Session, sitting: Sitting, now: datetime | None = None) -> bool:
    """Auto-submit a sitting whose deadline (plus the save grace) has passed. True when it is now submitted."""
    now = now or utcnow()
    if sitting.state is SittingState.SUBMITTED:
        return True
    from flask import current_app

    grace = current_app.config["SAVE_GRACE_SECONDS"]
    if not rules.accepts_saves(sitting.deadline_at, now, grace):
        submit(session, sitting, by="clock", now=now)
        return True
    return False


def _paper_map(sitting: Sitting) -> dict[int, PaperItem]:
    return {p.id: p for p in sitting.exam.paper_items if p.form_no == sitting.form_no}


def student_item(paper_item: PaperItem, option_order: list[str] | None, number: int) -> dict[str, Any]:
    """What the browser may know about an item: content and option order, never the key or explanation."""
    version = paper_item.item_version
    options_by_key = {o["key"]: o for o in version.options or []}
    ordered = [options_by_key[k] for k in option_order] if option_order else list(options_by_key.values())
    item: dict[str, Any] = {
        "id": paper_item.id,
        "number": number,
        "type": version.item.type.value,
        "section": paper_item.section,
        "points": paper_item.points,
        "stem": render_content(version.stem),
        "options": [
            {"key": o["key"], "text": render_content(o.get("text", "")), **({"side": o["side"]} if "side" in o else {})}
            for o in ordered
        ],
    }
    if version.item.type is ItemType.FILL_BLANK:
        item["blanks"] = len(version.key or []) or 1
    if version.item.type is ItemType.NUMERICAL:
        item["units"] = (version.key or {}).get("units") or []
    return item


def sitting_state(sitting: Sitting, now: datetime | None = None) -> dict[str, Any]:
    """Everything the exam page needs to (re)build itself exactly where the student was."""
    now = now or utcnow()
    papers = _paper_map(sitting)
    responses = {r.paper_item_id: r for r in sitting.responses}
    items = [
        student_item(papers[pid], sitting.option_orders.get(str(pid)), n)
        for n, pid in enumerate(sitting.item_order, start=1)
    ]
    return {
        "sitting_id": sitting.id,
        "exam_title": sitting.exam.title,
        "state": sitting.state.value,
        "remaining_seconds": rules.remaining_seconds(sitting.deadline_at, now),
        "deadline": sitting.deadline_at.isoformat(),
        "server_time": now.isoformat(),
        "position": sitting.position,
        "items": items,
        "answers": {
            str(pid): {
                "answer": r.answer,
                "flagged": r.flagged,
                "seq": r.client_seq,
                "saved_at": r.saved_at.isoformat(),
            }
            for pid, r in responses.items()
        },
    }


def _validate_answer(item_type: ItemType, version: ItemVersion, answer: Any) -> None:
    """Refuse answers of the wrong shape for the item type (the UI never sends them; other clients might)."""
    if answer is None:
        return
    option_keys = {o["key"] for o in version.options or []}
    ok = True
    if item_type is ItemType.SINGLE_CHOICE:
        ok = isinstance(answer, str) and (answer == "" or answer in option_keys)
    elif item_type is ItemType.MULTIPLE_CHOICE or item_type is ItemType.ORDERING:
        ok = isinstance(answer, list) and all(isinstance(a, str) and a in option_keys for a in answer)
    elif item_type is ItemType.TRUE_FALSE:
        ok = isinstance(answer, bool)
    elif item_type is ItemType.FILL_BLANK:
        ok = isinstance(answer, list) and all(isinstance(a, str) and len(a) <= 1000 for a in answer)
    elif item_type is ItemType.MATCHING:
        ok = isinstance(answer, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in answer.items())
    else:  # numerical, short answer, essay: free text
        ok = isinstance(answer, str) and len(answer) <= 100_000
    if not ok:
        raise DeliveryError(
            "bad_answer", _("This answer does not fit the item type %(type)s.", type=item_type.value), 422
        )


@dataclass(frozen=True)
class SaveAck:
    """What the server tells the browser about one save."""

    op_id: str
    applied: bool
    saved_at: datetime
    remaining_seconds: int

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "op_id": self.op_id,
            "applied": self.applied,
            "saved_at": self.saved_at.isoformat(),
            "remaining_seconds": self.remaining_seconds,
        }


def claim_sitting(session: Session, sitting: Sitting, tab: str, *, force: bool, now: datetime | None = None) -> bool:
    """Let one tab hold the sitting. Returns whether another live tab was displaced (or refuses with 409)."""
    now = now or utcnow()
    from flask import current_app

    claim = rules.claim_tab(
        sitting.live_tab, sitting.live_seen_at, tab, now, current_app.config["LIVE_TAB_SECONDS"], force=force
    )
    if not claim.granted:
        raise DeliveryError(
            "other_tab",
            _("This exam is open in another window or device. Continue here to take it over."),
            409,
        )
    sitting.live_tab = tab
    sitting.live_seen_at = now
    session.flush()
    return claim.other_tab_active


def _check_writable(session: Session, sitting: Sitting, tab: str, now: datetime) -> None:
    if close_if_overdue(session, sitting, now):
        raise DeliveryError("submitted", _("This exam has been submitted; no more changes are accepted."), 409)
    if sitting.live_tab not in (None, tab):
        claim_sitting(session, sitting, tab, force=False, now=now)
    sitting.live_tab = tab
    sitting.live_seen_at = now


def save_answer(
    session: Session,
    sitting: Sitting,
    *,
    op_id: str,
    paper_item_id: int,
    answer: Any,
    flagged: bool | None,
    seq: int,
    tab: str,
    now: datetime | None = None,
) -> SaveAck:
    """Store one answer (and/or review flag). Resending the same op_id returns the first acknowledgement.

    `seq` is the browser's per-item counter: a save that arrives after a newer one for the same item (a retry
    overtaken on a flaky network) is acknowledged but not applied, so the latest typing always wins.
    """
    now = now or utcnow()
    receipt = session.get(SaveReceipt, op_id)
    if receipt is not None:
        if receipt.sitting_id != sitting.id:
            raise DeliveryError("op_reused", "operation id belongs to another sitting", 409)
        return SaveAck(op_id, receipt.applied, receipt.received_at, rules.remaining_seconds(sitting.deadline_at, now))
    _check_writable(session, sitting, tab, now)
    paper_item = _paper_map(sitting).get(paper_item_id)
    if paper_item is None:
        raise DeliveryError("no_such_item", _("This item is not part of your exam."), 404)
    version = paper_item.item_version
    _validate_answer(version.item.type, version, answer)
    response = session.scalar(
        select(Response).where(Response.sitting_id == sitting.id, Response.paper_item_id == paper_item_id)
    )
    applied = True
    if response is None:
        response = Response(
            sitting_id=sitting.id,
            paper_item_id=paper_item_id,
            item_version_id=paper_item.item_version_id,
            answer=answer,
            flagged=bool(flagged),
            client_seq=seq,
            saved_at=now,
        )
        session.add(response)
    elif seq >= response.client_seq:
        response.answer = answer
        if flagged is not None:
            response.flagged = flagged
        response.client_seq = seq
        response.saved_at = now
    else:
        applied = False
    session.add(
        SaveReceipt(
            op_id=op_id,
            sitting_id=sitting.id,
            paper_item_id=paper_item_id,
            kind="answer",
            payload={"answer": answer, "flagged": flagged},
            client_seq=seq,
            applied=applied,
            received_at=now,
        )
    )
    session.flush()
    return SaveAck(op_id, applied, now, rules.remaining_seconds(sitting.deadline_at, now))


def save_position(session: Session, sitting: Sitting, position: int, tab: str, now: datetime | None = None) -> None:
    """Remember where the student is, so a resume on another device opens the same item."""
    now = now or utcnow()
    _check_writable(session, sitting, tab, now)
    if not 0 <= position < len(sitting.item_order):
        raise DeliveryError("bad_position", _("There is no item at that position."), 422)
    sitting.position = position
    session.flush()


def submit(session: Session, sitting: Sitting, *, by: str = "student", now: datetime | None = None) -> Sitting:
    """Submit (idempotent) and score every rule-scorable item; the rest wait for machine or human marking."""
    now = now or utcnow()
    if sitting.state is SittingState.SUBMITTED:
        return sitting
    sitting.state = SittingState.SUBMITTED
    sitting.submitted_at = min(now, sitting.deadline_at) if by == "clock" else now
    sitting.submitted_by = by
    sitting.live_tab = None
    score_sitting(session, sitting)
    return sitting


def score_sitting(session: Session, sitting: Sitting) -> None:
    """(Re)score the rule-scorable responses of a submitted sitting and update its totals."""
    papers = _paper_map(sitting)
    responses = {r.paper_item_id: r for r in sitting.responses}
    rule = sitting.exam.multiple_choice_rule
    total = 0.0
    maximum = 0.0
    pending = False
    for pid in sitting.item_order:
        paper_item = papers[pid]
        version = paper_item.item_version
        item_type = version.item.type
        maximum += paper_item.points
        response = responses.get(pid)
        if response is None:
            response = Response(
                sitting_id=sitting.id, paper_item_id=pid, item_version_id=version.id, answer=None, client_seq=0
            )
            session.add(response)
            sitting.responses.append(response)
        response.max_score = paper_item.points
        if item_type.value in MACHINE_SCORABLE:
            settings = dict(version.settings or {})
            settings.setdefault("n_options", len(version.options or []))
            result = score_objective(
                item_type.value, version.key, response.answer, paper_item.points, rule=rule, settings=settings
            )
            response.score = result.score
            response.score_source = "rule"
            response.score_detail = {"explanation": result.explanation, "explanation_zh": result.explanation_zh}
            total += result.score
        elif rules.is_blank_answer(response.answer):
            response.score = 0.0
            response.score_source = "rule"
            response.score_detail = {"explanation": "no answer", "explanation_zh": "未作答"}
        elif response.score is not None and response.score_source in ("machine", "human"):
            total += response.score
        else:
            pending = True
    sitting.score = round(total, 4)
    sitting.max_score = maximum
    sitting.needs_marking = pending
    session.flush()


def expire_overdue(session: Session, now: datetime | None = None) -> int:
    """Submit every in-progress sitting whose deadline and grace have passed. Returns how many."""
    now = now or utcnow()
    sittings = session.scalars(
        select(Sitting)
        .where(Sitting.state == SittingState.IN_PROGRESS, Sitting.deadline_at < now)
        .options(selectinload(Sitting.responses))
    ).all()
    closed = 0
    for sitting in sittings:
        if close_if_overdue(session, sitting, now):
            closed += 1
    return closed


def results_visible(exam: Exam, now: datetime | None = None) -> bool:
    """Whether students may see their scores now, under the exam's policy."""
    now = now or utcnow()
    if exam.results_policy is ResultsPolicy.IMMEDIATELY:
        return True
    if exam.results_policy is ResultsPolicy.AFTER_CLOSE:
        return now >= exam.closes_at
    if exam.results_policy is ResultsPolicy.MANUAL:
        return exam.results_released
    return False


def sitting_result(sitting: Sitting, now: datetime | None = None) -> dict[str, Any]:
    """A sitting's outcome for its student: scores only when the exam's policy allows, never the keys."""
    visible = sitting.state is SittingState.SUBMITTED and results_visible(sitting.exam, now)
    responses = {r.paper_item_id: r for r in sitting.responses}
    items = []
    if visible:
        for number, pid in enumerate(sitting.item_order, start=1):
            response = responses.get(pid)
            items.append(
                {
                    "number": number,
                    "answered": response is not None and not rules.is_blank_answer(response.answer),
                    "score": response.score if response else None,
                    "max_score": response.max_score if response else None,
                    "pending": response is not None and response.score is None,
                }
            )
    return {
        "sitting_id": sitting.id,
        "state": sitting.state.value,
        "submitted_at": sitting.submitted_at,
        "submitted_by": sitting.submitted_by,
        "visible": visible,
        "score": sitting.score if visible else None,
        "max_score": sitting.max_score if visible else None,
        "needs_marking": sitting.needs_marking,
        "items": items,
    }
