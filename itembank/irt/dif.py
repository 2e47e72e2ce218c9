"""Differential item functioning by Mantel–Haenszel with the ETS A/B/C classification (PURE numpy/scipy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2


@dataclass
class MHResult:
    """One item's Mantel–Haenszel DIF statistics (reference vs focal group, matched on total score)."""

    odds_ratio: float
    delta: float  # MH D-DIF = -2.35 ln(alpha): negative values favour the reference group
    chi_square: float
    p_value: float
    ets_class: str  # A (negligible), B (moderate), C (large)


def mantel_haenszel(item: np.ndarray, matching: np.ndarray, focal: np.ndarray) -> MHResult:
    """MH DIF for one 0/1 item; `matching` is the stratifying score, `focal` marks focal-group examinees."""
    item, matching, focal = np.asarray(item, float), np.asarray(matching), np.asarray(focal, bool)
    seen = ~np.isnan(item)
    num = den = 0.0
    a_sum = e_sum = v_sum = 0.0
    var_terms = []
    for level in np.unique(matching[seen]):
        s = seen & (matching == level)
        ref, foc = s & ~focal, s & focal
        a, b = item[ref].sum(), (1 - item[ref]).sum()  # reference right / wrong
        c, d = item[foc].sum(), (1 - item[foc]).sum()  # focal right / wrong
        t = a + b + c + d
        if t < 2 or (a + b) == 0 or (c + d) == 0:
            continue
        num += a * d / t
        den += b * c / t
        m1, m0, nr, nf = a + c, b + d, a + b, c + d
        a_sum += a
        e_sum += nr * m1 / t
        v_sum += nr * nf * m1 * m0 / (t * t * (t - 1))
        var_terms.append(t)
    alpha = num / den if den > 0 else float("inf")
    delta = -2.35 * np.log(alpha) if 0 < alpha < float("inf") else float("nan")
    chi_square = (abs(a_sum - e_sum) - 0.5) ** 2 / v_sum if v_sum > 0 else float("nan")
    p_value = float(chi2.sf(chi_square, 1)) if not np.isnan(chi_square) else float("nan")
    return MHResult(float(alpha), float(delta), float(chi_square), p_value, ets_class(delta, p_value))


def ets_class(delta: float, p_value: float) -> str:
    """ETS rule: C if |Δ| >= 1.5 and significant, A if |Δ| < 1 or not significant, B otherwise."""
    if np.isnan(delta) or np.isnan(p_value) or p_value >= 0.05 or abs(delta) < 1.0:
        return "A"
    return "C" if abs(delta) >= 1.5 else "B"
