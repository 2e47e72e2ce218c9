"""Marginal maximum likelihood by EM (Bock–Aitkin) for Rasch, 1PL, 2PL, 3PL, GRM and GPCM (PURE numpy/scipy).

Responses are an (N, J) float array: 0/1 (dichotomous) or 0..K-1 (polytomous), NaN where an item was not
presented. Identical response patterns are merged first (weights), the E-step is two matrix products over a
fixed quadrature grid, and the 2PL/1PL M-steps are Newton steps batched over all items at once, so a
5,000 x 50 calibration is a few dozen small matrix products.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize
from scipy.special import expit
from scipy.stats import norm

from itembank.irt.models import DICHOTOMOUS, EPS, MODELS, ItemParams, category_probs, p_correct


class IRTInputError(ValueError):
    """The response data cannot be calibrated; the message names the column or row."""


@dataclass
class Priors:
    """Optional priors (Bayes modal estimation). None means plain maximum likelihood for that parameter."""

    a_lognormal_sd: float | None = None  # log a ~ N(0, sd²)
    b_normal_sd: float | None = None  # b ~ N(0, sd²) (applied to the intercept d = -a b in the 2PL Newton step)
    c_beta: tuple[float, float] | None = (5.0, 17.0)  # 3PL guessing ~ Beta(α, β): mean about 0.23


@dataclass
class ConvergenceReport:
    """How the EM iterations ended."""

    iterations: int
    converged: bool
    loglik: float
    max_change: float
    history: list[float] = field(default_factory=list)


@dataclass
class CalibrationResult:
    """Estimates with standard errors, fit indices and the convergence report."""

    params: ItemParams
    se: dict[str, np.ndarray]
    report: ConvergenceReport
    n_examinees: int
    n_parameters: int
    latent_sd: float = 1.0  # Rasch: the estimated SD of θ (items have a = 1)

    @property
    def loglik(self) -> float:
        """Marginal log-likelihood at the estimates."""
        return self.report.loglik

    @property
    def aic(self) -> float:
        """Akaike information criterion."""
        return -2 * self.loglik + 2 * self.n_parameters

    @property
    def bic(self) -> float:
        """Bayesian information criterion."""
        return -2 * self.loglik + np.log(self.n_examinees) * self.n_parameters


def quadrature(points: int = 61, bound: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    """Equally spaced nodes on [-bound, bound] with standard-normal weights (as R mirt uses)."""
    theta = np.linspace(-bound, bound, points)
    weights = norm.pdf(theta)
    return theta, weights / weights.sum()


def validate_responses(x: np.ndarray, model: str, item_ids: list[str] | None = None) -> np.ndarray:
    """Check a response matrix and return it as float; errors name the offending column (1-based) or item."""
    if model not in MODELS:
        raise IRTInputError(f"unknown model {model!r}; use one of {', '.join(MODELS)}")
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise IRTInputError("responses must be a table: one row per examinee, one column per item")
    names = item_ids or [f"column {j + 1}" for j in range(x.shape[1])]
    if x.shape[0] < 10:
        raise IRTInputError(f"too few examinees ({x.shape[0]}): calibration needs at least 10 rows")
    observed = ~np.isnan(x)
    for j, name in enumerate(names):
        column = x[observed[:, j], j]
        if column.size == 0:
            raise IRTInputError(f"item {name}: no responses")
        if np.any(column < 0) or np.any(column != np.round(column)):
            raise IRTInputError(f"item {name}: scores must be whole numbers >= 0")
        if model in DICHOTOMOUS and np.any(column > 1):
            raise IRTInputError(f"item {name}: model {model} needs 0/1 scores, found {column.max():g}")
        if np.unique(column).size < 2:
            raise IRTInputError(f"item {name}: every examinee has the same score ({column[0]:g}); no variance")
    return x


def _compress(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge identical response patterns (NaN-aware): returns patterns and their frequencies."""
    coded = np.where(np.isnan(x), -1, x).astype(np.int16)
    patterns, counts = np.unique(coded, axis=0, return_counts=True)
    out = patterns.astype(float)
    out[patterns < 0] = np.nan
    return out, counts.astype(float)


class _Data:
    """Patterns as indicator matrices: Y (P x ΣK) one-hot of observed categories, blocks per item."""

    def __init__(self, x: np.ndarray, freq: np.ndarray, categories: np.ndarray) -> None:
        self.freq = freq
        self.categories = categories
        self.offsets = np.concatenate([[0], np.cumsum(categories)])
        observed = ~np.isnan(x)
        self._x = x
        self._observed = observed
        self._y: np.ndarray | None = None
        self.mask = observed.astype(float)
        self.x0 = np.where(observed, x, 0.0)
        self.complete = bool(observed.all())

    @property
    def y(self) -> np.ndarray:
        """One-hot indicators of the observed categories (built on first use: 0/1 models never need them)."""
        if self._y is None:
            self._y = np.zeros((self._x.shape[0], int(self.offsets[-1])))
            rows, cols = np.nonzero(self._observed)
            self._y[rows, self.offsets[cols] + self._x[rows, cols].astype(int)] = 1.0
        return self._y


def _posterior(ll: np.ndarray, freq: np.ndarray) -> tuple[np.ndarray, float]:
    """Normalise log joint densities (patterns x grid) in place into posteriors; return the log-likelihood."""
    top = ll.max(axis=1, keepdims=True)
    ll -= top
    np.exp(ll, out=ll)
    total = ll.sum(axis=1, keepdims=True)
    ll /= total
    return ll, float(freq @ (top[:, 0] + np.log(total[:, 0])))


def _e_step(log_table: np.ndarray, y: np.ndarray, log_w: np.ndarray, freq: np.ndarray) -> tuple[np.ndarray, float]:
    """Posterior over the grid for every pattern and the marginal log-likelihood (any model)."""
    return _posterior(y @ log_table + log_w, freq)


def _e_step_dichotomous(
    log_p: np.ndarray, log_q: np.ndarray, data: _Data, log_w: np.ndarray
) -> tuple[np.ndarray, float]:
    """The same for 0/1 items with half the work: log L = x @ (log P - log Q) + mask @ log Q."""
    ll = data.x0 @ (log_p - log_q)
    if data.complete:
        ll += log_q.sum(axis=0) + log_w
    else:
        ll += data.mask @ log_q + log_w
    return _posterior(ll, data.freq)


def _log_table(params: ItemParams, theta: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.vstack([p.T for p in category_probs(params, theta)]), EPS, None))


def calibrate(
    responses: np.ndarray,
    model: str = "2pl",
    *,
    item_ids: list[str] | None = None,
    priors: Priors | None = None,
    anchors: dict[int, tuple[float, float, float]] | None = None,
    quad_points: int = 61,
    max_iter: int = 2000,
    tol: float = 1e-4,
    progress: Callable[[int, float], None] | None = None,
) -> CalibrationResult:
    """Calibrate items by MML-EM.

    `anchors` maps column index -> (a, b, c) held fixed at bank values (fixed-parameter calibration: the other
    items land on the bank's scale). `progress(iteration, loglik)` is called every iteration.
    """
    x = validate_responses(responses, model, item_ids)
    n_examinees, n_items = x.shape
    priors = priors or Priors()
    anchors = anchors or {}
    patterns, freq = _compress(x)
    theta, w = quadrature(quad_points)
    log_w = np.log(w)
    categories = np.full(n_items, 2) if model in DICHOTOMOUS else (np.nanmax(x, axis=0) + 1).astype(int)
    data = _Data(patterns, freq, categories)
    params = _start_values(x, model, categories)
    for j, (a, b, c) in anchors.items():
        params.a[j], params.b[j], params.c[j] = a, b, c
    free = np.array([j not in anchors for j in range(n_items)])
    history: list[float] = []
    change = np.inf
    iteration = 0
    loglik = -np.inf
    dichotomous = model in DICHOTOMOUS
    for iteration in range(1, max_iter + 1):
        if dichotomous:
            p = np.clip(p_correct(theta, params.a, params.b, params.c).T, EPS, 1 - EPS)  # (J, Q)
            post, loglik = _e_step_dichotomous(np.log(p), np.log1p(-p), data, log_w)
        else:
            post, loglik = _e_step(_log_table(params, theta), data.y, log_w, freq)
        history.append(loglik)
        if progress:
            progress(iteration, loglik)
        weighted = post * freq[:, None]
        if dichotomous:
            right = data.x0.T @ weighted
            total = np.broadcast_to(weighted.sum(axis=0), right.shape) if data.complete else data.mask.T @ weighted
            counts = np.empty((2 * n_items, len(theta)))
            counts[0::2], counts[1::2] = total - right, right
        else:
            counts = data.y.T @ weighted  # (ΣK, Q) expected category counts
        before = _vector(params)
        _m_step(params, model, counts, data, theta, priors, free)
        change = float(np.max(np.abs(_vector(params) - before)))
        if change < tol:
            break
    post, loglik = _e_step(_log_table(params, theta), data.y, log_w, freq)
    history.append(loglik)
    latent_sd = 1.0
    if model == "rasch":
        # Fitted as a common-slope model on N(0, 1); Rasch reports a = 1 and θ ~ N(0, a²), so b' = a b.
        latent_sd = float(params.a[0])
        params.b = params.b * latent_sd
        params.a = np.ones(n_items)
    se = _standard_errors(params, model, data, post, theta, latent_sd, free)
    n_free = int(free.sum())
    per_item = {"rasch": 1, "1pl": 1, "2pl": 2, "3pl": 3}.get(model)
    n_parameters = n_free * per_item if per_item else int((categories[free]).sum())
    if model in ("rasch", "1pl"):
        n_parameters += 1
    report = ConvergenceReport(iteration, change < tol, loglik, change, history)
    return CalibrationResult(params, se, report, n_examinees, n_parameters, latent_sd)


def _start_values(x: np.ndarray, model: str, categories: np.ndarray) -> ItemParams:
    n_items = x.shape[1]
    a = np.ones(n_items)
    c = np.zeros(n_items)
    if model in DICHOTOMOUS:
        p = np.clip(np.nanmean(x, axis=0), 0.02, 0.98)
        b = -np.log(p / (1 - p)) / 1.0
        if model == "3pl":
            c = np.full(n_items, 0.15)
        return ItemParams(model, a, b, c)
    steps = np.full((n_items, int(categories.max()) - 1), np.nan)
    for j in range(n_items):
        k = int(categories[j]) - 1
        column = x[~np.isnan(x[:, j]), j]
        cumulative = np.array([np.mean(column >= level) for level in range(1, k + 1)])
        cumulative = np.clip(cumulative, 0.02, 0.98)
        steps[j, :k] = np.sort(-np.log(cumulative / (1 - cumulative)))
    return ItemParams(model, a, np.nanmean(steps, axis=1), c, steps)


def _vector(params: ItemParams) -> np.ndarray:
    parts = [params.a, params.b, params.c]
    if params.steps.size:
        parts.append(np.nan_to_num(params.steps.ravel()))
    return np.concatenate(parts)


def _m_step(
    params: ItemParams,
    model: str,
    counts: np.ndarray,
    data: _Data,
    theta: np.ndarray,
    priors: Priors,
    free: np.ndarray,
) -> None:
    if model in DICHOTOMOUS:
        # Rows of `counts` alternate (wrong, right) per item.
        right = counts[1::2]
        total = counts[0::2] + right
        if model == "2pl":
            _newton_2pl(params, right, total, theta, priors, free)
        elif model in ("1pl", "rasch"):
            _newton_common_slope(params, right, total, theta, free)
        else:
            _optimise_3pl(params, right, total, theta, priors, free)
        return
    for j in np.nonzero(free)[0]:
        block = counts[data.offsets[j] : data.offsets[j + 1]]
        _optimise_polytomous(params, j, block, theta)


def _newton_2pl(
    params: ItemParams, right: np.ndarray, total: np.ndarray, theta: np.ndarray, priors: Priors, free: np.ndarray
) -> None:
    """Newton steps on (a, d), d = -a b, for all items at once: each item's 2 x 2 system solved in closed form."""
    a = params.a.copy()
    d = -params.a * params.b
    for _ in range(2):
        p = expit(np.clip(a[:, None] * theta[None, :] + d[:, None], -40, 40))
        resid = right - total * p
        weight = total * p * (1 - p)
        g_a = resid @ theta
        g_d = resid.sum(axis=1)
        h_aa = -(weight @ theta**2)
        h_ad = -(weight @ theta)
        h_dd = -weight.sum(axis=1)
        if priors.a_lognormal_sd:
            s2 = priors.a_lognormal_sd**2
            log_a = np.log(a)
            g_a += -1 / a - log_a / (s2 * a)
            h_aa += 1 / a**2 - (1 - log_a) / (s2 * a**2)
        if priors.b_normal_sd:
            g_d += -d / priors.b_normal_sd**2
            h_dd += -1 / priors.b_normal_sd**2
        det = h_aa * h_dd - h_ad**2
        det = np.where(np.abs(det) < 1e-12, -1e-12, det)
        step_a = (h_dd * g_a - h_ad * g_d) / det
        step_d = (h_aa * g_d - h_ad * g_a) / det
        # Newton on a concave objective: the step is -H^-1 g; damp large steps for stability.
        scale = np.minimum(1.0, 1.0 / np.maximum(np.abs(step_a), np.abs(step_d)).clip(1e-12))
        a = np.where(free, a - scale * step_a, a)
        d = np.where(free, d - scale * step_d, d)
        a = np.clip(a, 1e-3, 20)
    params.a = a
    params.b = -d / a


def _newton_common_slope(
    params: ItemParams, right: np.ndarray, total: np.ndarray, theta: np.ndarray, free: np.ndarray
) -> None:
    """One slope shared by all items (1PL; Rasch with the latent SD as that slope) and an intercept per item."""
    a = float(params.a[0])
    d = -params.a * params.b
    for _ in range(2):
        p = expit(np.clip(a * theta[None, :] + d[:, None], -40, 40))
        resid = right - total * p
        weight = total * p * (1 - p)
        d = np.where(free, d + resid.sum(axis=1) / np.clip(weight.sum(axis=1), 1e-12, None), d)
        p = expit(np.clip(a * theta[None, :] + d[:, None], -40, 40))
        resid = right - total * p
        weight = total * p * (1 - p)
        step = float((resid @ theta).sum() / max((weight @ theta**2).sum(), 1e-12))
        a = float(np.clip(a + np.clip(step, -1, 1), 1e-3, 20))
    params.a = np.full_like(params.a, a)
    params.b = -d / a


def _optimise_3pl(
    params: ItemParams, right: np.ndarray, total: np.ndarray, theta: np.ndarray, priors: Priors, free: np.ndarray
) -> None:
    alpha, beta = priors.c_beta or (1.0, 1.0)
    for j in np.nonzero(free)[0]:
        r, n = right[j], total[j]

        def negative(v: np.ndarray, r: np.ndarray = r, n: np.ndarray = n) -> float:
            a, d, logit_c = v
            c = expit(logit_c)
            p = np.clip(c + (1 - c) * expit(np.clip(a * theta + d, -40, 40)), EPS, 1 - EPS)
            value = r @ np.log(p) + (n - r) @ np.log(1 - p)
            value += (alpha - 1) * np.log(c) + (beta - 1) * np.log(1 - c)
            return -float(value)

        start = np.array([params.a[j], -params.a[j] * params.b[j], np.log(params.c[j] / (1 - params.c[j]))])
        best = optimize.minimize(negative, start, method="L-BFGS-B", bounds=[(1e-3, 20), (-60, 60), (-12, 0)]).x
        params.a[j], params.b[j], params.c[j] = best[0], -best[1] / best[0], expit(best[2])


def _optimise_polytomous(params: ItemParams, j: int, block: np.ndarray, theta: np.ndarray) -> None:
    k = block.shape[0] - 1
    single = ItemParams(params.model, params.a[[j]], params.b[[j]], params.c[[j]], params.steps[[j]])

    def negative(v: np.ndarray) -> float:
        single.a[0] = v[0]
        single.steps[0, :k] = v[1:] if params.model == "gpcm" else np.cumsum(np.r_[v[1], np.exp(v[2:])])
        probs = category_probs(single, theta)[0]
        return -float(np.sum(block.T * np.log(probs)))

    steps = params.steps[j, :k]
    if params.model == "gpcm":
        start = np.r_[params.a[j], steps]
    else:  # GRM thresholds kept ordered: first threshold, then log gaps
        start = np.r_[params.a[j], steps[0], np.log(np.clip(np.diff(steps), 1e-3, None))]
    bounds = [(1e-3, 20)] + [(-30, 30)] * k
    best = optimize.minimize(negative, start, method="L-BFGS-B", bounds=bounds).x
    negative(best)
    params.a[j] = best[0]
    params.steps[j, :k] = single.steps[0, :k]
    params.b[j] = float(np.mean(single.steps[0, :k]))


def _standard_errors(
    params: ItemParams,
    model: str,
    data: _Data,
    post: np.ndarray,
    theta: np.ndarray,
    latent_sd: float,
    free: np.ndarray,
) -> dict[str, np.ndarray]:
    """Cross-product (empirical information) standard errors per item, from each pattern's score vector.

    The score of pattern i for item j is Σ_q post_iq ∂ log P(x_ij | θ_q) / ∂ξ_j, with the derivatives of the
    log category probabilities taken numerically in the reported metric (a, b, c or a, thresholds).
    """
    n_items = params.n_items
    names = {"rasch": ["b"], "1pl": ["b"], "2pl": ["a", "b"], "3pl": ["a", "b", "c"]}.get(model)
    grid = theta * latent_sd if model == "rasch" else theta
    out: dict[str, np.ndarray] = {}
    if names is None:
        k_max = params.steps.shape[1]
        names = ["a"] + [f"b{k + 1}" for k in range(k_max)]
    for name in names:
        out[name] = np.full(n_items, np.nan)
    if model == "2pl":
        return _standard_errors_2pl(params, data, post, theta, free)
    h = 1e-4
    for j in np.nonzero(free)[0]:
        single = _item(params, j)
        vector, setters = _reported(single, names)
        derivatives = []
        for index in range(len(vector)):
            up, down = vector.copy(), vector.copy()
            up[index] += h
            down[index] -= h
            setters(up)
            log_up = np.log(category_probs(single, grid)[0])
            setters(down)
            log_down = np.log(category_probs(single, grid)[0])
            derivatives.append((log_up - log_down) / (2 * h))  # (Q, K)
        setters(vector)
        block = data.y[:, data.offsets[j] : data.offsets[j + 1]]  # (P, K) one-hot, zero rows when missing
        scores = np.column_stack([np.sum((post @ deriv) * block, axis=1) for deriv in derivatives])
        info = (scores * data.freq[:, None]).T @ scores
        try:
            cov = np.linalg.inv(info)
            variances = np.diag(cov)
        except np.linalg.LinAlgError:
            continue
        for name, variance in zip(names, variances, strict=False):
            if name in out and variance > 0:
                out[name][j] = np.sqrt(variance)
    return out


def _standard_errors_2pl(
    params: ItemParams, data: _Data, post: np.ndarray, theta: np.ndarray, free: np.ndarray
) -> dict[str, np.ndarray]:
    """The same cross-product information in closed form for the 2PL, all items at once.

    ∂ log P(x | θ) / ∂a = (x - P)(θ - b) and ∂ / ∂b = -a (x - P), averaged over each pattern's posterior.
    """
    p = p_correct(theta, params.a, params.b)  # (Q, J)
    centred = theta[:, None] - params.b[None, :]
    i_aa = np.zeros(params.n_items)
    i_bb = np.zeros(params.n_items)
    i_ab = np.zeros(params.n_items)
    for start in range(0, post.shape[0], 20_000):  # in row blocks: bounded memory at 100,000+ examinees
        rows = slice(start, start + 20_000)
        mask, x0, block = data.mask[rows], data.x0[rows], post[rows]
        score_b = -params.a * mask * (x0 - block @ p)
        score_a = mask * (x0 * (block @ centred) - block @ (centred * p))
        f = data.freq[rows, None]
        i_aa += (f * score_a**2).sum(axis=0)
        i_bb += (f * score_b**2).sum(axis=0)
        i_ab += (f * score_a * score_b).sum(axis=0)
    det = i_aa * i_bb - i_ab**2
    with np.errstate(divide="ignore", invalid="ignore"):
        se_a = np.where(free & (det > 0), np.sqrt(i_bb / det), np.nan)
        se_b = np.where(free & (det > 0), np.sqrt(i_aa / det), np.nan)
    return {"a": se_a, "b": se_b}


def _item(params: ItemParams, j: int) -> ItemParams:
    return ItemParams(
        params.model,
        params.a[[j]].copy(),
        params.b[[j]].copy(),
        params.c[[j]].copy(),
        params.steps[[j]].copy() if params.steps.size else params.steps,
        [params.item_ids[j]],
    )


def _reported(single: ItemParams, names: list[str]) -> tuple[np.ndarray, Callable[[np.ndarray], None]]:
    if single.model in DICHOTOMOUS:
        fields = [n for n in names if n in ("a", "b", "c")]

        def set_dichotomous(v: np.ndarray) -> None:
            for name, value in zip(fields, v, strict=True):
                getattr(single, name)[0] = value

        return np.array([getattr(single, n)[0] for n in fields]), set_dichotomous
    k = int(np.sum(~np.isnan(single.steps[0])))

    def set_polytomous(v: np.ndarray) -> None:
        single.a[0] = v[0]
        single.steps[0, :k] = v[1:]

    return np.r_[single.a[0], single.steps[0, :k]], set_polytomous
