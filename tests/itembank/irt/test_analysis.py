"""Scoring, classical statistics, DIF, linking, item fit and the file-mode CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from itembank.irt.ctt import cronbach_alpha, distractor_analysis, item_statistics
from itembank.irt.dif import mantel_haenszel
from itembank.irt.estimation import calibrate
from itembank.irt.fit import lord_wingersky, s_x2
from itembank.irt.linking import Linking, mean_sigma, stocking_lord
from itembank.irt.models import ItemParams, conditional_sem, item_information, tcc, total_information
from itembank.irt.scoring import eap, ml, score
from itembank.irt.simulate import random_params, simulate_responses
from itembank.irt_cli import irt


def test_eap_equals_brute_force_integration() -> None:
    params = random_params("2pl", 8, seed=1)
    x, _ = simulate_responses(params, 5, seed=2)
    grid = np.linspace(-8, 8, 4001)
    prior = np.exp(-(grid**2) / 2)
    for i in range(5):
        p = 1 / (1 + np.exp(-params.a * (grid[:, None] - params.b)))
        like = np.prod(np.where(x[i] == 1, p, 1 - p), axis=1) * prior
        mean = np.sum(grid * like) / np.sum(like)
        assert eap(params, x[[i]]).theta[0] == pytest.approx(mean, abs=0.01)


def test_ml_marks_extreme_patterns_and_se_shrinks_with_information() -> None:
    params = random_params("2pl", 20, seed=3)
    x, theta = simulate_responses(params, 500, seed=4)
    x[0] = 1
    x[1] = 0
    result = ml(params, x)
    assert result.extreme[0] and result.theta[0] == 6 and np.isinf(result.se[0])
    assert result.extreme[1] and result.theta[1] == -6
    ok = ~result.extreme
    assert np.corrcoef(result.theta[ok], theta[ok])[0, 1] > 0.85
    assert score(params, x, "map").se.max() < 1.0
    with pytest.raises(ValueError, match="unknown scoring method"):
        score(params, x, "wle")


def test_information_sem_and_tcc() -> None:
    params = ItemParams("2pl", np.array([1.0, 2.0]), np.array([0.0, 1.0]), np.zeros(2))
    theta = np.array([0.0, 1.0])
    info = item_information(params, theta)
    assert info[0, 0] == pytest.approx(0.25) and info[1, 1] == pytest.approx(1.0)
    assert total_information(params, theta)[0] == pytest.approx(info[0].sum())
    assert conditional_sem(params, theta)[1] == pytest.approx(1 / np.sqrt(info[1].sum()))
    assert tcc(params, np.array([0.0]))[0] == pytest.approx(0.5 + 1 / (1 + np.exp(2.0)))


def test_classical_statistics_by_hand() -> None:
    x = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1]], float)
    stats = item_statistics(x)
    np.testing.assert_allclose(stats.p_value, [0.8, 0.6, 0.4])
    # KR-20 by hand: k/(k-1) (1 - Σ pq / var(total)), with sample variances as in Cronbach's alpha.
    totals = x.sum(axis=1)
    expected = 3 / 2 * (1 - x.var(axis=0, ddof=1).sum() / totals.var(ddof=1))
    assert stats.alpha == pytest.approx(expected) == pytest.approx(cronbach_alpha(x))
    assert stats.point_biserial[2] == pytest.approx(np.corrcoef(x[:, 2], totals - x[:, 2])[0, 1])
    rows = distractor_analysis(["A", "B", "A", "C", "A"], totals, key="A")
    assert {r.option: r.is_key for r in rows} == {"A": True, "B": False, "C": False}
    assert next(r for r in rows if r.option == "A").point_biserial > 0


def test_mantel_haenszel_finds_dif_and_not_where_there_is_none() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    focal = rng.random(n) < 0.5
    theta = rng.normal(0, 1, n)
    matching = np.clip(np.round(theta * 3 + 10), 0, 20)
    fair = (rng.random(n) < 1 / (1 + np.exp(-theta))).astype(float)
    biased = (rng.random(n) < 1 / (1 + np.exp(-(theta - 1.2 * focal)))).astype(float)
    assert mantel_haenszel(fair, matching, focal).ets_class == "A"
    result = mantel_haenszel(biased, matching, focal)
    assert result.ets_class == "C" and result.delta < -1.5 and result.p_value < 1e-6


def test_linking_recovers_known_constants() -> None:
    bank = random_params("2pl", 15, seed=6)
    truth = Linking(1.3, -0.4, "")
    new = ItemParams("2pl", bank.a * truth.A, (bank.b - truth.B) / truth.A, bank.c)
    ms = mean_sigma(bank.b, new.b)
    np.testing.assert_allclose([ms.A, ms.B], [1.3, -0.4])
    sl = stocking_lord(bank, new)
    np.testing.assert_allclose([sl.A, sl.B], [1.3, -0.4], atol=1e-3)
    np.testing.assert_allclose(sl.transform(new).b, bank.b, atol=1e-3)


def test_s_x2_flags_a_misfitting_item() -> None:
    truth = random_params("2pl", 15, seed=7)
    truth.c[0], truth.b[0], truth.a[0] = 0.5, 1.5, 2.0  # a hard item with heavy guessing: the 2PL cannot fit it
    params3 = ItemParams("3pl", truth.a, truth.b, truth.c)
    x, _ = simulate_responses(params3, 5000, seed=8)
    fitted = calibrate(x, "2pl")
    fit = s_x2(fitted.params, x)
    assert fit.p_value[0] < 0.01
    assert np.mean(fit.p_value[1:] > 0.01) > 0.7
    dist = lord_wingersky(np.array([[0.5, 0.5]]))
    np.testing.assert_allclose(dist, [[0.25, 0.5, 0.25]])


def test_cli_calibrate_and_score(tmp_path: Path) -> None:
    params = random_params("2pl", 6, seed=9)
    x, _ = simulate_responses(params, 400, seed=10, missing=0.1)
    lines = ["person_id," + ",".join(f"q{j}" for j in range(6))]
    lines += [f"p{i}," + ",".join("" if np.isnan(v) else str(int(v)) for v in row) for i, row in enumerate(x)]
    responses = tmp_path / "responses.csv"
    responses.write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    out = runner.invoke(irt, ["calibrate", str(responses), "--model", "2pl", "--out", str(tmp_path / "p.csv")])
    assert out.exit_code == 0, out.output
    assert "converged" in out.output
    header = (tmp_path / "p.csv").read_text().splitlines()[0]
    assert header.startswith("item_id,model,a,b,c") and "a_se" in header
    scored = runner.invoke(
        irt, ["score", str(responses), "--params", str(tmp_path / "p.csv"), "--out", str(tmp_path / "t.csv")]
    )
    assert scored.exit_code == 0, scored.output
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == "person_id,theta,se"
    broken = tmp_path / "broken.csv"
    broken.write_text("person_id,q1,q2\np1,1,x\n")
    failed = runner.invoke(irt, ["calibrate", str(broken), "--out", str(tmp_path / "z.csv")])
    assert failed.exit_code == 1 and "row 2, column 'q2': 'x' is not a number" in failed.output
