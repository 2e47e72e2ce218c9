"""Model fit (PURE numpy/scipy): information criteria and the S-X2 item fit statistic of Orlando and Thissen."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

from itembank.irt.estimation import quadrature
from itembank.irt.models import DICHOTOMOUS, ItemParams, p_correct

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


def s_x2(params: ItemParams, x: np.ndarray, *, quad_points: int = 61) -> ItemFit:
    """S-X2 for dichotomous items on complete response rows; summed-score groups with no examinees are skipped
    and neighbouring groups with small expected counts are pooled (expected count at least 1 in each cell)."""
    if params.model not in DICHOTOMOUS:
        raise ValueError("S-X2 is implemented for dichotomous models")
    x = np.asarray(x, float)
    x = x[~np.isnan(x).any(axis=1)]
    n_items = params.n_items
    grid, weights = quadrature(quad_points)
    p = p_correct(grid, params.a, params.b, params.c)
    full = lord_wingersky(p)
    marginal = weights @ full  # P(total = k)
    totals = x.sum(axis=1).astype(int)
    stats = np.full(n_items, np.nan)
    dfs = np.full(n_items, np.nan)
    for j in range(n_items):
        rest = lord_wingersky(np.delete(p, j, axis=1))  # (Q, J)
        expected, observed, count = [], [], []
        for k in range(1, n_items):
            n_k = np.sum(totals == k)
            if n_k == 0 or marginal[k] <= 0:
                continue
            e = float(weights @ (p[:, j] * rest[:, k - 1]) / marginal[k])
            expected.append(e)
            observed.append(float(np.mean(x[totals == k, j])))
            count.append(float(n_k))
        groups = _pool(np.array(count), np.array(observed), np.array(expected))
        if len(groups) < 2:
            continue
        n_k, o_k, e_k = (np.array(v) for v in zip(*groups, strict=True))
        stats[j] = float(np.sum(n_k * (o_k - e_k) ** 2 / np.clip(e_k * (1 - e_k), 1e-10, None)))
        dfs[j] = len(groups) - PARAMETERS[params.model]
    dfs = np.where(dfs > 0, dfs, np.nan)
    with np.errstate(invalid="ignore"):
        p_values = np.where(np.isnan(dfs), np.nan, chi2.sf(stats, np.nan_to_num(dfs, nan=1)))
    return ItemFit(stats, dfs, p_values)


def _pool(n: np.ndarray, o: np.ndarray, e: np.ndarray) -> list[tuple[float, float, float]]:
    """Merge adjacent score groups until each has at least one expected right and one expected wrong answer."""
    groups: list[tuple[float, float, float]] = []
    acc_n = acc_o = acc_e = 0.0
    for n_k, o_k, e_k in zip(n, o, e, strict=True):
        acc_o = (acc_o * acc_n + o_k * n_k) / (acc_n + n_k)
        acc_e = (acc_e * acc_n + e_k * n_k) / (acc_n + n_k)
        acc_n += n_k
        if acc_n * acc_e >= 1 and acc_n * (1 - acc_e) >= 1:
            groups.append((acc_n, acc_o, acc_e))
            acc_n = acc_o = acc_e = 0.0
    if acc_n and groups:
        last_n, last_o, last_e = groups.pop()
        total = last_n + acc_n
        groups.append((total, (last_o * last_n + acc_o * acc_n) / total, (last_e * last_n + acc_e * acc_n) / total))
    return groups
