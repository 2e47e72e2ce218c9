"""PDF reports: the CJK font is embedded, pages render, Chinese and English text is in them, bulk ZIP works."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from grading.reports import (
    ExamReport,
    ItemAnalysisRow,
    ItemResult,
    StudentReport,
    exam_report_pdf,
    reports_zip,
    student_report_pdf,
)

pytestmark = pytest.mark.skipif(not shutil.which("pdffonts"), reason="poppler-utils missing: `make test` installs it")


def _student(locale: str, sid: str = "s001") -> StudentReport:
    return StudentReport(
        exam_title="期中数学测验 Midterm",
        student_name="张伟 Zhang Wei",
        student_id=sid,
        class_name="高一(1)班",
        total=86.5,
        max_total=100,
        percentile=91,
        theta=1.12,
        theta_se=0.31,
        sections=[("选择题", 40, 45), ("解答题", 46.5, 55)],
        mastery=[("函数 Functions", 0.9), ("三角 Trigonometry", 0.55), ("概率 Probability", 0.75)],
        items=[ItemResult(1, 5, 5, "函数"), ItemResult(2, None, 10, "三角")],
        proctoring="no flags",
        locale=locale,
    )


def _check(pdf: bytes, tmp_path: Path, expected_text: str) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    line = next(row for row in fonts.splitlines() if "WenQuanYi" in row or "Noto" in row or "ExamCJK" in row)
    assert " yes " in line  # embedded
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert expected_text in text
    subprocess.run(
        ["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(path), str(tmp_path / "page")], check=True
    )
    page = next(tmp_path.glob("page*.png"))
    from PIL import Image

    image = Image.open(page).convert("L")
    assert image.getextrema()[0] < 100  # something dark (text) is drawn on the white page


@pytest.mark.parametrize(("locale", "label"), [("zh_CN", "成绩报告单"), ("en", "Score report")])
def test_student_report(tmp_path: Path, locale: str, label: str) -> None:
    pdf = student_report_pdf(_student(locale))
    _check(pdf, tmp_path, label)
    _check(pdf, tmp_path, "张伟")


def test_exam_report(tmp_path: Path) -> None:
    report = ExamReport(
        "期中数学测验",
        totals=[55, 61, 72, 80, 95, 88, 40],
        max_total=100,
        reliability=0.84,
        items=[ItemAnalysisRow(1, 0.82, 0.41), ItemAnalysisRow(2, 0.35, -0.05, "检查答案")],
        mastery_by_class={"高一(1)班": [("函数", 0.8)], "高一(2)班": [("函数", 0.6)]},
    )
    _check(exam_report_pdf(report), tmp_path, "考试分析报告")


def test_bulk_zip(tmp_path: Path) -> None:
    seen = []
    data = reports_zip(
        [_student("en", f"s{n:03d}") for n in range(3)], lambda n, total: seen.append((n, total)), workers=1
    )
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names == ["s000.pdf", "s001.pdf", "s002.pdf"] and seen[-1] == (3, 3)


def test_bulk_zip_to_a_file_in_two_processes_keeps_duplicate_ids(tmp_path: Path) -> None:
    reports = [_student("zh_CN", f"s{n % 20:03d}") for n in range(24)]  # 4 ids appear twice
    seen: list[tuple[int, int]] = []
    out = tmp_path / "all.zip"
    assert reports_zip(reports, lambda n, total: seen.append((n, total)), workers=2, out=out) == b""
    names = zipfile.ZipFile(out).namelist()
    assert len(names) == 24 and len(set(names)) == 24 and "s000-2.pdf" in names
    assert [n for n, _ in seen] == list(range(1, 25))
    _check(zipfile.ZipFile(out).read("s003.pdf"), tmp_path, "成绩报告单")


def test_report_from_json_and_cli(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from grading.cli import report
    from grading.reports import ReportError, student_report_from_dict

    data = {
        "exam_title": "期末语文 Final",
        "student_name": "李娜",
        "student_id": "20260001",
        "class_name": "初二(3)班",
        "total": 78,
        "max_total": 100,
        "percentile": 64.5,
        "sections": [["阅读", 30, 40], {"name": "作文", "score": 48, "max": 60}],
        "mastery": [{"name": "文言文", "mastery": 0.4}, ["修辞", 0.8]],
        "items": [
            {"number": 1, "score": 3, "max_score": 4, "knowledge_point": "修辞"},
            {"number": 2, "score": None, "max_score": 6},
        ],
        "locale": "en",
    }
    parsed = student_report_from_dict(data)
    assert parsed.sections[1] == ("作文", 48.0, 60.0) and parsed.items[1].score is None
    path = tmp_path / "scores.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(report, ["student", str(path), "--out", str(tmp_path / "x.pdf"), "--locale", "zh_CN"])
    assert result.exit_code == 0, result.output
    _check((tmp_path / "x.pdf").read_bytes(), tmp_path, "李娜")
    _check((tmp_path / "x.pdf").read_bytes(), tmp_path, "成绩报告单")  # --locale overrode the JSON's "en"
    for broken, message in [
        ({**data, "total": "78"}, "field 'total' must be a number"),
        ({**data, "sections": [["阅读", 30]]}, r"sections\[1\]: expected 3 values"),
        ({**data, "items": [{"number": 1, "score": 2}]}, r"items\[1\]: missing field 'max_score'"),
        ({**data, "grade": 3}, "unknown field"),
        ({**data, "locale": "fr"}, "'fr' is not one of"),
    ]:
        with pytest.raises(ReportError, match=message):
            student_report_from_dict(broken)
    path.write_text(json.dumps({**data, "student_name": ""}), encoding="utf-8")
    result = CliRunner().invoke(report, ["student", str(path), "--out", str(tmp_path / "y.pdf")])
    assert result.exit_code == 1 and "missing field 'student_name'" in result.output


def test_missing_font_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from grading import reports

    monkeypatch.setattr(reports, "FONT_CANDIDATES", ("/nonexistent/font.ttc",))
    with pytest.raises(reports.ReportError, match="fonts-wqy-microhei"):
        reports.font_path()
