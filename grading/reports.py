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
        "discrimination": "Discrimination",
        "flag": "Note",
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
        "discrimination": "区分度",
        "flag": "备注",
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
    raise ReportError("no CJK TrueType font found: install Debian's fonts-wqy-microhei (make run does it)")


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
        chart.categoryAxis.categoryNames = [f"{bins[i]:.0f}-" for i in range(10)]
        chart.categoryAxis.labels.fontName = FONT_NAME
        chart.valueAxis.labels.fontName = FONT_NAME
        chart.bars[0].fillColor = colors.HexColor("#2f81f7")
        drawing.add(chart)
        story += [Paragraph(t["distribution"], heading), drawing]
    if report.items:
        rows: list[list[object]] = [[t["item"], t["p_value"], t["discrimination"], t["flag"]]]
        rows += [[i.number, _fmt(i.p_value, 2), _fmt(i.discrimination, 2), i.note] for i in report.items]
        story += [Paragraph(t["item_analysis"], heading), _table(rows, [20 * mm, 30 * mm, 30 * mm, 80 * mm])]
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
    reports: Iterable[StudentReport], progress: Callable[[int, int], None] | None = None, *, workers: int = 2
) -> bytes:
    """Every student's PDF in one ZIP, rendered by a small process pool (ReportLab is single-threaded)."""
    reports = list(reports)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if workers > 1 and len(reports) > 20:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for n, (name, pdf) in enumerate(pool.map(_render, reports, chunksize=16), start=1):
                    archive.writestr(name, pdf)
                    if progress:
                        progress(n, len(reports))
        else:
            for n, report in enumerate(reports, start=1):
                name, pdf = _render(report)
                archive.writestr(name, pdf)
                if progress:
                    progress(n, len(reports))
    return buffer.getvalue()
