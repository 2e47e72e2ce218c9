"""Standard errors against a numerical Hessian of the marginal log-likelihood, SQUAREM against plain EM, priors,
anchored calibration with the latent mean and SD estimated, and the published LSAT7 pattern frequencies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from itembank.irt.estimation import IRTInputError, Priors, calibrate, log_prior, quadrature
from itembank.irt.models import ItemParams, p_correct
from itembank.irt.scoring import grid_loglik
from itembank.irt.simulate import random_params, simulate_responses

LSAT7 = Path(__file__).parent / "data" / "lsat7.csv"
# Bock & Lieberman (1970) LSAT section 7, as published (e.g. in R mirt's LSAT7 data set).
PUBLISHED = {
    "00000": 12, "00001": 19, "00010": 1, "00011": 7, "00100": 3, "00101": 19, "00110": 3, "00111": 17,
    "01000": 10, "01001": 5, "01010": 3, "01011": 7, "01100": 7, "01101": 23, "01110": 8, "01111": 28,
    "10000": 7, "10001": 39, "10010": 11, "10011": 34, "10100": 14, "10101": 51, "10110": 15, "10111": 90,
    "11000": 6, "11001": 25, "11010": 7, "11011": 35, "11100": 18, "11101": 136, "11110": 32, "11111": 308,
}  # fmt: skip


def _lsat7() -> np.ndarray:
    return np.loadtxt(LSAT7, delimiter=",", skiprows=1, usecols=range(1, 6))


def test_lsat7_file_has_the_published_pattern_frequencies() -> None:
    assert sum(PUBLISHED.values()) == 1000
    x = _lsat7().astype(int)
    patterns, counts = np.unique(x, axis=0, return_counts=True)
    found = {"".join(map(str, p)): int(n) for p, n in zip(patterns, counts, strict=True)}
    assert found == PUBLISHED


def _marginal_loglik(params: ItemParams, x: np.ndarray, quad_points: int = 61) -> float:
    grid, weights = quadrature(quad_points)
    ll = grid_loglik(params, x, grid) + np.log(weights)
    top = ll.max(axis=1)
    return float(np.sum(top + np.log(np.exp(ll - top[:, None]).sum(axis=1))))


def _numerical_se(
    params: ItemParams, x: np.ndarray, j: int, names: list[str], objective_extra: object = None
) -> np.ndarray:
    """SEs of item j's parameters from a finite-difference Hessian of the marginal log-likelihood (+ log prior)."""

    def f(v: np.ndarray) -> float:
        moved = ItemParams(params.model, params.a.copy(), params.b.copy(), params.c.copy(), params.steps.copy())
        for name, value in zip(names, v, strict=True):
            if name in ("a", "b", "c"):
                getattr(moved, name)[j] = value
            else:
                moved.steps[j, int(name[1:]) - 1] = value
        extra = objective_extra(moved) if callable(objective_extra) else 0.0
        return _marginal_loglik(moved, x) + extra

    v0 = np.array([getattr(params, n)[j] if n in ("a", "b", "c") else params.steps[j, int(n[1:]) - 1] for n in names])
    h = 1e-3
    p = len(v0)
    hessian = np.empty((p, p))
    for m in range(p):
        for n in range(p):
            e_m, e_n = np.eye(p)[m] * h, np.eye(p)[n] * h
            hessian[m, n] = (f(v0 + e_m + e_n) - f(v0 + e_m - e_n) - f(v0 - e_m + e_n) + f(v0 - e_m - e_n)) / (
                4 * h * h
            )
    return np.sqrt(np.diag(np.linalg.inv(-hessian)))


def test_2pl_standard_errors_are_the_observed_information() -> None:
    x = _lsat7()
    result = calibrate(x, "2pl", tol=1e-8)
    for j in range(5):
        expected = _numerical_se(result.params, x, j, ["a", "b"])
        np.testing.assert_allclose([result.se["a"][j], result.se["b"][j]], expected, rtol=2e-3)


def test_3pl_and_gpcm_standard_errors_include_the_prior_and_match_the_hessian() -> None:
    truth = random_params("3pl", 8, seed=51)
    x, _ = simulate_responses(truth, 1500, seed=52)
    priors = Priors(c_beta=(5, 17), a_lognormal_sd=0.5)
    result = calibrate(x, "3pl", priors=priors, tol=1e-7)

    def prior(p: ItemParams) -> float:
        return float(log_prior(p, priors).sum())

    for j in (0, 3):
        expected = _numerical_se(result.params, x, j, ["a", "b", "c"], prior)
        got = [result.se[n][j] for n in ("a", "b", "c")]
        np.testing.assert_allclose(got, expected, rtol=1e-2)
    truth = random_params("gpcm", 5, seed=53, categories=3)
    x, _ = simulate_responses(truth, 1200, seed=54)
    result = calibrate(x, "gpcm", tol=1e-7)
    expected = _numerical_se(result.params, x, 2, ["a", "b1", "b2"])
    np.testing.assert_allclose([result.se[n][2] for n in ("a", "b1", "b2")], expected, rtol=1e-2)


def test_squarem_reaches_the_plain_em_solution_in_fewer_e_steps() -> None:
    truth = random_params("2pl", 25, seed=61)
    x, _ = simulate_responses(truth, 3000, seed=62, missing=0.2)
    fast = calibrate(x, "2pl", tol=1e-6)
    plain = calibrate(x, "2pl", tol=1e-6, accelerate=False)
    assert fast.report.converged and plain.report.converged
    assert fast.report.iterations < plain.report.iterations / 2 and fast.report.extrapolations > 0
    np.testing.assert_allclose(fast.params.a, plain.params.a, atol=2e-4)
    np.testing.assert_allclose(fast.params.b, plain.params.b, atol=2e-4)
    assert fast.loglik >= plain.loglik - 1e-4
    assert np.all(np.diff(fast.report.history) > -1e-6)


def test_priors_shrink_small_sample_estimates() -> None:
    truth = random_params("2pl", 20, seed=71)
    x, _ = simulate_responses(truth, 150, seed=72)
    plain = calibrate(x, "2pl")
    shrunk = calibrate(x, "2pl", priors=Priors(a_lognormal_sd=0.25, b_normal_sd=0.75))
    assert np.std(np.log(shrunk.params.a)) < np.std(np.log(plain.params.a))
    assert np.mean(np.abs(shrunk.params.b)) < np.mean(np.abs(plain.params.b))
    assert np.nanmedian(shrunk.se["a"]) < np.nanmedian(plain.se["a"])
    rasch = calibrate(x, "1pl", priors=Priors(b_normal_sd=0.5))
    assert np.mean(np.abs(rasch.params.b)) < np.mean(np.abs(calibrate(x, "1pl").params.b))


def test_anchors_put_a_shifted_cohort_on_the_bank_scale() -> None:
    truth = random_params("2pl", 30, seed=41)
    rng = np.random.default_rng(3)
    theta = rng.normal(0.7, 1.3, 4000)  # a stronger, more spread cohort than the bank's N(0, 1)
    x = (rng.random((4000, 30)) < p_correct(theta, truth.a, truth.b)).astype(float)
    anchors = {j: (truth.a[j], truth.b[j], 0.0) for j in range(10)}
    result = calibrate(x, "2pl", anchors=anchors)
    assert result.latent_mean == pytest.approx(0.7, abs=0.08) and result.latent_sd == pytest.approx(1.3, abs=0.08)
    assert np.sqrt(np.mean((result.params.b[10:] - truth.b[10:]) ** 2)) < 0.08
    assert np.sqrt(np.mean((result.params.a[10:] - truth.a[10:]) ** 2)) < 0.1
    fixed_prior = calibrate(x, "2pl", anchors=anchors, estimate_latent=False)
    assert np.sqrt(np.mean((fixed_prior.params.b[10:] - truth.b[10:]) ** 2)) > 0.15  # why the latent is estimated
    with pytest.raises(IRTInputError, match="anchor items fix the scale"):
        calibrate(x, "2pl", estimate_latent=True)
    with pytest.raises(IRTInputError, match="2PL or 3PL"):
        calibrate(x, "1pl", anchors=anchors)


def test_3pl_recovery_with_the_batched_fisher_step() -> None:
    truth = random_params("3pl", 25, seed=81)
    x, _ = simulate_responses(truth, 8000, seed=82)
    result = calibrate(x, "3pl")
    assert result.report.converged
    assert np.sqrt(np.mean((result.params.b - truth.b) ** 2)) < 0.2
    assert np.sqrt(np.mean((result.params.c - truth.c) ** 2)) < 0.07
    assert np.all(np.diff(result.report.history) > -1e-6)


def test_a_reverse_keyed_item_gets_a_negative_slope() -> None:
    truth = random_params("2pl", 12, seed=91)
    truth.a[0] = -1.2
    x, _ = simulate_responses(truth, 3000, seed=92)
    result = calibrate(x, "2pl")
    assert result.report.converged
    assert result.params.a[0] == pytest.approx(-1.2, abs=0.15) and result.params.b[0] == pytest.approx(
        truth.b[0], abs=0.15
    )
    assert np.sqrt(np.mean((result.params.a[1:] - truth.a[1:]) ** 2)) < 0.1
    # A lognormal prior on a rules negative slopes out.
    assert calibrate(x, "2pl", priors=Priors(a_lognormal_sd=0.5)).params.a[0] > 0


def test_1pl_standard_errors_are_the_observed_information() -> None:
    x = _lsat7()
    result = calibrate(x, "1pl", tol=1e-8)
    for j in (0, 2):
        assert result.se["b"][j] == pytest.approx(_numerical_se(result.params, x, j, ["b"])[0], rel=2e-3)


@pytest.mark.parametrize("model", ["grm", "gpcm", "3pl"])
def test_converged_estimates_are_a_stationary_point_of_the_marginal_likelihood(model: str) -> None:
    truth = random_params(model, 6, seed=151, categories=4)
    x, _ = simulate_responses(truth, 1500, seed=152, missing=0.15)
    if model != "3pl":
        x[:, 0] = np.minimum(x[:, 0], 1)  # an item with fewer categories than the others
    priors = Priors(c_beta=None)  # plain ML, so the gradient of the log-likelihood itself vanishes
    result = calibrate(x, model, tol=1e-8, priors=priors)
    params = result.params
    h = 1e-5
    for j in range(params.n_items):
        names = (
            ["a", "b", "c"] if model == "3pl" else ["a"] + [f"b{k + 1}" for k in range(int(params.categories[j]) - 1)]
        )
        for name in names:
            up, down = (
                ItemParams(model, params.a.copy(), params.b.copy(), params.c.copy(), params.steps.copy())
                for _ in range(2)
            )
            for moved, sign in ((up, 1), (down, -1)):
                if name in ("a", "b", "c"):
                    getattr(moved, name)[j] += sign * h
                else:
                    moved.steps[j, int(name[1:]) - 1] += sign * h
            gradient = (_marginal_loglik(up, x) - _marginal_loglik(down, x)) / (2 * h)
            if name == "c" and params.c[j] < 1e-4:
                assert gradient < 0.05, (j, name, gradient)  # at the c = 0 boundary it may only point outwards
            else:
                assert abs(gradient) < 0.05, (j, name, gradient)
