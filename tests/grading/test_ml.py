"""The ML grader on small seeded synthetic answer sets in English and Chinese, and its file-mode CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from grading.cli import grade
from grading.ml import (
    GraderBundle,
    GraderError,
    coverage_curve,
    drift,
    fit_bundle,
    fit_item,
    qwk,
    reference_similarity,
    threshold_for_coverage,
)

EN = {
    2: [
        "plants use light energy to make glucose from carbon dioxide and water",
        "photosynthesis turns sunlight, water and carbon dioxide into sugar and oxygen",
        "chlorophyll captures light to make sugar and releases oxygen",
    ],
    1: ["plants make food from sunlight", "it uses light", "leaves make sugar"],
    0: ["plants grow in soil", "I don't know", "animals eat plants"],
}
ZH = {
    2: ["植物利用光能把二氧化碳和水转化为葡萄糖并释放氧气", "叶绿体吸收光能合成有机物同时放出氧气"],
    1: ["植物利用阳光制造养料", "光合作用需要光"],
    0: ["植物长在土里", "不知道"],
}


def _answers(bank: dict[int, list[str]], n: int, seed: int) -> tuple[list[str], list[int]]:
    rng = np.random.default_rng(seed)
    texts, scores = [], []
    fillers = ["", " really", " maybe", " so", "。", " indeed"]
    for _ in range(n):
        score = int(rng.integers(0, 3))
        base = bank[score][int(rng.integers(len(bank[score])))]
        texts.append(base + fillers[int(rng.integers(len(fillers)))])
        scores.append(score)
    return texts, scores


@pytest.mark.parametrize("bank", [EN, ZH], ids=["en", "zh"])
def test_grader_learns_and_knows_when_it_is_sure(bank: dict[int, list[str]]) -> None:
    texts, scores = _answers(bank, 120, seed=1)
    grader = fit_item("q1", texts, scores)
    test_texts, test_scores = _answers(bank, 60, seed=2)
    predicted, confidence = grader.predict(test_texts)
    assert qwk(predicted, np.array(test_scores)) > 0.9 and grader.cv_qwk > 0.8
    assert confidence.min() >= 0 and confidence.max() <= 1
    blank, sure = grader.predict(["   "])
    assert blank[0] == 0 and sure[0] == 1.0


def test_coverage_threshold_and_drift() -> None:
    confidence = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.95])
    machine = np.array([1, 2, 0, 1, 2, 1])
    human = np.array([1, 2, 0, 2, 0, 1])
    threshold = threshold_for_coverage(confidence, 0.5)
    assert np.mean(confidence >= threshold) >= 0.5 and threshold == 0.8
    curve = coverage_curve(confidence, machine, human, steps=3)
    assert curve[0].coverage == 1.0 and curve[1].exact_agreement == 1.0
    assert drift(0.9, machine, human, min_n=3) is not None
    assert drift(0.9, machine, human) is None  # too few recent answers to judge


def test_reference_similarity_and_bad_training_data() -> None:
    scores, confidence = reference_similarity(["光合作用产生氧气"], ["光合作用产生氧气", "完全无关的回答"], 2)
    assert scores[0] == 2 and scores[1] == 0 and confidence.max() <= 0.5
    with pytest.raises(GraderError, match="at least 30"):
        fit_item("q9", ["a"] * 10, [0, 1] * 5)
    with pytest.raises(GraderError, match="every answer has score 1"):
        fit_item("q9", ["a"] * 40, [1] * 40)


def test_cli_fit_and_score(tmp_path: Path) -> None:
    texts, scores = _answers(EN, 80, seed=3)
    train = tmp_path / "train.csv"
    train.write_text("item_id,answer,score\n" + "".join(f'q1,"{t}",{s}\n' for t, s in zip(texts, scores, strict=True)))
    answers = tmp_path / "answers.csv"
    answers.write_text("item_id,answer\nq1,plants use light energy to make glucose\nq1,no idea\n")
    runner = CliRunner()
    fitted = runner.invoke(grade, ["fit", str(train), "--out", str(tmp_path / "m.joblib")])
    assert fitted.exit_code == 0, fitted.output
    assert "cross-validated QWK" in fitted.output
    scored = runner.invoke(
        grade,
        [
            "score",
            str(answers),
            "--model",
            str(tmp_path / "m.joblib"),
            "--out",
            str(tmp_path / "s.csv"),
            "--threshold",
            "0.5",
        ],
    )
    assert scored.exit_code == 0, scored.output
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "item_id,answer,score,confidence,accepted" and lines[1].split(",")[2] == "2"
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,answer,score\nq1,hello,two\n")
    failed = runner.invoke(grade, ["fit", str(bad), "--out", str(tmp_path / "x.joblib")])
    assert failed.exit_code == 1 and "row 2, column 'score': 'two'" in failed.output
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("item_id,answer\nq7,hi\n")
    refused = runner.invoke(
        grade, ["score", str(unknown), "--model", str(tmp_path / "m.joblib"), "--out", str(tmp_path / "y.csv")]
    )
    assert refused.exit_code == 1 and "no trained grader for item(s) q7" in refused.output
    notmodel = tmp_path / "not.joblib"
    notmodel.write_bytes(b"junk")
    with pytest.raises(GraderError, match="not a grader model file"):
        GraderBundle.load(str(notmodel))


def test_bundle_is_versioned() -> None:
    texts, scores = _answers(EN, 60, seed=4)
    bundle = fit_bundle([("q1", t, s) for t, s in zip(texts, scores, strict=True)])
    assert bundle.version and len(bundle.data_hash) == 16 and set(bundle.graders) == {"q1"}
