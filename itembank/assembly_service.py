"""Assembly services for the web app: bank rows -> pure Bank, preview (stored on the exam), freeze into a paper."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from exam.delivery.models import Exam, PaperItem
from exam.jobs import Job, create_job
from exam.validation import Problem, ValidationFailed
from itembank.assembly.check import check_forms
from itembank.assembly.io import AssemblyInputError, parse_spec, result_to_json
from itembank.assembly.model import Bank, Item, Progress, Spec, relative_gap
from itembank.assembly.solver import ProgressFn, assemble, line_supply
from itembank.models import Item as ItemRow

SETTINGS_KEY = "assembly"
DEFAULT_SPEC = """forms: 2
length: 10
objective: maximin_info
thetas: [-1, 0, 1]
max_overlap: 0
constraints:
  - {attribute: type, value: single_choice, min: 4}
  - {attribute: level, value: "5", max: 3}
time_limit: 10
"""


def bank_from_db(session: Session, bank_id: int) -> tuple[Bank, dict[str, ItemRow]]:
    """Active items with a current version as a pure Bank (item_id = the row id as text), plus the rows."""
    rows = session.scalars(
        select(ItemRow)
        .where(ItemRow.bank_id == bank_id, ItemRow.status == "active", ItemRow.current_version_id.is_not(None))
        .options(selectinload(ItemRow.knowledge_points), selectinload(ItemRow.current_version))
        .order_by(ItemRow.id)
    ).all()
    items = []
    for r in rows:
        v = r.current_version
        attrs: dict[str, tuple[str, ...]] = {"level": (str(r.level),)}
        if r.knowledge_points:
            attrs["knowledge_point"] = tuple(kp.code for kp in r.knowledge_points)
        if r.cognitive_level:
            attrs["cognitive_level"] = (r.cognitive_level,)
        if r.tags:
            attrs["tag"] = tuple(str(t) for t in r.tags)
        calibrated = r.irt_a is not None and r.irt_b is not None and r.irt_model not in ("grm", "gpcm")
        items.append(
            Item(
                item_id=str(r.id),
                a=r.irt_a if calibrated else None,
                b=r.irt_b if calibrated else None,
                c=(r.irt_c or 0.0) if calibrated else 0.0,
                type=str(r.type.value if hasattr(r.type, "value") else r.type),
                points=float(v.points) if v else 1.0,
                seconds=float(v.seconds) if v else 0.0,
                attributes=attrs,
                uses=r.exposure_count or 0,
            )
        )
    return Bank(tuple(items)), {str(r.id): r for r in rows}


def parse_spec_text(text: str) -> tuple[Spec, dict[str, float]]:
    """SPEC YAML from the editor; every problem becomes a ValidationFailed naming the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationFailed.of(
            "The blueprint is not valid YAML.", [Problem("spec", str(exc).splitlines()[0])]
        ) from exc
    try:
        return parse_spec(data, "blueprint")
    except AssemblyInputError as exc:
        problems = [Problem(p.field, f"{p.where}: {p.reason}", value=p.value) for p in exc.problems]
        raise ValidationFailed.of("The blueprint has problems.", problems) from exc


def supply(session: Session, exam: Exam, text: str) -> list[dict[str, Any]]:
    """How many bank items fit each blueprint line (for the live editor)."""
    spec, _ = parse_spec_text(text)
    bank, _ = bank_from_db(session, _bank_id(exam))
    counts = line_supply(bank, spec)
    return [
        {"line": n, "label": c.label(), "min": c.min, "max": c.max, "on": c.on, "bank": counts[n - 1]}
        for n, c in enumerate(spec.constraints, start=1)
    ]


def _bank_id(exam: Exam) -> int:
    if exam.bank_id is None:
        raise ValidationFailed.of("This exam has no item bank.", [Problem("bank_id", "choose a bank for the exam")])
    return exam.bank_id


MAX_SECONDS = 60.0  # a web request for a preview never searches longer than this


def _check_assemblable(exam: Exam, text: str) -> tuple[Spec, dict[str, float]]:
    if exam.frozen_at is not None:
        raise ValidationFailed.of("The paper is frozen.", [Problem("exam", "a frozen paper cannot be reassembled")])
    parsed = parse_spec_text(text)
    _bank_id(exam)
    return parsed


def preview(
    session: Session,
    exam: Exam,
    text: str,
    *,
    time_limit: float | None = None,
    progress: ProgressFn | None = None,
    job_id: int | None = None,
) -> dict[str, Any]:
    """Assemble from the exam's bank and keep the result (and the blueprint, and the job that ran it) on the exam
    for review."""
    spec, options = _check_assemblable(exam, text)
    bank, _ = bank_from_db(session, _bank_id(exam))
    limit = min(options["time_limit"], MAX_SECONDS) if time_limit is None else time_limit
    result = assemble(bank, spec, time_limit=limit, gap=options["gap"], progress=progress)
    stored: dict[str, Any] = {"spec": text, "result": result_to_json(result)}
    if job_id is not None:
        stored["job_id"] = job_id
    exam.settings = {**(exam.settings or {}), SETTINGS_KEY: stored}  # reassigned so the JSON change is saved
    session.flush()
    return stored


def start_preview(session: Session, exam: Exam, text: str, user_id: int | None) -> Job:
    """Check the blueprint and record an assembly job for it (the caller commits, then dispatches the job).

    The blueprint is kept on the exam at once, so the editor shows what is being assembled while the search runs;
    the previous preview is replaced when the job finishes.
    """
    _spec, options = _check_assemblable(exam, text)
    limit = min(options["time_limit"], MAX_SECONDS)
    job = create_job("assembly", {"exam_id": exam.id, "seconds": limit}, user_id)
    exam.settings = {**(exam.settings or {}), SETTINGS_KEY: {"spec": text, "job_id": job.id}}
    session.flush()
    return job


def run_preview_job(
    session: Session, exam: Exam, job_id: int, report: Callable[[int, int, dict[str, Any]], None]
) -> dict[str, Any]:
    """The job's work: assemble the blueprint stored by `start_preview`, reporting the best paper so far.

    `report(seconds_done, seconds_total, detail)` receives the objective, proven bound and gap about once a second.
    """
    text = ((exam.settings or {}).get(SETTINGS_KEY) or {}).get("spec", "")
    _spec, options = _check_assemblable(exam, text)
    limit = min(options["time_limit"], MAX_SECONDS)
    last_report = -1.0

    def progress(p: Progress) -> None:
        nonlocal last_report
        if p.seconds - last_report < 1.0:
            return
        last_report = p.seconds
        objective = None if math.isnan(p.objective) else p.objective
        bound = None if math.isnan(p.bound) else p.bound
        gap = relative_gap(objective, bound) if objective is not None and bound is not None else None
        report(int(p.seconds), int(limit), {"stage": p.stage, "objective": objective, "bound": bound, "gap": gap})

    return preview(session, exam, text, time_limit=limit, progress=progress, job_id=job_id)


def use_forms(session: Session, exam: Exam) -> int:
    """Freeze the previewed forms into the exam's paper (one form number per form); returns the item count.

    The forms are checked again against the bank as it is now, since items may have changed since the preview.
    With several forms each student receives one, and item and option order are shuffled per student.
    """
    stored = (exam.settings or {}).get(SETTINGS_KEY)
    if exam.frozen_at is not None:
        raise ValidationFailed.of("The paper is frozen.", [Problem("exam", "a frozen paper cannot be replaced")])
    result = (stored or {}).get("result")
    if not result or result["status"] not in ("optimal", "feasible") or not result["forms"]:
        raise ValidationFailed.of("Nothing to use.", [Problem("forms", "assemble a preview with forms first")])
    spec, _ = parse_spec_text(stored["spec"])
    bank, rows = bank_from_db(session, _bank_id(exam))
    forms = [f["items"] for f in stored["result"]["forms"]]
    violations = check_forms(bank, spec, forms)
    if violations:
        problems = [Problem("forms", str(v.params.get("detail")), value=v.params.get("rule")) for v in violations]
        raise ValidationFailed.of("The bank changed; assemble again.", problems)
    for p in list(exam.paper_items):
        session.delete(p)
    session.flush()
    count = 0
    for form_no, ids in enumerate(forms, start=1):
        for pos, iid in enumerate(ids, start=1):
            row = rows[iid]
            session.add(
                PaperItem(
                    exam_id=exam.id,
                    form_no=form_no,
                    position=pos,
                    item_version_id=row.current_version_id,
                    points=float(row.current_version.points),
                )
            )
            count += 1
    if len(forms) > 1:
        exam.shuffle_items = True
        exam.shuffle_options = True
    session.flush()
    session.expire(exam, ["paper_items"])
    return count
