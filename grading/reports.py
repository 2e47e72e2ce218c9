"""Score reports as PDF (PURE: dataclasses in, PDF bytes out; ReportLab with an embedded CJK TrueType font).

The font is embedded (subset) in every PDF, so Chinese names and labels print correctly whatever fonts the
reader has. Labels come in Simplified Chinese and English.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT_NAME = "ExamCJK"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
)

LABELS = {
    "en": {
        "student_report": "Score report",
        "exam_report": "Exam report",
        "student": "Student",
        "class": "Class",
        "total": "Total",
        "percentile": "Percentile",
        "ability": "Ability (θ)",
        "section": "Section",
        "score": "Score",
        "item": "Question",
        "result": "Result",
        "mastery": "Knowledge-point mastery",
        "proctoring": "Proctoring",
        "distribution": "Score distribution",
        "statistics": "Statistics",
        "mean": "Mean",
        "sd": "SD",
        "median": "Median",
        "min": "Min",
        "max": "Max",
        "reliability": "Reliability (α)",
        "students": "Students",
        "item_analysis": "Item analysis",
        "p_value": "Difficulty (p)",
        "discrimination": "Point-biserial (r_pb)",
        "flag": "Flags",
        "kp": "Knowledge point",
        "points": "points",
        "not_marked": "being marked",
    },
    "zh_CN": {
        "student_report": "成绩报告单",
        "exam_report": "考试分析报告",
        "student": "学生",
        "class": "班级",
        "total": "总分",
        "percentile": "百分位",
        "ability": "能力值 (θ)",
        "section": "大题",
        "score": "得分",
        "item": "题号",
        "result": "结果",
        "mastery": "知识点掌握情况",
        "proctoring": "监考结论",
        "distribution": "分数分布",
        "statistics": "统计量",
        "mean": "平均分",
        "sd": "标准差",
        "median": "中位数",
        "min": "最低分",
        "max": "最高分",
        "reliability": "信度 (α)",
        "students": "人数",
        "item_analysis": "试题分析",
        "p_value": "难度 (p)",
        "discrimination": "区分度 (点二列相关)",
        "flag": "提示",
        "kp": "知识点",
        "points": "分",
        "not_marked": "评阅中",
    },
}


class ReportError(RuntimeError):
    """A report cannot be produced (for example no CJK font installed)."""


def font_path() -> str:
    """The first installed CJK TrueType font; a clear error names the package to install otherwise."""
    for candidate in FONT_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    raise ReportError(
        "no CJK TrueType font found (looked at " + ", ".join(FONT_CANDIDATES) + "): install the Debian/Ubuntu "
        "package fonts-wqy-microhei (or fonts-noto-cjk); `make run` installs it"
    )


def register_font() -> str:
    """Register the CJK font with ReportLab once per process; returns its name."""
    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        path = font_path()
        pdfmetrics.registerFont(
            TTFont(FONT_NAME, path, subfontIndex=0) if path.endswith(".ttc") else TTFont(FONT_NAME, path)
        )
    return FONT_NAME


@dataclass
class ItemResult:
    """One question's result on a student's report."""

    number: int
    score: float | None
    max_score: float
    knowledge_point: str = ""


@dataclass
class StudentReport:
    """Everything on one student's report."""

    exam_title: str
    student_name: str
    student_id: str
    class_name: str
    total: float
    max_total: float
    percentile: float | None = None
    theta: float | None = None
    theta_se: float | None = None
    sections: list[tuple[str, float, float]] = field(default_factory=list)  # name, score, max
    mastery: list[tuple[str, float]] = field(default_factory=list)  # knowledge point, 0..1
    items: list[ItemResult] = field(default_factory=list)
    proctoring: str | None = None
    locale: str = "zh_CN"


@dataclass
class ItemAnalysisRow:
    """One question's line in the exam report."""

    number: int
    p_value: float | None
    discrimination: float | None
    note: str = ""


@dataclass
class ExamReport:
    """Everything on an exam's report."""

    exam_title: str
    totals: list[float]
    max_total: float
    reliability: float | None = None
    items: list[ItemAnalysisRow] = field(default_factory=list)
    mastery_by_class: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    locale: str = "zh_CN"


def _number(data: dict[str, object], key: str, where: str, *, required: bool = True) -> float | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ReportError(f"{where}: missing field '{key}'")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportError(f"{where}: field '{key}' must be a number, got {value!r}")
    return float(value)


def _pairs(value: object, where: str, keys: tuple[str, ...]) -> list[tuple[object, ...]]:
    """Lists of [a, b, ...] or of objects with the given keys (both spellings are natural in JSON)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReportError(f"{where}: must be a list, got {type(value).__name__}")
    out = []
    for n, entry in enumerate(value, start=1):
        if isinstance(entry, dict):
            missing = [k for k in keys if k not in entry]
            if missing:
                raise ReportError(f"{where}[{n}]: missing field(s) {', '.join(missing)}")
            entry = [entry[k] for k in keys]
        if not isinstance(entry, list | tuple) or len(entry) != len(keys):
            raise ReportError(f"{where}[{n}]: expected {len(keys)} values ({', '.join(keys)}), got {entry!r}")
        for k, v in zip(keys[1:], entry[1:], strict=True):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ReportError(f"{where}[{n}]: '{k}' must be a number, got {v!r}")
        out.append((str(entry[0]), *(float(v) for v in entry[1:])))
    return out


def student_report_from_dict(data: object) -> StudentReport:
    """A StudentReport from parsed JSON (the fields of the dataclass); errors name the field at fault.

    `sections`: [[name, score, max], ...] or [{"name", "score", "max"}]; `mastery`: [[knowledge point, 0..1]] or
    [{"name", "mastery"}]; `items`: [{"number", "score" (null while being marked), "max_score",
    "knowledge_point"}].
    """
    if not isinstance(data, dict):
        raise ReportError("the report must be a JSON object with the StudentReport fields")
    known = set(StudentReport.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ReportError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for key in ("exam_title", "student_name", "student_id"):
        if not isinstance(data.get(key), str | int) or not str(data.get(key)).strip():
            raise ReportError(f"missing field '{key}'")
    locale = data.get("locale", "zh_CN")
    if locale not in LABELS:
        raise ReportError(f"field 'locale': {locale!r} is not one of {', '.join(LABELS)}")
    items = []
    raw_items = data.get("items") or []
    if not isinstance(raw_items, list):
        raise ReportError("field 'items' must be a list")
    for n, entry in enumerate(raw_items, start=1):
        if not isinstance(entry, dict):
            raise ReportError(f"items[{n}]: must be an object with number, score, max_score")
        where = f"items[{n}]"
        items.append(
            ItemResult(
                int(_number(entry, "number", where) or 0),
                _number(entry, "score", where, required=False),
                float(_number(entry, "max_score", where) or 0),
                str(entry.get("knowledge_point", "")),
            )
        )
    theta_se = _number(data, "theta_se", "report", required=False)
    return StudentReport(
        exam_title=str(data["exam_title"]),
        student_name=str(data["student_name"]),
        student_id=str(data["student_id"]),
        class_name=str(data.get("class_name", "")),
        total=float(_number(data, "total", "report") or 0),
        max_total=float(_number(data, "max_total", "report") or 0),
        percentile=_number(data, "percentile", "report", required=False),
        theta=_number(data, "theta", "report", required=False),
        theta_se=theta_se,
        sections=[
            (str(a), float(b), float(c))
            for a, b, c in _pairs(data.get("sections"), "sections", ("name", "score", "max"))
        ],
        mastery=[(str(a), float(b)) for a, b in _pairs(data.get("mastery"), "mastery", ("name", "mastery"))],
        items=items,
        proctoring=None if data.get("proctoring") is None else str(data["proctoring"]),
        locale=str(locale),
    )


def _styles() -> tuple[ParagraphStyle, ParagraphStyle, ParagraphStyle]:
    font = register_font()
    title = ParagraphStyle("title", fontName=font, fontSize=17, leading=22, spaceAfter=6)
    heading = ParagraphStyle("heading", fontName=font, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=13)
    return title, heading, body


def _table(rows: list[list[object]], widths: list[float] | None = None) -> Table:
    table = Table([[str(c) for c in row] for row in rows], colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT_NAME),
                ("FONTSIZE", (0, 0), (-1, -1), 8.5),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")),
                ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#c0c7ce")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


def _mastery_chart(mastery: list[tuple[str, float]], font: str) -> Drawing:
    height = 24 + 16 * len(mastery)
    drawing = Drawing(170 * mm, height)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 60 * mm, 10, 100 * mm, height - 20
    chart.data = [[round(100 * v, 1) for _, v in mastery]]
    chart.categoryAxis.categoryNames = [name[:24] for name, _ in mastery]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 8
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, 100, 20
    chart.valueAxis.labels.fontName = font
    chart.bars[0].fillColor = colors.HexColor("#2f81f7")
    drawing.add(chart)
    return drawing


def _fmt(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"


def student_report_pdf(report: StudentReport) -> bytes:
    """One student's report as PDF bytes."""
    title, heading, body = _styles()
    t = LABELS.get(report.locale, LABELS["en"])
    story: list[object] = [
        Paragraph(f"{t['student_report']} · {report.exam_title}", title),
        Paragraph(
            f"{t['student']}: {report.student_name} ({report.student_id}) · {t['class']}: {report.class_name}", body
        ),
        Spacer(1, 4),
    ]
    summary = [
        [t["total"], t["percentile"], t["ability"]],
        [
            f"{_fmt(report.total)} / {_fmt(report.max_total)}",
            "" if report.percentile is None else f"{report.percentile:.0f}",
            "" if report.theta is None else f"{report.theta:.2f} ± {report.theta_se or 0:.2f}",
        ],
    ]
    story.append(_table(summary, [55 * mm, 40 * mm, 60 * mm]))
    if report.sections:
        story.append(Paragraph(t["section"], heading))
        story.append(
            _table([[t["section"], t["score"]]] + [[name, f"{_fmt(s)} / {_fmt(m)}"] for name, s, m in report.sections])
        )
    if report.mastery:
        story.append(Paragraph(t["mastery"], heading))
        story.append(_mastery_chart(report.mastery, FONT_NAME))
    if report.items:
        story.append(Paragraph(t["result"], heading))
        rows: list[list[object]] = [[t["item"], t["score"], t["kp"]]]
        rows += [
            [
                i.number,
                t["not_marked"] if i.score is None else f"{_fmt(i.score)} / {_fmt(i.max_score)}",
                i.knowledge_point,
            ]
            for i in report.items
        ]
        story.append(_table(rows, [25 * mm, 35 * mm, 100 * mm]))
    if report.proctoring:
        story.append(Paragraph(f"{t['proctoring']}: {report.proctoring}", body))
    return _build(story, report.exam_title)


def exam_report_pdf(report: ExamReport) -> bytes:
    """An exam's report: distribution, statistics, item analysis and mastery by class."""
    import numpy as np

    title, heading, _body = _styles()
    t = LABELS.get(report.locale, LABELS["en"])
    totals = np.asarray(report.totals, float)
    story: list[object] = [Paragraph(f"{t['exam_report']} · {report.exam_title}", title)]
    if totals.size:
        stats = [
            [t["students"], t["mean"], t["sd"], t["median"], t["min"], t["max"], t["reliability"]],
            [
                totals.size,
                f"{totals.mean():.1f}",
                f"{totals.std(ddof=1) if totals.size > 1 else 0:.1f}",
                f"{np.median(totals):.1f}",
                f"{totals.min():.1f}",
                f"{totals.max():.1f}",
                "" if report.reliability is None else f"{report.reliability:.3f}",
            ],
        ]
        story += [Paragraph(t["statistics"], heading), _table(stats)]
        bins = np.linspace(0, max(report.max_total, 1), 11)
        counts, _ = np.histogram(totals, bins=bins)
        drawing = Drawing(170 * mm, 60 * mm)
        chart = VerticalBarChart()
        chart.x, chart.y, chart.width, chart.height = 15 * mm, 10 * mm, 150 * mm, 45 * mm
        chart.data = [counts.tolist()]
        # Whole-number ticks: these are head counts.
        chart.valueAxis.valueMin = 0
        chart.valueAxis.valueStep = max(1, int(np.ceil(counts.max() / 5)))
        chart.categoryAxis.categoryNames = [f"{bins[i]:.0f}-" for i in range(10)]
        chart.categoryAxis.labels.fontName = FONT_NAME
        chart.valueAxis.labels.fontName = FONT_NAME
        chart.bars[0].fillColor = colors.HexColor("#2f81f7")
        drawing.add(chart)
        story += [Paragraph(t["distribution"], heading), drawing]
    if report.items:
        rows: list[list[object]] = [[t["item"], t["p_value"], t["discrimination"], t["flag"]]]
        rows += [[i.number, _fmt(i.p_value, 2), _fmt(i.discrimination, 2), i.note] for i in report.items]
        story += [Paragraph(t["item_analysis"], heading), _table(rows, [18 * mm, 28 * mm, 42 * mm, 86 * mm])]
    for class_name, mastery in sorted(report.mastery_by_class.items()):
        story += [Paragraph(f"{t['mastery']} · {class_name}", heading), _mastery_chart(mastery, FONT_NAME)]
    return _build(story, report.exam_title)


def _build(story: list[object], subject: str) -> bytes:
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=subject,
        author="Smart Exam",
    )
    document.build(story)
    return buffer.getvalue()


def _render(report: StudentReport) -> tuple[str, bytes]:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in report.student_id)
    return f"{safe}.pdf", student_report_pdf(report)


def reports_zip(
    reports: Iterable[StudentReport],
    progress: Callable[[int, int], None] | None = None,
    *,
    workers: int = 2,
    out: str | Path | BinaryIO | None = None,
) -> bytes:
    """Every student's PDF in one ZIP, rendered by a small process pool (ReportLab is single-threaded).

    Returns the ZIP's bytes, or writes it to `out` (a path or a binary file) and returns b"" so that a large
    archive is not held in memory twice. `progress(done, total)` is called after each report.
    """
    reports = list(reports)
    if out is None:
        buffer = io.BytesIO()
        _write_zip(reports, buffer, progress, workers)
        return buffer.getvalue()
    if isinstance(out, str | Path):
        with open(out, "wb") as handle:
            _write_zip(reports, handle, progress, workers)
    else:
        _write_zip(reports, out, progress, workers)
    return b""


def _write_zip(
    reports: list[StudentReport], target: BinaryIO, progress: Callable[[int, int], None] | None, workers: int
) -> None:
    used: set[str] = set()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        if workers > 1 and len(reports) > 20:
            register_font()  # once here, so forked workers inherit the parsed font instead of each reading it
            with ProcessPoolExecutor(max_workers=workers) as pool:
                rendered: Iterable[tuple[str, bytes]] = pool.map(_render, reports, chunksize=16)
                _store(archive, rendered, used, progress, len(reports))
        else:
            _store(archive, map(_render, reports), used, progress, len(reports))


def _store(
    archive: zipfile.ZipFile,
    rendered: Iterable[tuple[str, bytes]],
    used: set[str],
    progress: Callable[[int, int], None] | None,
    total: int,
) -> None:
    for n, (name, pdf) in enumerate(rendered, start=1):
        # Two students with the same id (or ids that sanitise alike) must not overwrite each other's file.
        unique, k = name, 1
        while unique in used:
            k += 1
            unique = f"{name[:-4]}-{k}.pdf"
        used.add(unique)
        # PDF streams are already compressed: storing them again with deflate costs time and saves little.
        archive.writestr(unique, pdf, compress_type=zipfile.ZIP_STORED)
        if progress:
            progress(n, total)
