"""Classical test theory item analysis (PURE numpy): difficulty, discrimination, distractors, reliability."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm


@dataclass
class ItemStatistics:
    """Per-item classical statistics (arrays of length J) and test-level reliability."""

    p_value: np.ndarray  # mean score / max score
    point_biserial: np.ndarray  # item vs rest score
    biserial: np.ndarray
    discrimination_index: np.ndarray  # upper 27 % minus lower 27 % (proportion of max)
    alpha_if_deleted: np.ndarray
    alpha: float  # Cronbach's alpha (KR-20 for 0/1 items)
    sem: float  # standard error of measurement of the total score
    n: np.ndarray  # examinees who saw each item


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    if x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def cronbach_alpha(scores: np.ndarray) -> float:
    """Cronbach's alpha on complete rows (equals KR-20 for 0/1 items)."""
    complete = scores[~np.isnan(scores).any(axis=1)]
    k = complete.shape[1]
    if k < 2 or complete.shape[0] < 2:
        return float("nan")
    total_var = complete.sum(axis=1).var(ddof=1)
    if total_var == 0:
        return float("nan")
    return float(k / (k - 1) * (1 - complete.var(axis=0, ddof=1).sum() / total_var))


def item_statistics(scores: np.ndarray, max_points: np.ndarray | None = None) -> ItemStatistics:
    """Classical statistics from an (N, J) score matrix (NaN = not presented; rest scores use what was seen)."""
    scores = np.asarray(scores, float)
    n_items = scores.shape[1]
    max_points = np.nanmax(scores, axis=0) if max_points is None else np.asarray(max_points, float)
    max_points = np.where(max_points > 0, max_points, 1.0)
    total = np.nansum(scores, axis=1)
    p_value = np.nanmean(scores, axis=0) / max_points
    pbis = np.full(n_items, np.nan)
    bis = np.full(n_items, np.nan)
    index = np.full(n_items, np.nan)
    order = np.argsort(total, kind="stable")
    cut = max(1, round(0.27 * len(total)))
    lower, upper = order[:cut], order[-cut:]
    for j in range(n_items):
        seen = ~np.isnan(scores[:, j])
        item = scores[seen, j]
        rest = total[seen] - item
        pbis[j] = _corr(item, rest)
        p = p_value[j]
        if 0 < p < 1 and not np.isnan(pbis[j]):
            # Biserial from point-biserial for a dichotomised normal: r_bis = r_pb sqrt(pq) / φ(z_p).
            bis[j] = pbis[j] * np.sqrt(p * (1 - p)) / norm.pdf(norm.ppf(p))
        up = scores[upper, j]
        lo = scores[lower, j]
        index[j] = (np.nanmean(up) - np.nanmean(lo)) / max_points[j]
    alpha = cronbach_alpha(scores)
    deleted = np.array([cronbach_alpha(np.delete(scores, j, axis=1)) for j in range(n_items)])
    sem = float(np.nanstd(total, ddof=1) * np.sqrt(max(0.0, 1 - alpha))) if not np.isnan(alpha) else float("nan")
    return ItemStatistics(p_value, pbis, bis, index, deleted, alpha, sem, (~np.isnan(scores)).sum(axis=0))


@dataclass
class DistractorRow:
    """One option of one item: who chose it and how their total scores relate to choosing it."""

    option: str
    proportion: float
    point_biserial: float
    upper_proportion: float
    lower_proportion: float
    is_key: bool


def distractor_analysis(choices: list[str | None], total: np.ndarray, key: str) -> list[DistractorRow]:
    """Choice proportions and option-total point-biserials; a distractor strong students prefer is suspicious."""
    total = np.asarray(total, float)
    if len(choices) != len(total):
        raise ValueError(f"{len(choices)} choices but {len(total)} total scores")
    labels = np.array(["" if c is None else str(c) for c in choices])
    answered = np.array([c is not None for c in choices])
    options = sorted(set(labels[answered].tolist()))
    order = np.argsort(total, kind="stable")
    cut = max(1, round(0.27 * len(total)))
    lower, upper = order[:cut], order[-cut:]
    rows = []
    for option in options:
        chose = ((labels == option) & answered).astype(float)
        rows.append(
            DistractorRow(
                option=option,
                proportion=float(chose.mean()),
                point_biserial=_corr(chose, total),
                upper_proportion=float(chose[upper].mean()),
                lower_proportion=float(chose[lower].mean()),
                is_key=option == key,
            )
        )
    return rows
