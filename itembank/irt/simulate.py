"""Seeded simulation of item parameters and responses for every model (PURE numpy)."""

from __future__ import annotations

import numpy as np

from itembank.irt.models import ItemParams, category_probs


def random_params(model: str, n_items: int, *, categories: int = 4, seed: int = 0) -> ItemParams:
    """Plausible parameters: a ~ lognormal(0, 0.3), b ~ N(0, 1), c ~ U(0.1, 0.25) for 3PL, ordered thresholds."""
    rng = np.random.default_rng(seed)
    a = np.exp(rng.normal(0, 0.3, n_items)) if model not in ("rasch", "1pl") else np.ones(n_items)
    b = rng.normal(0, 1, n_items)
    c = rng.uniform(0.1, 0.25, n_items) if model == "3pl" else np.zeros(n_items)
    steps = np.zeros((0, 0))
    if model in ("grm", "gpcm"):
        offsets = np.sort(rng.normal(0, 1, (n_items, categories - 1)), axis=1)
        steps = b[:, None] + offsets
        b = steps.mean(axis=1)
    return ItemParams(model, a, b, c, steps)


def simulate_responses(
    params: ItemParams, n_examinees: int, *, seed: int = 0, missing: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Responses (N, J) drawn at θ ~ N(0, 1); a `missing` share of cells is NaN (not presented, at random)."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 1, n_examinees)
    out = np.empty((n_examinees, params.n_items))
    for j, probs in enumerate(category_probs(params, theta)):
        cumulative = np.cumsum(probs, axis=1)
        u = rng.random(n_examinees)[:, None]
        out[:, j] = (u > cumulative).sum(axis=1)
    if missing > 0:
        out[rng.random(out.shape) < missing] = np.nan
    return out, theta
