"""Report benchmark: 1,000 student PDF reports (Chinese, with charts) into one ZIP, against the 60 s limit; and
rule scoring of 100,000 objective responses against the 2 s limit.

    .venv/bin/python bench/reports_bench.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading.objective import score_objective  # noqa: E402
from grading.reports import ItemResult, StudentReport, register_font, reports_zip  # noqa: E402


def students(n: int) -> list[StudentReport]:
    """Realistic reports: 25 items, 3 sections, 6 knowledge points, IRT ability."""
    rng = np.random.default_rng(1)
    names = ["张伟", "王芳", "李娜", "刘洋", "陈静", "Emily Chen", "Jack Wang"]
    kps = ["函数 Functions", "三角 Trigonometry", "概率 Probability", "数列 Sequences", "几何 Geometry", "向量 Vectors"]
    out = []
    for i in range(n):
        scores = rng.integers(0, 5, 25)
        out.append(StudentReport(
            exam_title="期中数学测验 Midterm", student_name=names[i % len(names)], student_id=f"s{i:05d}",
            class_name="高一(1)班", total=float(scores.sum()), max_total=100.0, percentile=float(rng.uniform(0, 100)),
            theta=float(rng.normal()), theta_se=0.3,
            sections=[("选择题", float(scores[:10].sum()), 40.0), ("填空题", float(scores[10:18].sum()), 32.0),
                      ("解答题", float(scores[18:].sum()), 28.0)],
            mastery=[(k, float(rng.uniform(0.2, 1))) for k in kps],
            items=[ItemResult(j + 1, float(s), 4.0, kps[j % 6]) for j, s in enumerate(scores)], locale="zh_CN",
        ))
    return out


def main() -> None:
    """Print both figures."""
    register_font()
    reports = students(1000)
    start = time.perf_counter()
    data = reports_zip(reports, workers=2)
    seconds = time.perf_counter() - start
    print(f"1,000 student PDF reports -> ZIP ({len(data) / 1e6:.1f} MB): {seconds:.1f} s (limit 60 s, "
          f"{60 / seconds:.1f}x under)")

    rng = np.random.default_rng(2)
    kinds = [
        ("single_choice", "B", lambda: str(rng.choice(list("ABCD")))),
        ("multiple_choice", ["A", "C"], lambda: sorted(rng.choice(list("ABCD"), rng.integers(1, 4), replace=False))),
        ("true_false", True, lambda: bool(rng.integers(0, 2))),
        ("fill_blank", [{"accepted": ["北京", "Beijing"]}, {"accepted": ["0.5", "1/2"]}],
         lambda: [str(rng.choice(["北京", "beijing ", "上海"])), str(rng.choice(["50%", "0.5", "2"]))]),
    ]
    work = [(kind, key, make()) for kind, key, make in (kinds[int(k)] for k in rng.integers(0, 4, 100_000))]
    start = time.perf_counter()
    for kind, key, answer in work:
        score_objective(kind, key, answer, 2.0, rule="cn_partial", settings={"n_options": 4})
    seconds = time.perf_counter() - start
    print(f"100,000 objective responses scored (mixed single/multiple/true-false/fill-blank): {seconds:.2f} s "
          f"(limit 2 s)")


if __name__ == "__main__":
    main()
