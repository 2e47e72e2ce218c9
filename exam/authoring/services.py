"""Building an exam: settings, paper, roster, accommodations, staff, publishing, results and their export."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam.auth.access import can_access_bank
from exam.auth.models import Role, User
from exam.delivery.models import Candidate, Exam, ExamStaff, PaperItem, ResultsPolicy, Sitting
from exam.delivery.services import freeze_exam
from exam.tabular import read_rows, require_columns
from exam.validation import Problem, ValidationFailed
from grading.objective import MULTIPLE_CHOICE_RULES
from itembank.models import Item

MAX_DURATION_MINUTES = 24 * 60
MAX_EXTRA_MINUTES = 24 * 60


@dataclass
class ExamSettings:
    """What an examiner sets on an exam (the paper and roster are set separately)."""

    title: str
    opens_at: datetime
    closes_at: datetime
    duration_minutes: int
    shuffle_items: bool = False
    shuffle_options: bool = False
    multiple_choice_rule: str = "all_or_nothing"
    results_policy: str = ResultsPolicy.IMMEDIATELY.value
    description: str | None = None
    proctored: bool = False


def settings_problems(s: ExamSettings) -> list[Problem]:
    """Everything wrong with the settings (empty when acceptable)."""
    problems = []
    if not s.title.strip() or len(s.title) > 200:
        problems.append(Problem("title", "required, at most 200 characters", value=s.title))
    if s.closes_at <= s.opens_at:
        problems.append(Problem("closes_at", "must be after the opening time", value=s.closes_at.isoformat()))
    if not 1 <= s.duration_minutes <= MAX_DURATION_MINUTES:
        problems.append(Problem("duration_minutes", f"between 1 and {MAX_DURATION_MINUTES}", value=s.duration_minutes))
    if s.multiple_choice_rule not in MULTIPLE_CHOICE_RULES:
        problems.append(
            Problem("multiple_choice_rule", f"one of {', '.join(MULTIPLE_CHOICE_RULES)}", value=s.multiple_choice_rule)
        )
    if s.results_policy not in {p.value for p in ResultsPolicy}:
        problems.append(Problem("results_policy", "unknown policy", value=s.results_policy))
    return problems


def create_exam(session: Session, owner: User, settings: ExamSettings) -> Exam:
    """Create an exam owned by `owner`; nothing is stored when a setting is wrong."""
    problems = settings_problems(settings)
    if problems:
        raise ValidationFailed.of("The exam cannot be saved.", problems)
    exam = Exam(owner_id=owner.id, **_fields(settings))
    session.add(exam)
    session.flush()
    return exam


def update_exam(session: Session, exam: Exam, settings: ExamSettings) -> Exam:
    """Change settings. Once published, only the closing time (later), description and results policy change."""
    problems = settings_problems(settings)
    if exam.frozen_at is not None:
        frozen = {
            "opens_at": settings.opens_at != exam.opens_at,
            "duration_minutes": settings.duration_minutes != exam.duration_minutes,
            "shuffle_items": settings.shuffle_items != exam.shuffle_items,
            "shuffle_options": settings.shuffle_options != exam.shuffle_options,
            "multiple_choice_rule": settings.multiple_choice_rule != exam.multiple_choice_rule,
        }
        problems += [
            Problem(name, "cannot change after the exam is published") for name, changed in frozen.items() if changed
        ]
        if settings.closes_at < exam.closes_at:
            problems.append(
                Problem("closes_at", "can only be extended after publishing", value=settings.closes_at.isoformat())
            )
    if problems:
        raise ValidationFailed.of("The exam cannot be saved.", problems)
    for name, value in _fields(settings).items():
        setattr(exam, name, value)
    session.flush()
    return exam


def _fields(s: ExamSettings) -> dict[str, Any]:
    return {
        "title": s.title.strip(),
        "description": s.description,
        "opens_at": s.opens_at,
        "closes_at": s.closes_at,
        "duration_minutes": s.duration_minutes,
        "shuffle_items": s.shuffle_items,
        "shuffle_options": s.shuffle_options,
        "multiple_choice_rule": s.multiple_choice_rule,
        "results_policy": ResultsPolicy(s.results_policy),
        "proctored": s.proctored,
    }


def _require_draft(exam: Exam, what: str) -> None:
    if exam.frozen_at is not None:
        raise ValidationFailed.of(
            "The exam is published; its paper is frozen.", [Problem(what, "cannot change after publishing")]
        )


def add_items(session: Session, exam: Exam, user: User, item_ids: list[int], section: str | None = None) -> int:
    """Append items (their current versions) to the paper of form 1. Returns how many were added."""
    _require_draft(exam, "paper")
    present = {p.item_version.item_id for p in exam.paper_items}
    problems = []
    items = []
    for item_id in item_ids:
        item = session.get(Item, item_id)
        if item is None or not can_access_bank(user, item.bank):
            problems.append(Problem("item", "no such item in your banks", value=item_id))
        elif item.current_version is None or item.status != "active":
            problems.append(Problem("item", "the item is retired or has no content", value=item_id))
        elif item.id not in present:
            items.append(item)
            present.add(item.id)
    if problems:
        raise ValidationFailed.of("Some items cannot be added.", problems)
    position = max((p.position for p in exam.paper_items if p.form_no == 1), default=-1)
    for item in items:
        position += 1
        version = item.current_version
        assert version is not None
        exam.paper_items.append(
            PaperItem(form_no=1, position=position, item_version_id=version.id, points=version.points, section=section)
        )
    session.flush()
    return len(items)


def remove_paper_item(session: Session, exam: Exam, paper_item_id: int) -> None:
    """Take an item off the draft paper and close the gap in the numbering."""
    _require_draft(exam, "paper")
    target = next((p for p in exam.paper_items if p.id == paper_item_id), None)
    if target is None:
        raise ValidationFailed.of(
            "No such item on this paper.", [Problem("paper_item", "not found", value=paper_item_id)]
        )
    exam.paper_items.remove(target)
    session.flush()
    for position, paper_item in enumerate(p for p in exam.paper_items if p.form_no == target.form_no):
        paper_item.position = position
    session.flush()


def set_points(session: Session, exam: Exam, paper_item_id: int, points: float) -> None:
    """Change how many points an item carries on this paper (the item's default is untouched)."""
    _require_draft(exam, "paper")
    target = next((p for p in exam.paper_items if p.id == paper_item_id), None)
    if target is None or not 0 < points <= 1000:
        raise ValidationFailed.of("The points cannot be set.", [Problem("points", "between 0 and 1000", value=points)])
    target.points = points
    session.flush()


def add_to_roster(
    session: Session, exam: Exam, entries: list[tuple[int, str, int]]
) -> tuple[int, list[dict[str, Any]]]:
    """Put students on the roster: entries are (row, username, extra_minutes). All or nothing.

    Returns (added, problems); students already on the roster keep their entry and get their extra time updated.
    """
    problems = []
    resolved = []
    for row, username, extra in entries:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            problems.append(Problem("username", "no such user", row=row, value=username))
        elif user.role is not Role.STUDENT:
            problems.append(Problem("username", "is not a student account", row=row, value=username))
        elif not 0 <= extra <= MAX_EXTRA_MINUTES:
            problems.append(Problem("extra_minutes", f"between 0 and {MAX_EXTRA_MINUTES}", row=row, value=extra))
        else:
            resolved.append((user, extra))
    if problems:
        raise ValidationFailed.of("The roster was not changed.", problems)
    existing = {c.user_id: c for c in exam.candidates}
    added = 0
    for user, extra in resolved:
        if user.id in existing:
            existing[user.id].extra_minutes = extra
        else:
            candidate = Candidate(user_id=user.id, extra_minutes=extra)
            exam.candidates.append(candidate)
            existing[user.id] = candidate
            added += 1
    session.flush()
    return added, []


def parse_roster_text(text: str) -> list[tuple[int, str, int]]:
    """One student per line: `username` or `username, extra minutes`."""
    entries = []
    problems = []
    for row, line in enumerate(text.splitlines(), start=1):
        parts = [p.strip() for p in line.replace("，", ",").split(",")]
        if not parts[0]:
            continue
        extra = 0
        if len(parts) > 1 and parts[1]:
            if not parts[1].isdigit():
                problems.append(Problem("extra_minutes", "a whole number of minutes", row=row, value=parts[1]))
                continue
            extra = int(parts[1])
        entries.append((row, parts[0], extra))
    if problems:
        raise ValidationFailed.of("The roster was not changed.", problems)
    return entries


def parse_roster_file(filename: str, data: bytes) -> list[tuple[int, str, int]]:
    """A CSV/XLSX roster with a `username` column and an optional `extra_minutes` column."""
    rows = read_rows(filename, data)
    require_columns(filename, rows, ["username"])
    entries = []
    problems = []
    for row_number, row in enumerate(rows, start=2):
        extra_text = row.get("extra_minutes", "") or "0"
        try:
            extra = int(float(extra_text))
        except ValueError:
            problems.append(Problem("extra_minutes", "a whole number of minutes", row=row_number, value=extra_text))
            continue
        entries.append((row_number, row["username"], extra))
    if problems:
        raise ValidationFailed.of("The roster was not changed.", problems)
    return entries


def remove_from_roster(session: Session, exam: Exam, user_id: int) -> None:
    """Take a student off the roster unless they have already started."""
    started = session.scalar(select(Sitting.id).where(Sitting.exam_id == exam.id, Sitting.user_id == user_id))
    if started is not None:
        raise ValidationFailed.of(
            "The student has started this exam.", [Problem("candidate", "has a sitting", value=user_id)]
        )
    exam.candidates[:] = [c for c in exam.candidates if c.user_id != user_id]
    session.flush()


def set_staff(session: Session, exam: Exam, username: str, role: str) -> None:
    """Give a staff account a role on this exam (co-examiner, proctor or marker)."""
    allowed = {"examiner": Role.EXAMINER, "proctor": Role.PROCTOR, "marker": Role.MARKER}
    user = session.scalar(select(User).where(User.username == username))
    problems = []
    if role not in allowed:
        problems.append(Problem("role", "examiner, proctor or marker", value=role))
    elif user is None:
        problems.append(Problem("username", "no such user", value=username))
    elif not user.has_role(allowed[role]):
        problems.append(Problem("username", f"the account cannot act as {role}", value=username))
    if problems:
        raise ValidationFailed.of("The staff member was not added.", problems)
    assert user is not None
    if not any(s.user_id == user.id and s.role == role for s in exam.staff):
        exam.staff.append(ExamStaff(user_id=user.id, role=role))
    session.flush()


def publish(session: Session, exam: Exam) -> None:
    """Freeze the paper and make the exam available to its roster during its window."""
    problems = []
    if not exam.paper_items:
        problems.append(Problem("paper", "add at least one item"))
    if not exam.candidates:
        problems.append(Problem("roster", "add at least one student"))
    if problems:
        raise ValidationFailed.of("The exam cannot be published yet.", problems)
    freeze_exam(session, exam)


def release_results(session: Session, exam: Exam) -> None:
    """Show results to students now (exams whose policy is manual release)."""
    exam.results_released = True
    session.flush()


def results_table(session: Session, exam: Exam) -> tuple[list[str], list[list[Any]]]:
    """One row per roster student: identity, state, times, total and per-question scores (form 1 numbering)."""
    paper = [p for p in exam.paper_items if p.form_no == 1]
    header = ["username", "name", "class", "state", "started_at", "submitted_at", "score", "max_score"]
    header += [f"Q{p.position + 1}" for p in paper]
    sittings = {s.user_id: s for s in session.scalars(select(Sitting).where(Sitting.exam_id == exam.id)).all()}
    outcomes: dict[int, str] = {}
    if exam.proctored:
        from proctor.models import ProctorSession

        header.append("proctoring")
        for record in session.scalars(
            select(ProctorSession).where(ProctorSession.sitting_id.in_([s.id for s in sittings.values()]))
        ):
            outcomes[record.sitting_id] = record.outcome or ("review pending" if record.risk > 0 else "no flags")
    rows = []
    for candidate in sorted(exam.candidates, key=lambda c: c.user.username):
        sitting = sittings.get(candidate.user_id)
        scores = {r.paper_item.position: r.score for r in sitting.responses} if sitting else {}
        rows.append(
            [
                candidate.user.username,
                candidate.user.display_name,
                candidate.user.class_name or "",
                sitting.state.value if sitting else "not_started",
                sitting.started_at.isoformat(timespec="seconds") if sitting else "",
                sitting.submitted_at.isoformat(timespec="seconds") if sitting and sitting.submitted_at else "",
                sitting.score if sitting else None,
                sitting.max_score if sitting else None,
                *[scores.get(p.position) for p in paper],
                *([outcomes.get(sitting.id, "") if sitting else ""] if exam.proctored else []),
            ]
        )
    return header, rows


def export_results(session: Session, exam: Exam, fmt: str) -> bytes:
    """The results table as CSV (UTF-8 with BOM, so Excel shows Chinese names) or XLSX."""
    header, rows = results_table(session, exam)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        return buffer.getvalue().encode("utf-8-sig")
    if fmt == "xlsx":
        book = Workbook()
        sheet = book.active
        sheet.title = "results"
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    raise ValidationFailed.of("Unknown export format.", [Problem("format", "csv or xlsx", value=fmt)])
