"""Machine grading of short answers and essays (PURE: scikit-learn + jieba, no Flask).

Per item, an ensemble of two views of the answer text:
- character n-grams (2-5, within word boundaries), which work for Chinese and English alike and forgive
  misspellings, plus word unigrams and bigrams (jieba tokens for Chinese, a word pattern for other scripts);
- a multinomial logistic regression (probabilities per score) and a ridge regression (a continuous score).
Their out-of-fold predictions on the training answers choose the cut points that turn the blended continuous
score into a whole score (maximising quadratic weighted kappa), and calibrate a confidence: the probability,
estimated out of fold, that the machine's score equals the human one. Only answers at or above the threshold an
examiner picks are auto-accepted; the rest go to people.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import StratifiedKFold

MODEL_FORMAT = "smart-exam-grader/1"
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?")


class GraderError(ValueError):
    """Training or scoring input that cannot be used; the message says which item or row."""


def tokens(text: str) -> list[str]:
    """Word tokens: jieba for text with Chinese characters, a word pattern otherwise (lower-cased)."""
    if CJK.search(text):
        import jieba

        return [t for t in (w.strip().lower() for w in jieba.lcut(text)) if t and not t.isspace()]
    return [w.lower() for w in WORD.findall(text)]


def normalise(text: str) -> str:
    """Unicode width and case folding, whitespace squeezed."""
    import unicodedata

    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text or "")).strip().lower()


def qwk(a: np.ndarray, b: np.ndarray) -> float:
    """Quadratic weighted kappa between two integer score vectors."""
    a, b = np.asarray(a, int), np.asarray(b, int)
    if len(set(a.tolist()) | set(b.tolist())) < 2:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(cohen_kappa_score(a, b, weights="quadratic"))


def agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Exact and adjacent (within one point) agreement."""
    a, b = np.asarray(a), np.asarray(b)
    if len(a) == 0:
        return float("nan"), float("nan")
    return float(np.mean(a == b)), float(np.mean(np.abs(a - b) <= 1))


def _apply_cuts(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.sort(cuts), values).astype(int)


def optimise_cuts(values: np.ndarray, truth: np.ndarray, max_score: int) -> np.ndarray:
    """Cut points on a continuous prediction that maximise QWK against the truth (coordinate search)."""
    cuts = np.arange(max_score) + 0.5
    best = qwk(_apply_cuts(values, cuts), truth)
    for _ in range(3):
        for k in range(max_score):
            lo = cuts[k - 1] if k > 0 else values.min() - 1
            hi = cuts[k + 1] if k + 1 < max_score else values.max() + 1
            for candidate in np.linspace(lo, hi, 41)[1:-1]:
                trial = cuts.copy()
                trial[k] = candidate
                score = qwk(_apply_cuts(values, trial), truth)
                if score > best + 1e-9:
                    best, cuts = score, trial
    return cuts


@dataclass
class ItemGrader:
    """A fitted grader for one item."""

    item_id: str
    max_score: int
    char_vectorizer: TfidfVectorizer
    word_vectorizer: TfidfVectorizer
    classifier: LogisticRegression
    regressor: Ridge
    cuts: np.ndarray
    calibrator: IsotonicRegression
    cv_qwk: float
    n_train: int
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    curve: list[CoveragePoint] = field(default_factory=list)  # out-of-fold coverage/agreement on training data

    def _features(self, texts: list[str]) -> csr_matrix:
        normalised = [normalise(t) for t in texts]
        lengths = np.array([[np.log1p(len(t)), np.log1p(len(tokens(t)))] for t in normalised])
        return hstack(
            [
                self.char_vectorizer.transform(normalised),
                self.word_vectorizer.transform(normalised),
                csr_matrix(lengths / 8.0),
            ]
        ).tocsr()

    def _continuous(self, x: csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        probs = self.classifier.predict_proba(x)
        expected = probs @ self.classes
        return 0.5 * expected + 0.5 * self.regressor.predict(x), probs

    def predict(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Whole scores and a calibrated confidence (estimated probability that a human gives the same score)."""
        if not texts:
            return np.zeros(0, int), np.zeros(0)
        blended, probs = self._continuous(self._features(texts))
        scores = np.clip(_apply_cuts(blended, self.cuts), 0, self.max_score)
        raw = _raw_confidence(blended, probs, self.classes, scores)
        confidence = self.calibrator.predict(raw)
        blank = np.array([not normalise(t) for t in texts])
        scores[blank] = 0  # an empty answer scores nothing, with certainty
        confidence[blank] = 1.0
        return scores, confidence


def _raw_confidence(blended: np.ndarray, probs: np.ndarray, classes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The classifier's probability of the chosen score, damped when the blend sits near a cut point."""
    index = {int(c): i for i, c in enumerate(classes)}
    chosen = np.array([probs[i, index[s]] if s in index else 0.0 for i, s in enumerate(scores)])
    distance = np.abs(blended - np.round(blended))
    return chosen * (1 - distance)


def _vectorizers(min_df: int) -> tuple[TfidfVectorizer, TfidfVectorizer]:
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=min_df, max_features=60_000
    )
    word = TfidfVectorizer(
        tokenizer=tokens, token_pattern=None, lowercase=False, ngram_range=(1, 2), sublinear_tf=True, min_df=min_df
    )
    return char, word


def _fit_models(x: csr_matrix, y: np.ndarray) -> tuple[LogisticRegression, Ridge]:
    classifier = LogisticRegression(C=8.0, max_iter=3000)
    classifier.fit(x, y)
    regressor = Ridge(alpha=1.5)
    regressor.fit(x, y)
    return classifier, regressor


def fit_item(
    item_id: str, texts: list[str], scores: list[int] | np.ndarray, *, folds: int = 5, seed: int = 0
) -> ItemGrader:
    """Train one item's grader from human-scored answers (at least 30, with at least two different scores)."""
    y = np.asarray(scores, int)
    if len(texts) != len(y):
        raise GraderError(f"item {item_id}: {len(texts)} answers but {len(y)} scores")
    if len(y) < 30:
        raise GraderError(f"item {item_id}: {len(y)} scored answers; at least 30 are needed to train")
    if np.unique(y).size < 2:
        raise GraderError(f"item {item_id}: every answer has score {y[0]}; nothing to learn from")
    if y.min() < 0:
        raise GraderError(f"item {item_id}: negative score {y.min()}")
    max_score = int(y.max())
    normalised = [normalise(t) for t in texts]
    min_df = 2 if len(y) >= 200 else 1
    # Out-of-fold predictions choose the cut points and calibrate the confidence without touching test data.
    counts = np.bincount(y)
    n_folds = int(min(folds, max(2, counts[counts > 0].min())))
    oof_blend = np.zeros(len(y))
    oof_probs = np.zeros((len(y), max_score + 1))
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(normalised, y):
        char, word = _vectorizers(min_df)
        texts_train = [normalised[i] for i in train]
        texts_test = [normalised[i] for i in test]
        grader = _assemble(item_id, max_score, char, word, texts_train, y[train])
        blended, probs = grader._continuous(grader._features(texts_test))
        oof_blend[test] = blended
        for j, c in enumerate(grader.classes):
            oof_probs[test, int(c)] = probs[:, j]
    cuts = optimise_cuts(oof_blend, y, max_score)
    oof_scores = np.clip(_apply_cuts(oof_blend, cuts), 0, max_score)
    raw = _raw_confidence(oof_blend, oof_probs, np.arange(max_score + 1), oof_scores)
    calibrator = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    calibrator.fit(raw, (oof_scores == y).astype(float))
    char, word = _vectorizers(min_df)
    final = _assemble(item_id, max_score, char, word, normalised, y)
    final.cuts, final.calibrator, final.cv_qwk, final.n_train = cuts, calibrator, qwk(oof_scores, y), len(y)
    final.curve = coverage_curve(calibrator.predict(raw), oof_scores, y, steps=11)
    return final


def _assemble(
    item_id: str, max_score: int, char: TfidfVectorizer, word: TfidfVectorizer, texts: list[str], y: np.ndarray
) -> ItemGrader:
    char.fit(texts)
    word.fit(texts)
    grader = ItemGrader(
        item_id,
        max_score,
        char,
        word,
        LogisticRegression(),
        Ridge(),
        np.arange(max_score) + 0.5,
        IsotonicRegression(),
        0.0,
        len(y),
    )
    x = grader._features(texts)
    grader.classifier, grader.regressor = _fit_models(x, y)
    grader.classes = grader.classifier.classes_.astype(float)
    return grader


def reference_similarity(references: list[str], answers: list[str], max_score: int) -> tuple[np.ndarray, np.ndarray]:
    """For items with no scored answers yet: score by character n-gram cosine similarity to reference answers.

    Similarity bands map to scores (>= 0.75 full, then proportionally); confidence is deliberately low (at most
    0.5) so these scores are suggestions for markers, never auto-accepted at a sensible threshold.
    """
    if not references:
        raise GraderError("reference-answer grading needs at least one reference answer")
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    vectorizer.fit([normalise(t) for t in references + answers])
    ref = vectorizer.transform([normalise(t) for t in references])
    ans = vectorizer.transform([normalise(t) for t in answers])
    similarity = (ans @ ref.T).toarray().max(axis=1)
    scores = np.clip(np.floor(similarity / 0.75 * max_score + 1e-9), 0, max_score).astype(int)
    return scores, np.minimum(0.5, similarity * 0.5)


@dataclass(frozen=True)
class CoveragePoint:
    """At a confidence threshold: the share of answers auto-accepted and the exact agreement on them."""

    threshold: float
    coverage: float
    exact_agreement: float


def coverage_curve(
    confidence: np.ndarray, machine: np.ndarray, human: np.ndarray, steps: int = 21
) -> list[CoveragePoint]:
    """The coverage/agreement trade-off an examiner chooses a threshold from."""
    out = []
    for threshold in np.linspace(0, 1, steps):
        accepted = confidence >= threshold
        exact = float(np.mean(machine[accepted] == human[accepted])) if accepted.any() else float("nan")
        out.append(CoveragePoint(round(float(threshold), 3), float(accepted.mean()), exact))
    return out


def threshold_for_coverage(confidence: np.ndarray, coverage: float) -> float:
    """The confidence threshold that auto-accepts (at least) the given share of answers."""
    if not 0 < coverage <= 1:
        raise GraderError(f"coverage must be in (0, 1], got {coverage}")
    ordered = np.sort(np.asarray(confidence, float))[::-1]
    return float(ordered[max(1, int(np.ceil(coverage * len(ordered)))) - 1])


@dataclass(frozen=True)
class DriftAlert:
    """Agreement with humans has dropped below the baseline by more than the tolerance."""

    baseline_qwk: float
    recent_qwk: float
    drop: float
    n_recent: int


def drift(
    baseline_qwk: float, machine: np.ndarray, human: np.ndarray, *, tolerance: float = 0.05, min_n: int = 30
) -> DriftAlert | None:
    """Compare recent machine-vs-human agreement with the model's baseline; an alert when it drifts down."""
    if len(machine) < min_n:
        return None
    recent = qwk(machine, human)
    if baseline_qwk - recent > tolerance:
        return DriftAlert(baseline_qwk, recent, baseline_qwk - recent, len(machine))
    return None


@dataclass
class GraderBundle:
    """Fitted graders for several items, versioned: what `exam grade fit` writes and `exam grade score` reads."""

    graders: dict[str, ItemGrader]
    version: str
    created_at: str
    data_hash: str
    format: str = MODEL_FORMAT

    def save(self, path: str) -> None:
        """Write with joblib."""
        import joblib

        joblib.dump(self, path)

    @staticmethod
    def load(path: str) -> GraderBundle:
        """Read a bundle, refusing files from another program or format version."""
        import joblib

        try:
            bundle = joblib.load(path)
        except Exception as err:
            raise GraderError(f"{path}: not a grader model file ({type(err).__name__})") from err
        if not isinstance(bundle, GraderBundle) or getattr(bundle, "format", None) != MODEL_FORMAT:
            raise GraderError(
                f"{path}: model format {getattr(bundle, 'format', '?')!r}, this program reads "
                f"{MODEL_FORMAT!r}; retrain it with `exam grade fit`"
            )
        return bundle


def fit_bundle(rows: list[tuple[str, str, int]], progress: Any = None) -> GraderBundle:
    """Train one grader per item from (item_id, answer, score) rows."""
    by_item: dict[str, tuple[list[str], list[int]]] = {}
    for item_id, answer, score in rows:
        texts, scores = by_item.setdefault(item_id, ([], []))
        texts.append(answer)
        scores.append(score)
    graders = {}
    for n, (item_id, (texts, scores)) in enumerate(sorted(by_item.items()), start=1):
        graders[item_id] = fit_item(item_id, texts, scores)
        if progress:
            progress(n, len(by_item), item_id)
    digest = hashlib.sha256(repr(sorted(rows)).encode()).hexdigest()[:16]
    created = datetime.now(UTC).isoformat(timespec="seconds")
    return GraderBundle(graders, version=f"{created[:10]}-{digest[:8]}", created_at=created, data_hash=digest)
