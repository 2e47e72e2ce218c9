"""Item response models (PURE numpy): category probabilities, item and test information, expected scores.

Logistic metric with D = 1. Dichotomous: P(1 | θ) = c + (1 - c) / (1 + exp(-a (θ - b))).
GRM (graded response): P(X >= k | θ) = 1 / (1 + exp(-a (θ - b_k))), k = 1..K-1, b_1 < ... < b_{K-1}.
GPCM (generalized partial credit): P(X = k | θ) ∝ exp(Σ_{v<=k} a (θ - b_v)), with the empty sum for k = 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MODELS = ("rasch", "1pl", "2pl", "3pl", "grm", "gpcm")
DICHOTOMOUS = frozenset({"rasch", "1pl", "2pl", "3pl"})
EPS = 1e-10


@dataclass
class ItemParams:
    """Parameters of J items under one model. Polytomous items carry their thresholds in `steps` (NaN-padded)."""

    model: str
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    steps: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # J x (K-1) thresholds, NaN padded
    item_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; use one of {', '.join(MODELS)}")
        self.a = np.asarray(self.a, float)
        self.b = np.asarray(self.b, float)
        self.c = np.asarray(self.c, float)
        if not self.item_ids:
            self.item_ids = [f"item{j + 1}" for j in range(len(self.a))]

    @property
    def n_items(self) -> int:
        """Number of items."""
        return len(self.a)

    @property
    def categories(self) -> np.ndarray:
        """Number of score categories per item (2 for dichotomous items)."""
        if self.model in DICHOTOMOUS:
            return np.full(self.n_items, 2)
        return 1 + np.sum(~np.isnan(self.steps), axis=1)


def p_correct(theta: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None) -> np.ndarray:
    """P(correct) for dichotomous items: shape (len(theta), J)."""
    z = np.clip(np.outer(theta, np.ones_like(a)) - b, -40, 40) * a
    p = 1.0 / (1.0 + np.exp(-z))
    if c is not None:
        p = c + (1.0 - c) * p
    return p


def category_probs(params: ItemParams, theta: np.ndarray) -> list[np.ndarray]:
    """Per item, the (len(theta), K_j) matrix of category probabilities."""
    theta = np.asarray(theta, float)
    if params.model in DICHOTOMOUS:
        p = p_correct(theta, params.a, params.b, params.c)
        return [np.column_stack([1 - p[:, j], p[:, j]]) for j in range(params.n_items)]
    out = []
    for j in range(params.n_items):
        steps = params.steps[j][~np.isnan(params.steps[j])]
        out.append(_grm(theta, params.a[j], steps) if params.model == "grm" else _gpcm(theta, params.a[j], steps))
    return out


def _grm(theta: np.ndarray, a: float, steps: np.ndarray) -> np.ndarray:
    star = 1.0 / (1.0 + np.exp(-np.clip(a * (theta[:, None] - steps[None, :]), -40, 40)))
    upper = np.column_stack([np.ones_like(theta), star])
    lower = np.column_stack([star, np.zeros_like(theta)])
    return np.clip(upper - lower, EPS, 1.0)


def _gpcm(theta: np.ndarray, a: float, steps: np.ndarray) -> np.ndarray:
    z = np.column_stack([np.zeros_like(theta), np.cumsum(a * (theta[:, None] - steps[None, :]), axis=1)])
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.clip(e / e.sum(axis=1, keepdims=True), EPS, 1.0)


def item_information(params: ItemParams, theta: np.ndarray) -> np.ndarray:
    """Fisher information of each item at each θ: shape (len(theta), J)."""
    theta = np.asarray(theta, float)
    if params.model in DICHOTOMOUS:
        p = p_correct(theta, params.a, params.b, params.c)
        star = p_correct(theta, params.a, params.b)
        # 3PL information: a² (P - c)² Q / ((1 - c)² P); reduces to a² P Q when c = 0.
        return params.a**2 * (star * (1 - star)) ** 2 / np.clip(p * (1 - p), EPS, None)
    info = np.empty((len(theta), params.n_items))
    h = 1e-4
    for j, probs in enumerate(category_probs(params, theta)):
        up = category_probs(_one(params, j), theta + h)[0]
        down = category_probs(_one(params, j), theta - h)[0]
        derivative = (up - down) / (2 * h)
        info[:, j] = np.sum(derivative**2 / probs, axis=1)
    return info


def _one(params: ItemParams, j: int) -> ItemParams:
    return ItemParams(
        params.model,
        params.a[[j]],
        params.b[[j]],
        params.c[[j]],
        params.steps[[j]] if params.steps.size else params.steps,
        [params.item_ids[j]],
    )


def total_information(params: ItemParams, theta: np.ndarray) -> np.ndarray:
    """Test information: the sum of item information at each θ."""
    return item_information(params, theta).sum(axis=1)


def conditional_sem(params: ItemParams, theta: np.ndarray) -> np.ndarray:
    """Standard error of measurement of θ at each θ: 1 / sqrt(test information)."""
    return 1.0 / np.sqrt(np.clip(total_information(params, theta), EPS, None))


def expected_scores(params: ItemParams, theta: np.ndarray) -> np.ndarray:
    """Expected item scores (len(theta), J): P for dichotomous items, Σ k P_k for polytomous ones."""
    return np.column_stack([probs @ np.arange(probs.shape[1]) for probs in category_probs(params, theta)])


def tcc(params: ItemParams, theta: np.ndarray) -> np.ndarray:
    """Test characteristic curve: expected total score at each θ."""
    return expected_scores(params, theta).sum(axis=1)
