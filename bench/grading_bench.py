"""ML grader benchmark on ASAP-SAS (../shared/data/asap-sas/): train on promptN-train, evaluate on promptN-val.

Per prompt: QWK of ours against Score1, of a TF-IDF + ridge baseline, and of the second human rater (the
ceiling); exact agreement on the answers auto-accepted at the confidence threshold that accepts 50 %.

    .venv/bin/python bench/grading_bench.py
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from grading.ml import fit_item, qwk, threshold_for_coverage  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "asap-sas"


def load(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Answers, Score1, Score2."""
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return ([r["EssayText"] for r in rows], np.array([int(r["Score1"]) for r in rows]),
            np.array([int(r["Score2"]) for r in rows]))


def main() -> None:
    """Print the per-prompt table and the means."""
    if not DATA.exists():
        print(f"{DATA} is not here: nothing to measure")
        return
    print(f"{'prompt':>6}{'ours':>8}{'baseline':>10}{'human':>8}{'exact@50%':>11}{'accepted':>10}{'fit s':>7}")
    rows = []
    for prompt in range(1, 11):
        train_x, train_y, _ = load(DATA / f"prompt{prompt}-train.csv")
        val_x, val_y, val_y2 = load(DATA / f"prompt{prompt}-val.csv")
        start = time.perf_counter()
        grader = fit_item(str(prompt), train_x, train_y)
        seconds = time.perf_counter() - start
        predicted, confidence = grader.predict(val_x)
        accepted = confidence >= threshold_for_coverage(confidence, 0.5)
        vectorizer = TfidfVectorizer().fit(train_x)
        baseline = np.clip(np.round(Ridge().fit(vectorizer.transform(train_x), train_y).predict(
            vectorizer.transform(val_x))), 0, train_y.max()).astype(int)
        row = (qwk(predicted, val_y), qwk(baseline, val_y), qwk(val_y2, val_y),
               float(np.mean(predicted[accepted] == val_y[accepted])), float(accepted.mean()))
        rows.append(row)
        print(f"{prompt:>6}{row[0]:>8.3f}{row[1]:>10.3f}{row[2]:>8.3f}{row[3]:>11.3f}{row[4]:>10.2f}{seconds:>7.1f}",
              flush=True)
    mean = np.mean(np.array(rows), axis=0)
    print(f"{'mean':>6}{mean[0]:>8.3f}{mean[1]:>10.3f}{mean[2]:>8.3f}{mean[3]:>11.3f}{mean[4]:>10.2f}")
    print(f"targets: mean QWK >= 0.75 ({'met' if mean[0] >= 0.75 else 'NOT met'}); exact agreement >= 0.95 on the "
          f"50 % auto-accepted ({'met' if mean[3] >= 0.95 else 'NOT met'})")


if __name__ == "__main__":
    main()
