"""Model fit (PURE numpy/scipy): information criteria and the S-X2 item fit statistic of Orlando and Thissen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

from itembank.irt.estimation import CalibrationResult, quadrature
from itembank.irt.models import ItemParams, category_probs

PARAMETERS = {"rasch": 1, "1pl": 1, "2pl": 2, "3pl": 3}


@dataclass
class ItemFit:
    """S-X2 per item with its degrees of freedom and p-value (NaN when it cannot be computed)."""

    s_x2: np.ndarray
    df: np.ndarray
    p_value: np.ndarray


def lord_wingersky(p: np.ndarray) -> np.ndarray:
    """Summed-score distribution at each grid point from P(correct) (Q, J): returns (Q, J + 1)."""
    q_points, n_items = p.shape
    dist = np.zeros((q_points, n_items + 1))
    dist[:, 0] = 1.0
    for j in range(n_items):
        shifted = np.zeros_like(dist)
        shifted[:, 1:] = dist[:, :-1] * p[:, [j]]
        dist = dist * (1 - p[:, [j]]) + shifted
    return dist


def summed_score_distribution(probs: list[np.ndarray]) -> np.ndarray:
    """Generalised Lord–Wingersky recursion: P(summed score = s | θ_q) from per-item category probabilities
    (a list of (Q, K_j) matrices); returns (Q, Σ(K_j - 1) + 1)."""
    q_points = probs[0].shape[0] if probs else 1
    dist = np.ones((q_points, 1))
    for item in probs:
        k = item.shape[1]
        grown = np.zeros((q_points, dist.shape[1] + k - 1))
        for category in range(k):
            grown[:, category : category + dist.shape[1]] += dist * item[:, [category]]
        dist = grown
    return dist


def _parameters(params: ItemParams, j: int) -> int:
    if params.model in PARAMETERS:
        return PARAMETERS[params.model]
    return int(params.categories[j])  # a slope and K - 1 thresholds


def s_x2(params: ItemParams, x: np.ndarray, *, quad_points: int = 61) -> ItemFit:
    """S-X2 (Orlando & Thissen 2000; Kang & Chen 2008 for polytomous items) on complete response rows.

    For each summed score s (the extremes excluded) the observed share of each category of item j is compared
    with its model expectation Σ_q w_q P_jk(θ_q) P(rest = s - k | θ_q) / P(s), both from Lord–Wingersky.
    Neighbouring score groups are pooled until every cell expects at least one examinee; df = groups x (K - 1)
    minus the item's parameter count.
    """
    x = np.asarray(x, float)
    x = x[~np.isnan(x).any(axis=1)]
    n_items = params.n_items
    grid, weights = quadrature(quad_points)
    probs = category_probs(params, grid)
    marginal = weights @ summed_score_distribution(probs)  # P(total = s)
    top = len(marginal) - 1
    totals = np.rint(x.sum(axis=1)).astype(int)
    stats = np.full(n_items, np.nan)
    dfs = np.full(n_items, np.nan)
    for j in range(n_items):
        k_j = probs[j].shape[1]
        rest = summed_score_distribution(probs[:j] + probs[j + 1 :])  # (Q, top - k_j + 2)
        counts, observed, expected = [], [], []
        for total in range(1, top):
            in_group = totals == total
            n_s = int(in_group.sum())
            if n_s == 0 or marginal[total] <= 0:
                continue
            e = np.zeros(k_j)
            for category in range(k_j):
                if 0 <= total - category < rest.shape[1]:
                    e[category] = weights @ (probs[j][:, category] * rest[:, total - category]) / marginal[total]
            o = np.bincount(x[in_group, j].astype(int), minlength=k_j)[:k_j] / n_s
            counts.append(float(n_s))
            observed.append(o)
            expected.append(e)
        groups = _pool(counts, observed, expected)
        if len(groups) < 2:
            continue
        stats[j] = float(sum(n * np.sum((o - e) ** 2 / e) for n, o, e in groups))
        dfs[j] = len(groups) * (k_j - 1) - _parameters(params, j)
    dfs = np.where(dfs > 0, dfs, np.nan)
    with np.errstate(invalid="ignore"):
        p_values = np.where(np.isnan(dfs), np.nan, chi2.sf(stats, np.nan_to_num(dfs, nan=1)))
    return ItemFit(stats, dfs, p_values)


def _pool(
    counts: list[float], observed: list[np.ndarray], expected: list[np.ndarray]
) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """Merge adjacent score groups until every category expects at least one examinee in the group."""
    groups: list[tuple[float, np.ndarray, np.ndarray]] = []
    acc_n = 0.0
    acc_o: np.ndarray | None = None
    acc_e: np.ndarray | None = None
    for n, o, e in zip(counts, observed, expected, strict=True):
        acc_o = o * n if acc_o is None else acc_o + o * n
        acc_e = e * n if acc_e is None else acc_e + e * n
        acc_n += n
        if np.all(acc_e >= 1):
            groups.append((acc_n, acc_o / acc_n, acc_e / acc_n))
            acc_n, acc_o, acc_e = 0.0, None, None
    if acc_n and groups and acc_o is not None and acc_e is not None:
        last_n, last_o, last_e = groups.pop()
        total = last_n + acc_n
        groups.append((total, (last_o * last_n + acc_o) / total, (last_e * last_n + acc_e) / total))
    return groups


@dataclass
class ModelComparison:
    """One calibrated model in a comparison table; the likelihood-ratio test is against the largest nested model."""

    model: str
    loglik: float
    n_parameters: int
    aic: float
    bic: float
    lr_statistic: float | None = None
    lr_df: int | None = None
    lr_p_value: float | None = None


NESTING = {"rasch": 0, "1pl": 0, "2pl": 1, "3pl": 2}  # each dichotomous model is a special case of the next


def compare_models(results: Mapping[str, CalibrationResult]) -> list[ModelComparison]:
    """Log-likelihood, AIC and BIC per model, best (lowest BIC) first.

    Rasch/1PL ⊂ 2PL ⊂ 3PL are nested, so each smaller dichotomous model also gets a likelihood-ratio test
    against the largest one in the set (df = difference in parameters); GRM and GPCM are not nested.
    """
    rows = [ModelComparison(name, r.loglik, r.n_parameters, r.aic, r.bic) for name, r in results.items()]
    nested = [row for row in rows if row.model in NESTING]
    if nested:
        largest = max(nested, key=lambda row: (NESTING[row.model], row.n_parameters))
        for row in nested:
            df = largest.n_parameters - row.n_parameters
            if row is largest or df <= 0:
                continue
            statistic = max(0.0, 2 * (largest.loglik - row.loglik))
            row.lr_statistic, row.lr_df, row.lr_p_value = statistic, df, float(chi2.sf(statistic, df))
    return sorted(rows, key=lambda row: row.bic)
