"""Builds report dataclasses from stored results (scores, sections, knowledge points, IRT ability, proctoring)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam.delivery.models import Exam, Sitting, SittingState
from grading.reports import ExamReport, ItemAnalysisRow, ItemResult, StudentReport
from itembank.models import Item


def _submitted(session: Session, exam: Exam) -> list[Sitting]:
    return list(
        session.scalars(
            select(Sitting)
            .where(Sitting.exam_id == exam.id, Sitting.state == SittingState.SUBMITTED)
            .order_by(Sitting.id)
        ).all()
    )


def _kp_name(item: Item, locale: str) -> str:
    if not item.knowledge_points:
        return ""
    kp = item.knowledge_points[0]
    return kp.name_zh if locale.startswith("zh") else kp.name_en


def _ability(sitting: Sitting) -> tuple[float | None, float | None]:
    """EAP θ and its SD from the bank's accepted 0/1-model parameters of the items this student saw."""
    from itembank.irt.models import ItemParams
    from itembank.irt.scoring import eap

    rows = [(r, r.item_version.item) for r in sitting.responses]
    rows = [
        (r, i)
        for r, i in rows
        if i.irt_model in ("rasch", "1pl", "2pl", "3pl") and i.irt_b is not None and r.score is not None and r.max_score
    ]
    if len(rows) < 3:
        return None, None
    params = ItemParams(
        "3pl" if any(i.irt_model == "3pl" for _, i in rows) else "2pl",
        np.array([i.irt_a or 1.0 for _, i in rows]),
        np.array([i.irt_b for _, i in rows]),
        np.array([i.irt_c or 0.0 for _, i in rows]),
    )
    x = np.array([[1.0 if r.score >= r.max_score - 1e-9 else 0.0 for r, _ in rows]])
    estimate = eap(params, x)
    return float(estimate.theta[0]), float(estimate.se[0])


def student_report(
    session: Session, sitting: Sitting, locale: str = "zh_CN", totals: list[float] | None = None
) -> StudentReport:
    """One student's report: totals, percentile in the exam, ability, sections, mastery, items, proctoring."""
    exam = sitting.exam
    if totals is None:
        totals = [s.score or 0.0 for s in _submitted(session, exam)]
    total = sitting.score or 0.0
    percentile = 100.0 * float(np.mean(np.asarray(totals) <= total)) if totals else None
    order = {pid: n for n, pid in enumerate(sitting.item_order, start=1)}
    sections: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    mastery: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    items = []
    for response in sorted(sitting.responses, key=lambda r: order.get(r.paper_item_id, 0)):
        item = response.item_version.item
        maximum = response.max_score or response.paper_item.points
        name = response.paper_item.section or ""
        sections[name][0] += response.score or 0.0
        sections[name][1] += maximum
        kp = _kp_name(item, locale)
        if kp and response.score is not None:
            mastery[kp][0] += response.score
            mastery[kp][1] += maximum
        items.append(ItemResult(order.get(response.paper_item_id, 0), response.score, maximum, kp))
    theta, theta_se = _ability(sitting)
    proctoring = None
    if exam.proctored:
        from proctor.models import ProctorSession

        record = session.get(ProctorSession, sitting.id)
        proctoring = (record.outcome or "review pending") if record and record.risk > 0 else "no flags"
    return StudentReport(
        exam_title=exam.title,
        student_name=sitting.user.display_name,
        student_id=sitting.user.username,
        class_name=sitting.user.class_name or "",
        total=total,
        max_total=sitting.max_score or 0.0,
        percentile=percentile,
        theta=theta,
        theta_se=theta_se,
        sections=[(name or "—", s, m) for name, (s, m) in sections.items()] if len(sections) > 1 else [],
        mastery=[(kp, s / m) for kp, (s, m) in sorted(mastery.items()) if m > 0],
        items=items,
        proctoring=proctoring,
        locale=locale,
    )


def exam_report(session: Session, exam: Exam, locale: str = "zh_CN") -> ExamReport:
    """The exam's report: distribution, reliability, item analysis and knowledge-point mastery by class."""
    from itembank.calibration_service import response_matrix
    from itembank.irt.ctt import item_statistics

    sittings = _submitted(session, exam)
    matrix = response_matrix(session, exam, polytomous=True)
    rows: list[ItemAnalysisRow] = []
    reliability = None
    if matrix.scores.size and matrix.scores.shape[0] >= 2:
        stats = item_statistics(matrix.scores, matrix.max_points)
        reliability = None if np.isnan(stats.alpha) else float(stats.alpha)
        for j in range(len(matrix.item_ids)):
            pbis = stats.point_biserial[j]
            note = ""
            if not np.isnan(pbis) and pbis < 0:
                note = "负区分度，请检查答案" if locale.startswith("zh") else "negative discrimination: check the key"
            rows.append(ItemAnalysisRow(j + 1, _clean(stats.p_value[j]), _clean(pbis), note))
    by_class: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    for sitting in sittings:
        klass = sitting.user.class_name or "—"
        for response in sitting.responses:
            kp = _kp_name(response.item_version.item, locale)
            if kp and response.score is not None:
                by_class[klass][kp][0] += response.score
                by_class[klass][kp][1] += response.max_score or 0.0
    mastery = {k: [(kp, s / m) for kp, (s, m) in sorted(v.items()) if m > 0] for k, v in by_class.items()}
    max_total = max((s.max_score or 0.0 for s in sittings), default=0.0)
    return ExamReport(exam.title, [s.score or 0.0 for s in sittings], max_total, reliability, rows, mastery, locale)


def _clean(value: float) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def bulk_student_reports(session: Session, exam: Exam, locale: str, out: Path, progress: object = None) -> int:
    """Every submitted student's PDF in one ZIP at `out`; returns how many."""
    from grading.reports import reports_zip

    sittings = _submitted(session, exam)
    totals = [s.score or 0.0 for s in sittings]
    reports = [student_report(session, s, locale, totals) for s in sittings]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(reports_zip(reports, progress if callable(progress) else None))
    return len(reports)
