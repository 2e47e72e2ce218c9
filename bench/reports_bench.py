"""Report benchmark: 1,000 student PDF reports (Chinese, with charts) into one ZIP, against the 60 s limit.
(Objective scoring of 100,000 responses is timed in bench/grading_bench.py.)

    .venv/bin/python bench/reports_bench.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading.reports import ItemResult, StudentReport, register_font, reports_zip  # noqa: E402


def students(n: int) -> list[StudentReport]:
    """Realistic reports: 25 items, 3 sections, 6 knowledge points, IRT ability."""
    rng = np.random.default_rng(1)
    names = ["张伟", "王芳", "李娜", "刘洋", "陈静", "Emily Chen", "Jack Wang"]
    kps = ["函数 Functions", "三角 Trigonometry", "概率 Probability", "数列 Sequences", "几何 Geometry", "向量 Vectors"]
    out = []
    for i in range(n):
        scores = rng.integers(0, 5, 25)
        out.append(
            StudentReport(
                exam_title="期中数学测验 Midterm",
                student_name=names[i % len(names)],
                student_id=f"s{i:05d}",
                class_name="高一(1)班",
                total=float(scores.sum()),
                max_total=100.0,
                percentile=float(rng.uniform(0, 100)),
                theta=float(rng.normal()),
                theta_se=0.3,
                sections=[
                    ("选择题", float(scores[:10].sum()), 40.0),
                    ("填空题", float(scores[10:18].sum()), 32.0),
                    ("解答题", float(scores[18:].sum()), 28.0),
                ],
                mastery=[(k, float(rng.uniform(0.2, 1))) for k in kps],
                items=[ItemResult(j + 1, float(s), 4.0, kps[j % 6]) for j, s in enumerate(scores)],
                locale="zh_CN",
            )
        )
    return out


def main() -> None:
    """Print the figure and its ratio to the limit."""
    import os
    import tempfile
    import zipfile

    register_font()
    reports = students(1000)
    ticks: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "reports.zip"
        start = time.perf_counter()
        reports_zip(reports, lambda n, total: ticks.append(n), workers=2, out=out)
        seconds = time.perf_counter() - start
        size = out.stat().st_size
        count = len(zipfile.ZipFile(out).namelist())
    print(
        f"{count:,} student PDF reports (Chinese, 25 items, mastery chart) -> ZIP ({size / 1e6:.1f} MB) with 2 worker "
        f"processes on {os.cpu_count()} CPUs: {seconds:.1f} s (limit 60 s, {60 / seconds:.1f}x under); "
        f"{len(ticks)} progress calls"
    )


if __name__ == "__main__":
    main()
