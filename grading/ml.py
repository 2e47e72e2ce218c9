"""Machine grading of short answers and essays (PURE: scikit-learn + jieba + a pretrained encoder, no Flask).

Per item, a stacked ensemble trained from human-scored answers:

- level 1, on TF-IDF character n-grams (1-5 within word boundaries: they work for Chinese and English alike and
  forgive misspellings) and word n-grams (jieba tokens for text with Chinese characters, a word pattern
  otherwise) plus length features: multinomial logistic regressions on all / character / word features, a ridge
  regression, and nearest-neighbour similarities to the training answers of each score (and, when given, to the
  reference answers); on sentence embeddings of a pretrained encoder (all-MiniLM-L6-v2, `grading.encoder`,
  frozen): a logistic and a ridge regression, an RBF support-vector regression, nearest-neighbour similarities
  per score and the scores of the nearest training answers; on clause concepts (k-means centres of the training
  answers' clause embeddings, each answer described by its closest clause's similarity to each, beside its mean
  embedding): a logistic and a ridge regression;
- level 2, on the level-1 outputs computed out of fold: a ridge regression (a continuous score) and a logistic
  regression (a probability per score).

The level-1 models of each fold are kept (cross-fitting) and there is no refit on all answers: a new answer's
level-1 features are the mean of the fold models' features, so level 2 sees features made the way its training
features were (by models that never saw the answer, from 4/5 of the data) instead of a full-data refit's more
confident ones, and the five fold models average out each other's noise. An answer's confidence is the least of
the fold models' confidences in the score: it is auto-accepted only when each of them would accept it.

Out-of-fold predictions on the training answers choose, by quadratic weighted kappa, between the rounded ridge,
the logistic regression's expected score and the stack; they set the cut points that turn the continuous score
into a whole score and they train the confidence model: the probability that the machine's score equals the
human one. Nothing here looks at the answers being scored beyond their text.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
import sklearn
from scipy.sparse import csr_matrix, hstack, vstack
from sklearn.cluster import MiniBatchKMeans
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

# 4: the SVR level-1 model on the embeddings; 5: named feature columns; 6: clause concepts; 7: cross-fitted
# level-1 models (one per fold, averaged) instead of one refit on all answers
MODEL_FORMAT = "smart-exam-grader/7"
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?")
PUNCTUATION = re.compile(r"[^\w\s]", re.UNICODE)
MIN_TRAIN = 30
PREDICT_BATCH = 2000
CLAUSE_BREAK = re.compile(r"[.!?;,:\u3002\uff01\uff1f\uff1b\uff0c\uff1a\u3001\n]+")


class GraderError(ValueError):
    """Training or scoring input that cannot be used; the message says which item or row."""


def tokens(text: str) -> list[str]:
    """Word tokens: jieba for text with Chinese characters, a word pattern otherwise (lower-cased)."""
    if CJK.search(text):
        import jieba

        # jieba keeps ASCII words whole inside Chinese text, so mixed answers tokenise sensibly.
        return [t for t in (w.strip().lower() for w in jieba.lcut(text)) if t and not PUNCTUATION.fullmatch(t)]
    return [w.lower() for w in WORD.findall(text)]


def normalise(text: str) -> str:
    """Unicode width (NFKC) and case folding, whitespace squeezed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text or "")).strip().lower()


def clauses(text: str, window: int = 12, stride: int = 6) -> list[str]:
    """An answer cut into the pieces a key idea fits in: clauses between punctuation marks, and windows of
    `window` words (every `stride` words) over clauses longer than 1.5 windows, as run-on answers have no commas.

    Words are `tokens` (jieba words in Chinese text, joined again without spaces)."""
    out = []
    for clause in CLAUSE_BREAK.split(text):
        words = tokens(clause)
        if not words:
            continue
        joiner = "" if CJK.search(clause) else " "
        if len(words) <= window * 3 // 2:
            out.append(joiner.join(words))
            continue
        starts = range(0, max(1, len(words) - window + stride), stride)
        out.extend(joiner.join(words[i : i + window]) for i in starts)
    return out


@dataclass(frozen=True)
class Encoding:
    """Encoder vectors of a list of answers: one per answer (`answers`) and one per clause (`clauses`, of
    answer `owner[i]`; owners ascending, answers without words have none)."""

    answers: np.ndarray
    clauses: np.ndarray
    owner: np.ndarray

    def __post_init__(self) -> None:
        # concept_similarity reads each answer's clauses as one contiguous run: say so here, not as a wrong score.
        n, m = len(self.answers), len(self.clauses)
        if self.answers.ndim != 2 or self.clauses.ndim != 2 or self.owner.shape != (m,):
            raise GraderError(
                f"encoding: answers {self.answers.shape}, clauses {self.clauses.shape} and owner "
                f"{self.owner.shape} do not fit together (one owner per clause row)"
            )
        if m and (self.clauses.shape[1] != self.answers.shape[1]):
            raise GraderError(
                f"encoding: clause vectors of width {self.clauses.shape[1]}, answers {self.answers.shape[1]}"
            )
        if m and (self.owner.min() < 0 or self.owner.max() >= n or np.any(np.diff(self.owner) < 0)):
            raise GraderError(f"encoding: clause owners must be ascending answer indices in [0, {n})")

    def take(self, index: np.ndarray) -> Encoding:
        """The encoding of the answers `index` (distinct, ascending), their clauses renumbered to match."""
        index = np.asarray(index)
        position = np.full(len(self.answers), -1)
        position[index] = np.arange(len(index))
        keep = position[self.owner] >= 0
        return Encoding(self.answers[index], self.clauses[keep], position[self.owner[keep]])

    def __len__(self) -> int:
        return len(self.answers)


def concept_similarity(encoding: Encoding, concepts: np.ndarray) -> np.ndarray:
    """Per answer and concept (unit vectors): the cosine similarity of the answer's closest clause to it, clipped
    at 0 (0 for answers without clauses): does the answer say this somewhere, in whatever words."""
    out = np.zeros((len(encoding), len(concepts)))
    if not len(encoding.owner):
        return out
    similarity = np.maximum(encoding.clauses @ concepts.T, 0.0)
    owners, starts = np.unique(encoding.owner, return_index=True)
    out[owners] = np.maximum.reduceat(similarity, starts, axis=0)
    return out


def concept_count(clauses: int, wanted: int) -> int:
    """How many concepts k-means finds in `clauses` clause vectors: at most `wanted`, at least four clauses each,
    and 0 when that leaves fewer than two."""
    k = min(wanted, clauses // 4)
    return k if k >= 2 else 0


def fit_concepts(clause_vectors: np.ndarray, k: int, seed: int = 0) -> np.ndarray | None:
    """The `k` key ideas of a set of answers: k-means centres of their clause vectors, as unit vectors (fewer
    when there are few clauses; None when there are too few to cluster)."""
    k = concept_count(len(clause_vectors), k)
    if not k:
        return None
    model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=2048).fit(clause_vectors)
    centres = model.cluster_centers_
    return centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)


def qwk(a: np.ndarray, b: np.ndarray) -> float:
    """Quadratic weighted kappa between two integer score vectors (1.0 when both are one identical constant)."""
    a, b = np.asarray(a, int), np.asarray(b, int)
    if len(a) != len(b):
        raise GraderError(f"qwk: {len(a)} scores against {len(b)}")
    if len(a) == 0:
        return float("nan")
    low = min(a.min(), b.min())
    a, b = a - low, b - low
    n = int(max(a.max(), b.max())) + 1
    if n == 1:
        return 1.0
    observed = np.bincount(a * n + b, minlength=n * n).reshape(n, n).astype(float)
    weights = np.subtract.outer(np.arange(n), np.arange(n)) ** 2 / (n - 1) ** 2
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    chance = float((weights * expected).sum())
    if chance == 0:  # both raters constant but different, or one constant: kappa is undefined; call it no agreement
        return 1.0 if np.array_equal(a, b) else 0.0
    return 1.0 - float((weights * observed).sum()) / chance


def agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Exact and adjacent (within one point) agreement."""
    a, b = np.asarray(a), np.asarray(b)
    if len(a) == 0:
        return float("nan"), float("nan")
    return float(np.mean(a == b)), float(np.mean(np.abs(a - b) <= 1))


def _apply_cuts(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.sort(cuts), values).astype(int)


def optimise_cuts(values: np.ndarray, truth: np.ndarray, max_score: int) -> np.ndarray:
    """Cut points on a continuous prediction that maximise QWK against the truth (coordinate search).

    Candidates are quantiles of the predictions, so every candidate moves at least one answer across a cut.
    """
    values, truth = np.asarray(values, float), np.asarray(truth, int)
    cuts = np.arange(max_score) + 0.5
    best = qwk(_apply_cuts(values, cuts), truth)
    candidates = np.unique(np.quantile(values, np.linspace(0.005, 0.995, 200)))
    for _ in range(4):
        improved = False
        for k in range(max_score):
            lo = cuts[k - 1] if k > 0 else -np.inf
            hi = cuts[k + 1] if k + 1 < max_score else np.inf
            for candidate in candidates[(candidates > lo) & (candidates < hi)]:
                trial = cuts.copy()
                trial[k] = candidate
                score = qwk(_apply_cuts(values, trial), truth)
                if score > best + 1e-9:
                    best, cuts, improved = score, trial, True
        if not improved:
            break
    return cuts


@dataclass(frozen=True)
class FeatureConfig:
    """How answers become features and which models see them; stored with every model."""

    char_ngrams: tuple[int, int] = (1, 5)
    word_ngrams: tuple[int, int] = (1, 2)
    logistic_c: float = 8.0
    ridge_alpha: float = 0.5
    neighbours: tuple[int, ...] = (1, 5, 20)
    stack_alpha: float = 10.0
    stack_c: float = 0.1
    folds: int = 5
    # Pretrained encoder features (grading.encoder): hidden layers mean-pooled (-1 = last), their models' strength.
    encoder: bool = True
    encoder_layers: tuple[int, ...] = (-1,)
    embedding_c: float = 2.0
    embedding_alpha: float = 1.0
    purity_k: int = 10
    # An RBF support-vector regression on the embeddings (its C; 0 = none): the one level-1 model that is not
    # linear in the embeddings nor a plain neighbour vote, so it adds what the others cannot express.
    embedding_svr_c: float = 1.0
    # Clause concepts (0 = none): k-means centres of the training answers' clause embeddings; each answer is
    # described by its closest clause's similarity to each, next to its mean embedding, for a logistic and a ridge
    # regression. The mean embedding of a long answer blurs the one sentence that earns the point; this does not.
    concepts: int = 128
    concept_c: float = 1.0
    concept_alpha: float = 1.0


@dataclass(frozen=True)
class CoveragePoint:
    """At a confidence threshold: the share of answers auto-accepted and the exact agreement on them."""

    threshold: float
    coverage: float
    exact_agreement: float


class _Level1:
    """The level-1 models fitted on one set of answers; `transform` gives the stacked features of new answers."""

    def __init__(
        self, config: FeatureConfig, max_score: int, references: list[str], reference_embeddings: np.ndarray | None
    ) -> None:
        self.config, self.max_score = config, max_score
        self.references, self.reference_embeddings = references, reference_embeddings
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=config.char_ngrams, sublinear_tf=True)
        self.word = TfidfVectorizer(
            tokenizer=tokens, token_pattern=None, lowercase=False, ngram_range=config.word_ngrams, sublinear_tf=True
        )

    def fit(
        self, texts: list[str], y: np.ndarray, second: np.ndarray | None = None, encoding: Encoding | None = None
    ) -> _Level1:
        # Terms seen once are noise in large training sets but are all there is in small ones.
        min_df = 2 if len(texts) >= 200 else 1
        self.char.set_params(min_df=min_df)
        self.word.set_params(min_df=min_df)
        self.char_train = self.char.fit_transform(texts).tocsr()
        self.word_train = self.word.fit_transform(texts).tocsr()
        self.y = y
        x = self._design(self.char_train, self.word_train, _lengths(texts))
        c = self.config.logistic_c
        # With a second human score the classifiers see each answer once per rater (the raters' disagreement
        # becomes soft labels) and the ridge regression learns the raters' mean: less label noise either way.
        labels = y if second is None else np.r_[y, second]
        target = y if second is None else (y + second) / 2

        def rows(m: csr_matrix) -> csr_matrix:
            return m if second is None else vstack([m, m]).tocsr()

        self.logistic_all = LogisticRegression(C=c, max_iter=3000).fit(rows(x), labels)
        self.logistic_char = LogisticRegression(C=c, max_iter=3000).fit(rows(self.char_train), labels)
        self.logistic_word = LogisticRegression(C=c, max_iter=3000).fit(rows(self.word_train), labels)
        self.ridge = Ridge(alpha=self.config.ridge_alpha).fit(x, target)
        self.reference_matrix = self.char.transform(self.references) if self.references else None
        self.embeddings = embeddings = None if encoding is None else encoding.answers
        self.concepts: np.ndarray | None = None
        if encoding is not None:
            e = embeddings if second is None else np.vstack([embeddings, embeddings])
            self.logistic_emb = LogisticRegression(C=self.config.embedding_c, max_iter=3000).fit(e, labels)
            self.ridge_emb = Ridge(alpha=self.config.embedding_alpha).fit(embeddings, target)
            svr_c = self.config.embedding_svr_c
            self.svr_emb = SVR(C=svr_c, gamma="scale").fit(embeddings, target) if svr_c else None
            if self.config.concepts:
                self.concepts = fit_concepts(encoding.clauses, self.config.concepts)
            if self.concepts is not None:
                z = self._concept_design(encoding)
                z2 = z if second is None else np.vstack([z, z])
                self.logistic_concept = LogisticRegression(C=self.config.concept_c, max_iter=3000).fit(z2, labels)
                self.ridge_concept = Ridge(alpha=self.config.concept_alpha).fit(z, target)
        self.columns = self._layout()
        return self

    def _layout(self) -> dict[str, slice]:
        """Where each level-1 model's output stands in `transform`'s features: the one place that order is set."""
        m = self.max_score + 1
        n = m * len(self.config.neighbours)
        widths = [("logistic_all", m), ("logistic_char", m), ("logistic_word", m), ("ridge", 1)]
        widths += [("char_neighbours", n), ("word_neighbours", n), ("lengths", 2)]
        if self.reference_matrix is not None:
            widths.append(("reference", 1))
        if self.embeddings is not None:
            widths += [("logistic_emb", m), ("ridge_emb", 1), ("emb_neighbours", n), ("purity", m)]
            if self.reference_embeddings is not None:
                widths.append(("reference_emb", 1))
            if self.svr_emb is not None:
                widths.append(("svr_emb", 1))
            if self.concepts is not None:
                widths += [("logistic_concept", m), ("ridge_concept", 1)]
        out, start = {}, 0
        for name, width in widths:
            out[name] = slice(start, start + width)
            start += width
        return out

    def _concept_design(self, encoding: Encoding) -> np.ndarray:
        assert self.concepts is not None
        return np.hstack([concept_similarity(encoding, self.concepts), encoding.answers])

    @staticmethod
    def _design(char: csr_matrix, word: csr_matrix, lengths: np.ndarray) -> csr_matrix:
        # log lengths / 8 keeps them on the scale of TF-IDF weights so regularisation treats them alike.
        return hstack([char, word, csr_matrix(lengths / 8.0)]).tocsr()

    def _probs(self, model: LogisticRegression, x: csr_matrix) -> np.ndarray:
        out = np.zeros((x.shape[0], self.max_score + 1))
        out[:, model.classes_.astype(int)] = model.predict_proba(x)
        return out

    def _neighbours(self, similarity: np.ndarray) -> np.ndarray:
        """Per score: the mean similarity to the k most similar training answers with that score, for each k."""
        columns = []
        for score in range(self.max_score + 1):
            ranked = -np.sort(-similarity[:, self.y == score], axis=1)
            for k in self.config.neighbours:
                columns.append(ranked[:, :k].mean(axis=1) if ranked.shape[1] else np.zeros(len(similarity)))
        return np.column_stack(columns)

    def _purity(self, similarity: np.ndarray) -> np.ndarray:
        """The share of each score among the k most similar training answers (their labels' distribution)."""
        k = min(self.config.purity_k, similarity.shape[1])
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        labels = self.y[nearest]
        return np.column_stack([(labels == score).mean(axis=1) for score in range(self.max_score + 1)])

    def transform(self, texts: list[str], encoding: Encoding | None = None) -> np.ndarray:
        """Level-1 features of the answers (their encoding is required when the models were fitted with one)."""
        char, word, lengths = self.char.transform(texts), self.word.transform(texts), _lengths(texts)
        x = self._design(char, word, lengths)
        blocks = {
            "logistic_all": self._probs(self.logistic_all, x),
            "logistic_char": self._probs(self.logistic_char, char),
            "logistic_word": self._probs(self.logistic_word, word),
            "ridge": self.ridge.predict(x)[:, None],
            "char_neighbours": self._neighbours((char @ self.char_train.T).toarray()),
            "word_neighbours": self._neighbours((word @ self.word_train.T).toarray()),
            "lengths": lengths,
        }
        if self.reference_matrix is not None:
            blocks["reference"] = (char @ self.reference_matrix.T).toarray().max(axis=1)[:, None]
        if self.embeddings is not None:
            if encoding is None or len(encoding) != len(texts):
                raise GraderError("this grader uses encoder embeddings; none (or the wrong number) were given")
            embeddings = encoding.answers
            # Rows are unit vectors per layer, so the product is the mean cosine similarity over the layers.
            similarity = embeddings @ self.embeddings.T / len(self.config.encoder_layers)
            blocks["logistic_emb"] = self._probs(self.logistic_emb, embeddings)
            blocks["ridge_emb"] = self.ridge_emb.predict(embeddings)[:, None]
            blocks["emb_neighbours"] = self._neighbours(similarity)
            blocks["purity"] = self._purity(similarity)
            if self.reference_embeddings is not None:
                blocks["reference_emb"] = (embeddings @ self.reference_embeddings.T).max(axis=1)[:, None]
            if self.svr_emb is not None:
                blocks["svr_emb"] = self.svr_emb.predict(embeddings)[:, None]
            if self.concepts is not None:
                z = self._concept_design(encoding)
                blocks["logistic_concept"] = self._probs(self.logistic_concept, z)
                blocks["ridge_concept"] = self.ridge_concept.predict(z)[:, None]
        return np.hstack([blocks[name] for name in self.columns])

    def base_scores(self, features: np.ndarray) -> np.ndarray:
        """Each level-1 model's own score estimate (expected score or regression), one column per model."""
        grades = np.arange(self.max_score + 1)
        expected = ("logistic_all", "logistic_char", "logistic_word", "logistic_emb", "logistic_concept")
        regressions = ("ridge", "ridge_emb", "svr_emb", "ridge_concept")
        columns = [features[:, self.columns[name]] @ grades for name in expected if name in self.columns]
        columns += [features[:, self.columns[name]][:, 0] for name in regressions if name in self.columns]
        return np.column_stack(columns)

    def purity_columns(self, features: np.ndarray) -> np.ndarray | None:
        """The nearest training answers' score distribution (embedding similarity), when the encoder is used."""
        return features[:, self.columns["purity"]] if "purity" in self.columns else None

    def logistic_expected(self, features: np.ndarray) -> np.ndarray:
        """The all-features logistic regression's expected score, read from the stacked features."""
        return features[:, self.columns["logistic_all"]] @ np.arange(self.max_score + 1)

    def ridge_column(self, features: np.ndarray) -> np.ndarray:
        return features[:, self.columns["ridge"]][:, 0]


def _lengths(texts: list[str]) -> np.ndarray:
    return np.array([[np.log1p(len(t)), np.log1p(len(tokens(t)))] for t in texts]).reshape(-1, 2)


def _stack_models(config: FeatureConfig) -> tuple[Pipeline, Pipeline]:
    return (
        make_pipeline(StandardScaler(), Ridge(alpha=config.stack_alpha)),
        make_pipeline(StandardScaler(), LogisticRegression(C=config.stack_c, max_iter=3000)),
    )


def _class_probs(model: Pipeline, x: np.ndarray, max_score: int) -> np.ndarray:
    out = np.zeros((len(x), max_score + 1))
    out[:, model.classes_.astype(int)] = model.predict_proba(x)
    return out


def _confidence_features(
    continuous: np.ndarray,
    cuts: np.ndarray,
    probs: np.ndarray,
    scores: np.ndarray,
    base: np.ndarray | None = None,
    purity: np.ndarray | None = None,
) -> np.ndarray:
    """What says a score is safe: its probability, the classifier's margin, the distance to the nearest cut; the
    level-1 models' agreement with it and with each other; the nearest training answers' agreement with it."""
    ordered = np.sort(probs, axis=1)
    margin = ordered[:, -1] - ordered[:, -2] if probs.shape[1] > 1 else ordered[:, -1]
    distance = np.min(np.abs(continuous[:, None] - np.asarray(cuts)[None, :]), axis=1) if len(cuts) else 1.0
    rows = np.arange(len(scores))
    chosen = probs[rows, scores]
    columns = [chosen, ordered[:, -1], margin, distance, (probs.argmax(axis=1) == scores).astype(float)]
    if base is not None:
        votes = np.clip(np.rint(base), 0, probs.shape[1] - 1) == scores[:, None]
        columns += [votes.mean(axis=1), base.std(axis=1), np.abs(base - scores[:, None]).max(axis=1)]
    if purity is not None:
        columns += [purity[rows, scores], purity.max(axis=1)]
    return np.column_stack(columns)


@dataclass
class ItemGrader:
    """A fitted grader for one item."""

    item_id: str
    max_score: int
    config: FeatureConfig
    folds: list[_Level1]  # the level-1 models of each cross-fitting fold; new answers get their mean features
    stack_regressor: Pipeline
    stack_classifier: Pipeline
    method: str  # "stack", "logistic" or "ridge": the out-of-fold winner
    cuts: np.ndarray
    confidence_model: Pipeline | None
    constant_confidence: float
    cv_qwk: float
    n_train: int
    method_qwk: dict[str, float] = field(default_factory=dict)
    curve: list[CoveragePoint] = field(default_factory=list)  # out-of-fold coverage/agreement on training data
    # Out of fold on the training answers: confidence, machine score, human score (for threshold_for_agreement).
    oof_confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))
    oof_scores: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    oof_truth: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    encoder: str | None = None  # EncoderInfo.key of the encoder the grader was fitted with; None: no encoder

    @property
    def level1(self) -> _Level1:
        """The first fold's level-1 models; every fold has the same feature layout, so its column accessors
        (`columns`, `base_scores`, ...) serve all of them."""
        return self.folds[0]

    def threshold_for_agreement(self, target: float = 0.95) -> CoveragePoint | None:
        """The auto-accept threshold that kept exact agreement >= target out of fold on the training answers."""
        return threshold_for_agreement(self.oof_confidence, self.oof_scores, self.oof_truth, target, min_accepted=10)

    def _continuous(self, features: np.ndarray) -> np.ndarray:
        if self.method == "logistic":
            return self.level1.logistic_expected(features)
        if self.method == "ridge":
            return self.level1.ridge_column(features)
        return self.stack_regressor.predict(features)

    def _fold_features(self, texts: list[str], encoding: Encoding | None) -> list[np.ndarray]:
        """Each fold's level-1 features of the (normalised) answers, in batches: the neighbour features need a
        dense batch x training-answers similarity matrix."""
        batches = [
            (
                texts[i : i + PREDICT_BATCH],
                None if encoding is None else encoding.take(np.arange(i, min(i + PREDICT_BATCH, len(texts)))),
            )
            for i in range(0, len(texts), PREDICT_BATCH)
        ]
        return [np.vstack([fold.transform(part, rows) for part, rows in batches]) for fold in self.folds]

    def _confidence_of(self, features: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """The confidence model's probability that `scores` equal the human's, judged from one set of features."""
        continuous = self._continuous(features)
        probs = _class_probs(self.stack_classifier, features, self.max_score)
        x = _confidence_features(
            continuous,
            self.cuts,
            probs,
            scores,
            self.level1.base_scores(features),
            self.level1.purity_columns(features),
        )
        return _confidence(self.confidence_model, self.constant_confidence, x)

    def predict(self, texts: list[str], encoding: Encoding | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Whole scores and a calibrated confidence (estimated probability that a human gives the same score).

        The score comes from the fold models' mean features; the confidence is the least of the confidences each
        fold model's own features give that score (the confidence model learnt from single-fold features).
        `encoding` (`encode` of the texts with this grader's config) saves encoding the answers again when the
        caller has it; by default the installed encoder computes it after checking it is the one the grader was
        fitted with."""
        if not texts:
            return np.zeros(0, int), np.zeros(0)
        normalised = [normalise(t) for t in texts]
        if self.encoder is not None and encoding is None:
            check_encoder(self.encoder, f"item {self.item_id}")
            encoding = _encode_normalised(normalised, self.config)
        per_fold = self._fold_features(normalised, encoding)
        scores = np.clip(_apply_cuts(self._continuous(np.mean(per_fold, axis=0)), self.cuts), 0, self.max_score)
        confidence = np.min([self._confidence_of(features, scores) for features in per_fold], axis=0)
        blank = np.array([not t for t in normalised])
        scores[blank] = 0  # an empty answer scores nothing, with certainty
        confidence[blank] = 1.0
        return scores, confidence


def _confidence(model: Pipeline | None, constant: float, features: np.ndarray) -> np.ndarray:
    if model is None:
        return np.full(len(features), constant)
    return model.predict_proba(features)[:, 1]


def encode(texts: list[str], config: FeatureConfig | None = None) -> Encoding:
    """The encoder's vectors of answers and (with `config.concepts`) of their clauses, in one pass through the
    encoder; a clear GraderError when the encoder is not installed."""
    return _encode_normalised([normalise(t) for t in texts], config or FeatureConfig())


def _encode_normalised(texts: list[str], config: FeatureConfig) -> Encoding:
    from grading.encoder import EncoderMissing, embed

    pieces = [clauses(t) for t in texts] if config.concepts else [[] for _ in texts]
    owner = np.repeat(np.arange(len(texts)), [len(p) for p in pieces])
    try:
        vectors = embed(texts + [c for p in pieces for c in p], layers=config.encoder_layers)
    except EncoderMissing as err:
        raise GraderError(str(err)) from err
    return Encoding(vectors[: len(texts)], vectors[len(texts) :], owner)


def current_encoder() -> str:
    """The installed encoder's key (GraderError when it is missing)."""
    from grading.encoder import EncoderMissing, encoder_info

    try:
        return encoder_info().key
    except EncoderMissing as err:
        raise GraderError(str(err)) from err


def check_encoder(fitted_with: str | None, what: str) -> None:
    """Refuse to score with another encoder than the one a model was fitted with."""
    if fitted_with is None:
        return
    installed = current_encoder()
    if installed != fitted_with:
        raise GraderError(
            f"{what}: fitted with encoder {fitted_with}, this program has {installed}; retrain it with `exam grade fit`"
        )


def fold_splits(y: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The grader's stratified (train, test) index splits of answers scored `y`: `folds` of them, fewer when a
    score is too rare to appear in every fold."""
    counts = np.bincount(y)
    # Stratified folds need each score in every fold; rare scores lower the fold count rather than fail.
    n = int(min(folds, max(2, counts[counts > 0].min())))
    return list(StratifiedKFold(n_splits=n, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def fit_item(
    item_id: str,
    texts: list[str],
    scores: list[int] | np.ndarray,
    *,
    references: list[str] | None = None,
    second_scores: list[int] | np.ndarray | None = None,
    config: FeatureConfig | None = None,
    seed: int = 0,
    encoding: Encoding | None = None,
) -> ItemGrader:
    """Train one item's grader from human-scored answers (at least 30, with at least two different scores).

    `references` (model answers) add a similarity feature. `second_scores`, where answers were double marked,
    are a second rater's scores of the same answers: extra training signal; cut points, QWK and confidence are
    still fitted against `scores`. The returned grader carries its cross-validated QWK and the out-of-fold
    coverage/agreement curve an examiner picks an auto-accept threshold from. With `config.encoder` the answers'
    sentence embeddings (and their clauses', with `config.concepts`) are features too (`encoding`: precomputed by
    `encode(texts, config)`; computed here when not given).
    """
    config = config or FeatureConfig()
    y = np.asarray(scores)
    if len(texts) != len(y):
        raise GraderError(f"item {item_id}: {len(texts)} answers but {len(y)} scores")
    if len(y) < MIN_TRAIN:
        raise GraderError(f"item {item_id}: {len(y)} scored answers; at least {MIN_TRAIN} are needed to train")
    if not np.all(np.equal(np.mod(y, 1), 0)):
        raise GraderError(f"item {item_id}: scores must be whole numbers")
    y = y.astype(int)
    if y.min() < 0:
        raise GraderError(f"item {item_id}: negative score {y.min()}")
    if np.unique(y).size < 2:
        raise GraderError(f"item {item_id}: every answer has score {y[0]}; nothing to learn from")
    counts = np.bincount(y)
    if int(np.sum(counts >= 2)) < 2:
        found = ", ".join(f"score {s}: {int(c)}" for s, c in enumerate(counts) if c)
        raise GraderError(
            f"item {item_id}: at least two answers at each of two different scores are needed to train ({found})"
        )
    second = None if second_scores is None else _second(item_id, second_scores, len(y))
    max_score = int(max(y.max(), second.max() if second is not None else 0))
    target = y if second is None else (y + second) / 2
    normalised = [normalise(t) for t in texts]
    refs = [normalise(t) for t in references or [] if normalise(t)]
    encoder = current_encoder() if config.encoder else None
    if not config.encoder:
        encoding = None
    elif encoding is None:
        encoding = _encode_normalised(normalised, config)
    elif encoding.answers.shape != (len(y), 384 * len(config.encoder_layers)):
        raise GraderError(f"item {item_id}: embeddings of shape {encoding.answers.shape} for {len(y)} answers")

    # The model answers' vectors are the same in every fold: encode them once.
    reference_vectors = (
        _encode_normalised(refs, replace(config, concepts=0)).answers if encoding is not None and refs else None
    )

    def rows(index: np.ndarray) -> Encoding | None:
        return None if encoding is None else encoding.take(index)

    # Level 1 out of fold: every training answer gets features from models that never saw it.
    # The fold models are the grader's level 1 (no refit on all answers: see the module docstring).
    splits = fold_splits(y, config.folds, seed)
    # New answers get the mean of the folds' features, so every fold must fit the same models: when one fold's
    # answers have too few clauses to cluster, no fold uses clause concepts.
    fold_clauses = [] if encoding is None else [int(np.isin(encoding.owner, train).sum()) for train, _ in splits]
    if config.concepts and fold_clauses and min(concept_count(n, config.concepts) for n in fold_clauses) == 0:
        config = replace(config, concepts=0)
    oof: np.ndarray | None = None
    folds: list[_Level1] = []
    for train, test in splits:
        level1 = _Level1(config, max_score, refs, reference_vectors).fit(
            [normalised[i] for i in train], y[train], None if second is None else second[train], rows(train)
        )
        block = level1.transform([normalised[i] for i in test], rows(test))
        oof = np.zeros((len(y), block.shape[1])) if oof is None else oof
        oof[test] = block
        folds.append(level1)
    assert oof is not None
    layout = folds[0]

    # Level 2 out of fold on the level-1 features (other folds, so its cut points are not tuned on its own fit).
    stack_oof = np.zeros(len(y))
    probs_oof = np.zeros((len(y), max_score + 1))
    for train, test in fold_splits(y, config.folds, seed + 1):
        regressor, classifier = _stack_models(config)
        stack_oof[test] = regressor.fit(oof[train], target[train]).predict(oof[test])
        probs_oof[test] = _class_probs(classifier.fit(oof[train], y[train]), oof[test], max_score)
    candidates = {
        "stack": stack_oof,
        "logistic": layout.logistic_expected(oof),
        "ridge": layout.ridge_column(oof),
    }
    method_qwk, method_cuts = {}, {}
    for name, values in candidates.items():
        method_cuts[name] = optimise_cuts(values, y, max_score)
        method_qwk[name] = qwk(np.clip(_apply_cuts(values, method_cuts[name]), 0, max_score), y)
    method = max(method_qwk, key=lambda m: method_qwk[m])
    cuts = method_cuts[method]
    continuous = candidates[method]
    oof_scores = np.clip(_apply_cuts(continuous, cuts), 0, max_score)
    correct = (oof_scores == y).astype(int)

    confidence_model: Pipeline | None = None
    confidence_x = _confidence_features(
        continuous, cuts, probs_oof, oof_scores, layout.base_scores(oof), layout.purity_columns(oof)
    )
    if 0 < correct.sum() < len(correct):
        confidence_model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
        confidence_model.fit(confidence_x, correct)
    oof_confidence = _confidence(confidence_model, float(correct.mean()), confidence_x)

    regressor, classifier = _stack_models(config)
    regressor.fit(oof, target)
    classifier.fit(oof, y)
    return ItemGrader(
        item_id=item_id,
        max_score=max_score,
        config=config,
        folds=folds,
        stack_regressor=regressor,
        stack_classifier=classifier,
        method=method,
        cuts=cuts,
        confidence_model=confidence_model,
        constant_confidence=float(correct.mean()),
        cv_qwk=method_qwk[method],
        n_train=len(y),
        method_qwk=method_qwk,
        curve=coverage_curve(oof_confidence, oof_scores, y, steps=11),
        oof_confidence=oof_confidence,
        oof_scores=oof_scores,
        oof_truth=y,
        encoder=encoder,
    )


def _second(item_id: str, values: list[int] | np.ndarray, n: int) -> np.ndarray:
    second = np.asarray(values)
    if len(second) != n:
        raise GraderError(f"item {item_id}: {n} answers but {len(second)} second scores")
    if not np.all(np.equal(np.mod(second, 1), 0)) or (len(second) and second.min() < 0):
        raise GraderError(f"item {item_id}: second scores must be whole numbers >= 0")
    return second.astype(int)


def reference_similarity(references: list[str], answers: list[str], max_score: int) -> tuple[np.ndarray, np.ndarray]:
    """For items with no scored answers yet: score by character n-gram cosine similarity to reference answers.

    Similarity bands map to scores (>= 0.75 full marks, then proportionally); confidence is deliberately low (at
    most 0.5) so these scores are suggestions for markers, never auto-accepted at a sensible threshold.
    """
    if not references:
        raise GraderError("reference-answer grading needs at least one reference answer")
    if max_score < 1:
        raise GraderError(f"max_score must be at least 1, got {max_score}")
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    vectorizer.fit([normalise(t) for t in references + answers])
    ref = vectorizer.transform([normalise(t) for t in references])
    ans = vectorizer.transform([normalise(t) for t in answers])
    similarity = (ans @ ref.T).toarray().max(axis=1)
    scores = np.clip(np.floor(similarity / 0.75 * max_score + 1e-9), 0, max_score).astype(int)
    return scores, np.minimum(0.5, similarity * 0.5)


def coverage_curve(
    confidence: np.ndarray, machine: np.ndarray, human: np.ndarray, steps: int = 21
) -> list[CoveragePoint]:
    """The coverage/agreement trade-off an examiner chooses a threshold from."""
    confidence, machine, human = np.asarray(confidence), np.asarray(machine), np.asarray(human)
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


def threshold_for_agreement(
    confidence: np.ndarray, machine: np.ndarray, human: np.ndarray, target: float = 0.95, min_accepted: int = 1
) -> CoveragePoint | None:
    """The lowest confidence threshold (largest coverage) at which exact agreement on the accepted answers still
    reaches the target; None when no threshold does. Use out-of-fold or held-out scores, never training fits."""
    confidence, machine, human = np.asarray(confidence, float), np.asarray(machine), np.asarray(human)
    if not 0 < target <= 1:
        raise GraderError(f"target agreement must be in (0, 1], got {target}")
    order = np.argsort(-confidence, kind="stable")
    hits = np.cumsum(machine[order] == human[order])
    n = np.arange(1, len(order) + 1)
    # Only cut between distinct confidence values: answers with equal confidence are accepted together.
    last_of_tie = np.r_[confidence[order][1:] != confidence[order][:-1], True]
    ok = np.flatnonzero(last_of_tie & (hits / n >= target) & (n >= min_accepted))
    if not len(ok):
        return None
    k = int(ok[-1])
    return CoveragePoint(float(confidence[order][k]), float((k + 1) / len(order)), float(hits[k] / (k + 1)))


@dataclass(frozen=True)
class AnswerGroup:
    """Answers a marker can score at once: `members` are indices into the input, `representative` is one of them
    (the most typical), `exact` says every member is the same answer after normalisation."""

    representative: int
    members: list[int]
    exact: bool


def _canonical(text: str) -> str:
    return re.sub(r"\s+", "", PUNCTUATION.sub("", normalise(text)))


def answer_groups(texts: list[str], similarity: float = 0.8) -> list[AnswerGroup]:
    """Gradescope-style groups: identical answers after normalisation (width, case, whitespace, punctuation)
    first, then answers whose character n-gram cosine similarity links them at average linkage >= `similarity`.
    Largest groups first; every answer is in exactly one group."""
    from sklearn.cluster import AgglomerativeClustering

    if not 0 < similarity <= 1:
        raise GraderError(f"similarity must be in (0, 1], got {similarity}")
    by_text: dict[str, list[int]] = {}
    for index, text in enumerate(texts):
        by_text.setdefault(_canonical(text), []).append(index)
    keys = list(by_text)
    if len(keys) == 1 or similarity == 1:
        clusters = np.arange(len(keys))
    else:
        # Blank answers have no n-grams; give them a placeholder so they still form their own group.
        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True)
        # Rows are L2-normalised, so the sparse product is the cosine similarity; an n x n distance matrix is far
        # smaller than the dense n x vocabulary matrix the cosine metric would need.
        matrix = vectorizer.fit_transform([k or "\u2205" for k in keys])
        distance = np.clip(1.0 - (matrix @ matrix.T).toarray(), 0.0, 2.0)
        np.fill_diagonal(distance, 0.0)
        clusters = AgglomerativeClustering(
            n_clusters=None, metric="precomputed", linkage="average", distance_threshold=1 - similarity
        ).fit_predict(distance)
    groups = []
    for cluster in np.unique(clusters):
        member_keys = [keys[i] for i in np.flatnonzero(clusters == cluster)]
        members = sorted(i for key in member_keys for i in by_text[key])
        # The representative is the most frequent wording (ties: the first answer with it).
        representative = by_text[max(member_keys, key=lambda k: (len(by_text[k]), -by_text[k][0]))][0]
        groups.append(AnswerGroup(representative, members, len(member_keys) == 1))
    return sorted(groups, key=lambda g: (-len(g.members), g.members[0]))


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


def _sklearn_series() -> str:
    return ".".join(sklearn.__version__.split(".")[:2])


@dataclass
class GraderBundle:
    """Fitted graders for several items, versioned: what `exam grade fit` writes and `exam grade score` reads."""

    graders: dict[str, ItemGrader]
    version: str
    created_at: str
    data_hash: str
    feature_config: dict[str, object] = field(default_factory=lambda: asdict(FeatureConfig()))
    sklearn_version: str = field(default_factory=_sklearn_series)
    format: str = MODEL_FORMAT
    encoder: str | None = None  # EncoderInfo.key of the pretrained encoder its graders use (None: none)

    def save(self, path: str) -> None:
        """Write with joblib."""
        import joblib

        joblib.dump(self, path)

    @staticmethod
    def load(path: str) -> GraderBundle:
        """Read a bundle, refusing files from another program, format version or scikit-learn series."""
        import joblib

        try:
            bundle = joblib.load(path)
        except Exception as err:
            raise GraderError(f"{path}: not a grader model file ({type(err).__name__})") from err
        found = getattr(bundle, "format", None) if isinstance(bundle, GraderBundle) else None
        if found != MODEL_FORMAT:
            raise GraderError(
                f"{path}: model format {found!r}, this program reads {MODEL_FORMAT!r}; retrain it with `exam grade fit`"
            )
        if bundle.sklearn_version != _sklearn_series():
            raise GraderError(
                f"{path}: trained with scikit-learn {bundle.sklearn_version}, this program runs "
                f"{_sklearn_series()}; retrain it with `exam grade fit`"
            )
        # A model fitted with one encoder gives different scores with another: refuse it (and say so when the
        # encoder is not installed at all).
        check_encoder(bundle.encoder, path)
        return bundle


def fit_bundle(
    rows: list[tuple[str, str, int]] | list[tuple[str, str, int, int | None]],
    progress: Callable[[int, int, str], None] | None = None,
    references: dict[str, list[str]] | None = None,
    config: FeatureConfig | None = None,
) -> GraderBundle:
    """Train one grader per item from (item_id, answer, score[, second score]) rows.

    A second score (a second human rater's, None where there is none) is extra training signal for its item;
    `references` maps item ids to model answers.
    """
    config = config or FeatureConfig()
    by_item: dict[str, tuple[list[str], list[int], list[int | None]]] = {}
    for row in rows:
        item_id, answer, score = row[0], row[1], row[2]
        texts, scores, seconds = by_item.setdefault(item_id, ([], [], []))
        texts.append(answer)
        scores.append(score)
        seconds.append(row[3] if len(row) > 3 else None)  # type: ignore[misc]
    graders = {}
    for n, (item_id, (texts, scores, seconds)) in enumerate(sorted(by_item.items()), start=1):
        # Answers without a second score count their one score twice, which leaves their label as it is.
        second = (
            None
            if all(v is None for v in seconds)
            else [s if v is None else v for s, v in zip(scores, seconds, strict=True)]
        )
        graders[item_id] = fit_item(
            item_id, texts, scores, references=(references or {}).get(item_id), second_scores=second, config=config
        )
        if progress:
            progress(n, len(by_item), item_id)
    # Sorted by text, so neither the row order nor a missing second score (None) can upset the comparison.
    digest = hashlib.sha256("\n".join(sorted(repr(tuple(r)) for r in rows)).encode()).hexdigest()[:16]
    created = datetime.now(UTC).isoformat(timespec="seconds")
    return GraderBundle(
        graders,
        version=f"{created[:10]}-{digest[:8]}",
        created_at=created,
        data_hash=digest,
        feature_config=asdict(config),
        encoder=current_encoder() if config.encoder else None,
    )
