"""Ability estimates (PURE numpy): EAP with posterior SD, MAP and ML with standard errors, any model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from itembank.irt.estimation import quadrature
from itembank.irt.models import EPS, ItemParams, category_probs, item_information

THETA_BOUND = 6.0


@dataclass
class AbilityEstimates:
    """θ and its standard error per examinee; `extreme` marks ML estimates held at the bound (all right/wrong)."""

    theta: np.ndarray
    se: np.ndarray
    method: str
    extreme: np.ndarray


def person_loglik(params: ItemParams, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Log-likelihood of each examinee's responses at their own θ (NaN responses ignored)."""
    total = np.zeros(len(theta))
    for j, probs in enumerate(category_probs(params, theta)):
        observed = ~np.isnan(x[:, j])
        k = np.where(observed, x[:, j], 0).astype(int)
        total += np.where(observed, np.log(np.clip(probs[np.arange(len(theta)), k], EPS, None)), 0.0)
    return total


def grid_loglik(params: ItemParams, x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Log-likelihood of every examinee at every grid point: (N, Q)."""
    out = np.zeros((x.shape[0], len(grid)))
    for j, probs in enumerate(category_probs(params, grid)):
        observed = ~np.isnan(x[:, j])
        k = np.where(observed, x[:, j], 0).astype(int)
        out += np.where(observed[:, None], np.log(np.clip(probs[:, k].T, EPS, None)), 0.0)
    return out


class ScoringInputError(ValueError):
    """Responses that do not fit the item parameters; the message names the row and item."""


def _check(params: ItemParams, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, float)
    if x.ndim != 2 or x.shape[1] != params.n_items:
        raise ScoringInputError(f"responses have {x.shape[-1]} columns but there are {params.n_items} item parameters")
    top = (params.categories - 1).astype(float)
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(x) & ((x < 0) | (x > top) | (x != np.round(x)))
    if bad.any():
        row, j = (int(v) for v in np.argwhere(bad)[0])
        raise ScoringInputError(
            f"row {row + 1}, item {params.item_ids[j]}: score {x[row, j]:g} is outside 0..{top[j]:g}"
        )
    return x


def eap(params: ItemParams, x: np.ndarray, *, quad_points: int = 61) -> AbilityEstimates:
    """Expected a posteriori θ under a standard normal prior, with the posterior SD as its standard error."""
    x = _check(params, x)
    grid, weights = quadrature(quad_points)
    ll = grid_loglik(params, x, grid) + np.log(weights)
    ll -= ll.max(axis=1, keepdims=True)
    post = np.exp(ll)
    post /= post.sum(axis=1, keepdims=True)
    theta = post @ grid
    sd = np.sqrt(np.clip(post @ grid**2 - theta**2, 0, None))
    return AbilityEstimates(theta, sd, "eap", np.zeros(len(theta), bool))


def _newton(params: ItemParams, x: np.ndarray, start: np.ndarray, prior: bool) -> tuple[np.ndarray, np.ndarray]:
    """Newton-Raphson on each examinee's log-likelihood (+ standard normal log prior), all examinees at once.

    Derivatives are central differences of the exact log-likelihood; returns θ and the second derivative there.
    """
    theta = start.copy()
    h = 1e-4
    hess = np.full(len(theta), -1.0)
    for _ in range(50):
        f0 = person_loglik(params, x, theta)
        fp = person_loglik(params, x, theta + h)
        fm = person_loglik(params, x, theta - h)
        grad = (fp - fm) / (2 * h)
        hess = (fp - 2 * f0 + fm) / h**2
        if prior:
            grad -= theta
            hess -= 1.0
        step = np.where(hess < -1e-8, grad / hess, -np.sign(grad) * 0.5)
        theta = np.clip(theta - np.clip(step, -1, 1), -THETA_BOUND, THETA_BOUND)
        if np.max(np.abs(step), initial=0.0) < 1e-7:
            break
    return theta, hess


def _information(params: ItemParams, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    info = np.zeros(len(theta))
    for start in range(0, len(theta), 10_000):
        block = slice(start, start + 10_000)
        item_info = item_information(params, theta[block])
        info[block] = np.sum(np.where(np.isnan(x[block]), 0.0, item_info), axis=1)
    return info


def map_(params: ItemParams, x: np.ndarray) -> AbilityEstimates:
    """Maximum a posteriori θ (standard normal prior); SE from the curvature of the log posterior at the mode."""
    x = _check(params, x)
    theta, hess = _newton(params, x, eap(params, x).theta, prior=True)
    se = 1.0 / np.sqrt(np.clip(-hess, EPS, None))
    return AbilityEstimates(theta, se, "map", np.zeros(len(theta), bool))


def ml(params: ItemParams, x: np.ndarray) -> AbilityEstimates:
    """Maximum likelihood θ with SE 1/sqrt(information). All-right or all-wrong patterns (and any whose
    likelihood rises all the way to the bound) have no finite ML estimate: they are held at ±6 and marked
    `extreme`, with an infinite SE, rather than reported as if measured."""
    x = _check(params, x)
    expected_max = np.array([probs.shape[1] - 1 for probs in category_probs(params, np.zeros(1))], float)
    observed = ~np.isnan(x)
    low = np.all(np.where(observed, x == 0, True), axis=1)
    high = np.all(np.where(observed, x == expected_max, True), axis=1)
    theta, _ = _newton(params, x, eap(params, x).theta, prior=False)
    theta = np.where(low, -THETA_BOUND, np.where(high, THETA_BOUND, theta))
    with np.errstate(divide="ignore"):
        se = 1.0 / np.sqrt(_information(params, x, theta))
    # All-lowest/all-highest patterns, and patterns whose likelihood keeps rising to the bound (3PL guessing can
    # leave a pattern with no interior maximum), have no finite ML estimate: flagged, SE infinite.
    extreme = low | high | (np.abs(theta) >= THETA_BOUND - 1e-9)
    se[extreme] = np.inf
    return AbilityEstimates(theta, se, "ml", extreme)


def score(params: ItemParams, x: np.ndarray, method: str = "eap") -> AbilityEstimates:
    """Dispatch on the method name used by the CLI and services: eap, map or ml."""
    methods = {"eap": eap, "map": map_, "ml": ml}
    if method not in methods:
        raise ValueError(f"unknown scoring method {method!r}; use eap, map or ml")
    return methods[method](params, x)
