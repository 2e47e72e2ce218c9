"""The DESIGN.md file contracts (RESPONSES.csv, PARAMS.csv, THETA.csv) and the file-mode `exam irt` commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from itembank.irt.estimation import IRTInputError, calibrate
from itembank.irt.io import read_params, read_responses, write_params
from itembank.irt.simulate import random_params, simulate_responses
from itembank.irt_cli import irt


def _write(path: Path, x: np.ndarray, ids: bool = True) -> Path:
    header = (["person_id"] if ids else []) + [f"q{j + 1}" for j in range(x.shape[1])]
    lines = [",".join(header)]
    for i, row in enumerate(x):
        cells = ["" if np.isnan(v) else str(int(v)) for v in row]
        lines.append(",".join(([f"s{i + 1}"] if ids else []) + cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("person_id,q1,q2\ns1,1,x\n", "row 2, column 'q2': 'x' is not a number"),
        ("person_id,q1,q2\ns1,1,0\ns2,-1,0\n", "row 3, column 'q1': '-1' is not a whole score >= 0"),
        ("person_id,q1,q2\ns1,1,0.5\n", "row 2, column 'q2': '0.5' is not a whole score >= 0"),
        ("person_id,q1,q2\ns1,1\n", "row 2 has 1 item cells, the header has 2"),
        ("person_id,q1,q1\ns1,1,0\n", "repeated item column names"),
        ("person_id,q1\n", "needs a header row and at least one examinee"),
    ],
)
def test_bad_response_files_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(IRTInputError, match=message):
        read_responses(path)


def test_responses_without_person_ids_and_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes("\ufeffq1,q2\n1,\n0,1\n".encode())
    table = read_responses(path)
    assert table.person_ids == ["1", "2"] and table.item_ids == ["q1", "q2"]
    assert np.isnan(table.scores[0, 1]) and table.scores[1, 1] == 1


def test_params_round_trip_for_polytomous_items(tmp_path: Path) -> None:
    truth = random_params("grm", 4, seed=121, categories=4)
    x, _ = simulate_responses(truth, 800, seed=122)
    x[:, 3] = np.minimum(x[:, 3], 2)  # one item with fewer categories: padded thresholds stay empty
    result = calibrate(x, "grm", item_ids=["e1", "e2", "e3", "e4"])
    path = tmp_path / "params.csv"
    write_params(result, path)
    header = path.read_text().splitlines()[0].split(",")
    assert header[:5] == ["item_id", "model", "a", "b", "c"]
    assert {"b1", "b2", "b3", "a_se", "b1_se", "b3_se"} <= set(header)
    back = read_params(path)
    assert back.item_ids == ["e1", "e2", "e3", "e4"] and back.model == "grm"
    np.testing.assert_allclose(back.a, result.params.a, atol=1e-6)
    np.testing.assert_allclose(back.steps, result.params.steps, atol=1e-6)
    assert np.isnan(back.steps[3, 2]) and list(back.categories) == [4, 4, 4, 3]
    broken = tmp_path / "broken.csv"
    broken.write_text("item_id,model,a,b,c\nq1,2pl,abc,0,0\n")
    with pytest.raises(IRTInputError, match="row 2, column 'a': 'abc' is not a number"):
        read_params(broken)


def test_cli_errors_exit_1_with_the_reason(tmp_path: Path) -> None:
    runner = CliRunner()
    out = str(tmp_path / "p.csv")
    few = _write(tmp_path / "few.csv", np.array([[0, 1], [1, 0], [1, 1]], float))
    failed = runner.invoke(irt, ["calibrate", str(few), "--out", out])
    assert failed.exit_code == 1 and "too few examinees (3)" in failed.output and "Traceback" not in failed.output
    flat = np.tile([[1.0, 0.0], [1.0, 1.0]], (10, 1))
    failed = runner.invoke(irt, ["calibrate", str(_write(tmp_path / "flat.csv", flat)), "--out", out])
    assert failed.exit_code == 1 and "item q1: every examinee has the same score (1); no variance" in failed.output
    wide = np.tile([[0.0, 1.0], [2.0, 0.0]], (10, 1))
    failed = runner.invoke(irt, ["calibrate", str(_write(tmp_path / "wide.csv", wide)), "--out", out])
    assert failed.exit_code == 1 and "item q1, row 2: score 2 is out of range (model 2pl needs 0/1" in failed.output
    failed = runner.invoke(irt, ["calibrate", str(few), "--model", "4pl", "--out", out])
    assert failed.exit_code == 2  # click's usage error


def test_cli_polytomous_calibration_and_every_scoring_method(tmp_path: Path) -> None:
    truth = random_params("gpcm", 6, seed=131, categories=3)
    x, _ = simulate_responses(truth, 600, seed=132, missing=0.1)
    x[0] = np.where(np.isnan(x[0]), np.nan, 2)  # a top-score pattern: ML cannot place it
    responses = _write(tmp_path / "r.csv", x)
    runner = CliRunner()
    params = tmp_path / "p.csv"
    done = runner.invoke(irt, ["calibrate", str(responses), "--model", "gpcm", "--out", str(params)])
    assert done.exit_code == 0, done.output
    assert "converged" in done.output and "AIC" in done.output
    for method in ("eap", "map", "ml"):
        theta = tmp_path / f"{method}.csv"
        scored = runner.invoke(irt, ["score", str(responses), "--params", str(params), "--method", method,
                                     "--out", str(theta)])  # fmt: skip
        assert scored.exit_code == 0, scored.output
        lines = theta.read_text().splitlines()
        assert lines[0] == "person_id,theta,se" and len(lines) == 601 and lines[1].startswith("s1,")
        if method == "ml":
            assert lines[1] == "s1,6.000000,inf" and "no finite ML estimate" in scored.output
    bad = x.copy()
    bad[4, 2] = 5
    scored = runner.invoke(
        irt, ["score", str(_write(tmp_path / "bad.csv", bad)), "--params", str(params), "--out", str(tmp_path / "t")]
    )
    assert scored.exit_code == 1 and "row 5, item q3: score 5 is outside 0..2" in scored.output


def test_cli_anchored_calibration_keeps_bank_values(tmp_path: Path) -> None:
    truth = random_params("2pl", 10, seed=141)
    x, _ = simulate_responses(truth, 2000, seed=142)
    responses = _write(tmp_path / "r.csv", x)
    bank = tmp_path / "bank.csv"
    rows = ["item_id,model,a,b,c"] + [f"q{j + 1},2pl,{truth.a[j]:.6f},{truth.b[j]:.6f},0" for j in range(4)]
    bank.write_text("\n".join([*rows, "other,2pl,1,0,0"]) + "\n")
    runner = CliRunner()
    out = tmp_path / "p.csv"
    done = runner.invoke(irt, ["calibrate", str(responses), "--anchors", str(bank), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "4 anchors; latent mean" in done.output
    fitted = read_params(out)
    np.testing.assert_allclose(fitted.a[:4], truth.a[:4], atol=1e-6)
    np.testing.assert_allclose(fitted.b[:4], truth.b[:4], atol=1e-6)
    assert "a_se" in out.read_text().splitlines()[0] and out.read_text().splitlines()[1].count(",,") >= 1
    unrelated = tmp_path / "unrelated.csv"
    unrelated.write_text("item_id,model,a,b,c\nzz,2pl,1,0,0\n")
    failed = runner.invoke(irt, ["calibrate", str(responses), "--anchors", str(unrelated), "--out", str(out)])
    assert failed.exit_code == 1 and "none of its items is a column" in failed.output
