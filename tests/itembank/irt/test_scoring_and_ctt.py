"""Scoring against brute-force integration and maximisation on a fine grid; classical statistics and
Mantel–Haenszel against hand-worked numbers; polytomous models; model comparison."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2, norm

from itembank.irt.ctt import distractor_analysis, item_statistics
from itembank.irt.dif import ets_class, mantel_haenszel
from itembank.irt.estimation import calibrate
from itembank.irt.fit import compare_models, lord_wingersky, s_x2, summed_score_distribution
from itembank.irt.linking import stocking_lord
from itembank.irt.models import ItemParams, category_probs, expected_scores, item_information, tcc
from itembank.irt.scoring import ScoringInputError, eap, map_, ml, score
from itembank.irt.simulate import random_params, simulate_responses

FINE = np.linspace(-8, 8, 32001)


def _brute_loglik(params: ItemParams, row: np.ndarray) -> np.ndarray:
    total = np.zeros_like(FINE)
    for j, probs in enumerate(category_probs(params, FINE)):
        if not np.isnan(row[j]):
            total += np.log(probs[:, int(row[j])])
    return total


@pytest.mark.parametrize("model", ["3pl", "grm", "gpcm"])
def test_eap_map_ml_equal_brute_force(model: str) -> None:
    params = random_params(model, 10, seed=91, categories=4)
    x, _ = simulate_responses(params, 6, seed=92, missing=0.2)
    x[0] = np.where(np.isnan(x[0]), np.nan, 0)  # an all-lowest pattern: ML must flag it
    eap_est, map_est, ml_est = eap(params, x), map_(params, x), ml(params, x)
    for i in range(6):
        ll = _brute_loglik(params, x[i])
        log_post = ll - FINE**2 / 2
        post = np.exp(log_post - log_post.max())
        mean = np.sum(FINE * post) / post.sum()
        assert eap_est.theta[i] == pytest.approx(mean, abs=2e-3)
        assert eap_est.se[i] == pytest.approx(np.sqrt(np.sum((FINE - mean) ** 2 * post) / post.sum()), abs=2e-3)
        mode = FINE[np.argmax(log_post)]
        assert map_est.theta[i] == pytest.approx(mode, abs=1e-3)
        k = np.argmax(log_post)
        curvature = (log_post[k + 20] - 2 * log_post[k] + log_post[k - 20]) / (20 * (FINE[1] - FINE[0])) ** 2
        assert map_est.se[i] == pytest.approx(1 / np.sqrt(-curvature), rel=1e-2)
        if i == 0:
            assert ml_est.extreme[0] and ml_est.theta[0] == -6 and np.isinf(ml_est.se[0])
        elif ml_est.extreme[i]:  # no interior maximum: the likelihood is highest at or beyond the bound
            assert abs(FINE[np.argmax(ll)]) >= 6 and np.sign(FINE[np.argmax(ll)]) == np.sign(ml_est.theta[i])
        else:
            assert ml_est.theta[i] == pytest.approx(FINE[np.argmax(ll)], abs=1e-3)


def test_scoring_refuses_scores_the_items_cannot_have() -> None:
    params = random_params("2pl", 3, seed=1)
    with pytest.raises(ScoringInputError, match=r"row 2, item item3: score 2 is outside 0..1"):
        score(params, np.array([[0, 1, 1], [1, 0, 2]], float))
    with pytest.raises(ScoringInputError, match="2 columns but there are 3"):
        eap(params, np.zeros((1, 2)))


def test_polytomous_information_and_expected_score() -> None:
    params = ItemParams("gpcm", np.array([1.3]), np.array([0.0]), np.zeros(1), np.array([[-0.5, 0.4]]))
    theta = np.array([-1.0, 0.3, 1.2])
    # GPCM information is a² Var(X | θ).
    probs = category_probs(params, theta)[0]
    mean = probs @ np.arange(3)
    variance = probs @ np.arange(3) ** 2 - mean**2
    np.testing.assert_allclose(item_information(params, theta)[:, 0], 1.3**2 * variance, rtol=1e-6)
    np.testing.assert_allclose(expected_scores(params, theta)[:, 0], mean)
    assert tcc(params, theta)[1] == pytest.approx(mean[1])


def test_ctt_by_hand() -> None:
    # Ten examinees, four items; totals 0..4 chosen so the upper/lower 27 % (3 examinees each) are unambiguous.
    x = np.array(
        [
            [0, 0, 0, 0],
            [1, 0, 0, 0],
            [0, 1, 0, 0],
            [1, 1, 0, 0],
            [1, 0, 1, 0],
            [1, 1, 0, 1],
            [1, 1, 1, 0],
            [1, 1, 1, 1],
            [1, 1, 1, 1],
            [1, 1, 1, 1],
        ],
        float,
    )
    stats = item_statistics(x)
    np.testing.assert_allclose(stats.p_value, [0.8, 0.7, 0.5, 0.4])
    # Lower 27 %: rows 0-2 (totals 0, 1, 1); upper: rows 7-9 (totals 4). Item 1: 3/3 - 1/3.
    np.testing.assert_allclose(stats.discrimination_index, [1 - 1 / 3, 1 - 1 / 3, 1.0, 1.0])
    total = x.sum(axis=1)
    rest = total - x[:, 3]
    r = np.corrcoef(x[:, 3], rest)[0, 1]
    assert stats.point_biserial[3] == pytest.approx(r)
    assert stats.biserial[3] == pytest.approx(r * np.sqrt(0.4 * 0.6) / norm.pdf(norm.ppf(0.4)))
    item_var = x.var(axis=0, ddof=1).sum()
    alpha = 4 / 3 * (1 - item_var / total.var(ddof=1))
    assert stats.alpha == pytest.approx(alpha)
    assert stats.sem == pytest.approx(total.std(ddof=1) * np.sqrt(1 - alpha))
    without_first = x[:, 1:]
    alpha_1 = 3 / 2 * (1 - without_first.var(axis=0, ddof=1).sum() / without_first.sum(axis=1).var(ddof=1))
    assert stats.alpha_if_deleted[0] == pytest.approx(alpha_1)


def test_distractor_chosen_by_strong_students_shows() -> None:
    total = np.arange(10, dtype=float)
    choices: list[str | None] = ["B", "B", "C", "A", "C", None, "A", "D", "D", "D"]
    rows = {r.option: r for r in distractor_analysis(choices, total, key="A")}
    assert rows["D"].proportion == pytest.approx(0.3) and rows["D"].upper_proportion == 1.0
    assert rows["D"].point_biserial > 0.7 and not rows["D"].is_key  # a distractor the best students prefer
    assert rows["B"].lower_proportion == pytest.approx(2 / 3) and rows["B"].point_biserial < 0
    with pytest.raises(ValueError, match="choices but"):
        distractor_analysis(["A"], total, key="A")


def test_mantel_haenszel_on_a_hand_worked_two_stratum_table() -> None:
    # Stratum 1: reference 30 right / 10 wrong, focal 20 / 20. Stratum 2: reference 20 / 20, focal 10 / 30.
    tables = [(1, 30, 10, 20, 20), (2, 20, 20, 10, 30)]
    item, matching, focal = [], [], []
    for level, a, b, c, d in tables:
        for right, wrong, is_focal in ((a, b, False), (c, d, True)):
            item += [1] * right + [0] * wrong
            matching += [level] * (right + wrong)
            focal += [is_focal] * (right + wrong)
    result = mantel_haenszel(np.array(item, float), np.array(matching), np.array(focal))
    # α = Σ AD/T / Σ BC/T = (30·20/80 + 20·30/80) / (10·20/80 + 20·10/80) = 15 / 5 = 3.
    assert result.odds_ratio == pytest.approx(3.0)
    assert result.delta == pytest.approx(-2.35 * np.log(3.0))
    # Σ A = 50, E = 40·50/80 + 40·30/80 = 40, Var = 2 · 40·40·50·30 / (80²·79); continuity-corrected χ².
    variance = 2 * 40 * 40 * 50 * 30 / (80**2 * 79)
    assert result.chi_square == pytest.approx((abs(50 - 40) - 0.5) ** 2 / variance)
    assert result.p_value == pytest.approx(chi2.sf((9.5**2) / variance, 1))
    assert result.ets_class == "C"
    assert ets_class(-1.2, 0.001) == "B" and ets_class(-1.2, 0.2) == "A" and ets_class(0.5, 0.0) == "A"


def test_stocking_lord_links_3pl_and_grm_parameters() -> None:
    for model in ("3pl", "grm"):
        bank = random_params(model, 12, seed=101)
        A, B = 0.8, 0.5
        steps = (bank.steps - B) / A if bank.steps.size else bank.steps
        new = ItemParams(model, bank.a * A, (bank.b - B) / A, bank.c, steps)
        linked = stocking_lord(bank, new)
        np.testing.assert_allclose([linked.A, linked.B], [A, B], atol=1e-3, err_msg=model)


def test_model_comparison_prefers_the_generating_model() -> None:
    truth = random_params("2pl", 15, seed=111)
    truth.a = np.exp(np.random.default_rng(5).normal(0, 0.5, 15))  # slopes that really differ
    x, _ = simulate_responses(truth, 3000, seed=112)
    table = compare_models({m: calibrate(x, m) for m in ("1pl", "2pl")})
    assert [row.model for row in table] == ["2pl", "1pl"]  # ordered by BIC
    assert table[0].n_parameters == 30 and table[1].n_parameters == 16
    assert table[0].bic < table[1].bic and table[0].aic < table[1].aic
    assert table[1].lr_p_value is not None and table[1].lr_p_value < 1e-6


def test_polytomous_s_x2_flags_an_item_no_gpcm_can_follow() -> None:
    truth = random_params("gpcm", 12, seed=7, categories=3)
    x, theta = simulate_responses(truth, 3000, seed=8)
    rng = np.random.default_rng(9)
    x[:, 0] = np.where(np.abs(theta) > 1.0, 2, np.where(np.abs(theta) > 0.4, 1, 0))  # U-shaped in θ
    noise = rng.random(3000) < 0.2
    x[noise, 0] = rng.integers(0, 3, int(noise.sum()))
    fit = s_x2(calibrate(x, "gpcm").params, x)
    assert fit.p_value[0] < 1e-6
    assert np.mean(fit.p_value[1:] > 0.01) >= 0.8
    # df: (groups after pooling) x (K - 1) - (slope + 2 thresholds), so always odd here.
    assert np.all(fit.df[1:] % 2 == 1)


def test_summed_score_distribution_generalises_lord_wingersky() -> None:
    p = np.array([[0.2, 0.7, 0.5]])
    as_categories = [np.column_stack([1 - p[:, j], p[:, j]]) for j in range(3)]
    np.testing.assert_allclose(summed_score_distribution(as_categories), lord_wingersky(p))
    three = [np.array([[0.5, 0.3, 0.2]]), np.array([[0.6, 0.4]])]
    np.testing.assert_allclose(summed_score_distribution(three), [[0.3, 0.38, 0.24, 0.08]])
