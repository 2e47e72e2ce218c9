"""The 1+1 / 2+1 / 2+1+1 marking rules as pure functions."""

from __future__ import annotations

import pytest

from grading.marking import Step, consistency, resolve, round_to


def test_single_marking_is_final_at_once() -> None:
    assert resolve([], double=False, tolerance=1).step is Step.FIRST
    done = resolve([3.5], double=False, tolerance=1)
    assert done.step is Step.DONE and done.final == 3.5


def test_double_marking_within_tolerance_takes_the_mean() -> None:
    assert resolve([4], double=True, tolerance=1).step is Step.SECOND
    done = resolve([4, 5], double=True, tolerance=1)
    assert done.step is Step.DONE and done.final == 4.5 and "mean" in done.reason and "平均" in done.reason_zh


def test_out_of_tolerance_goes_to_a_third_marker_then_to_arbitration() -> None:
    third = resolve([2, 6], double=True, tolerance=1)
    assert third.step is Step.THIRD and third.final is None
    # The third mark is near the second: the mean of those two.
    assert resolve([2, 6, 5], double=True, tolerance=1).final == 5.5
    # Equally near both: the higher pair wins.
    assert resolve([3, 5, 4], double=True, tolerance=1, step=0.5).final == 4.5
    arb = resolve([1, 6, 3.5], double=True, tolerance=1)
    assert arb.step is Step.ARBITRATION
    assert resolve([1, 6, 3.5], double=True, tolerance=1, arbitration=4).final == 4


def test_rounding_and_bad_tolerance() -> None:
    assert round_to(3.25, 0.5) == 3.5 and round_to(3.2, 0.5) == 3.0 and round_to(2.5, 1) == 3
    with pytest.raises(ValueError, match="tolerance"):
        resolve([1, 2], double=True, tolerance=-1)


def test_marker_consistency() -> None:
    rows = [("a", 4, 4), ("a", 5, 4), ("b", 2, 4), ("b", 4, 4)]
    stats = {s.marker: s for s in consistency(rows, tolerance=1)}
    assert stats["a"].mean_difference == 0.5 and stats["a"].exact_agreement == 0.5
    assert stats["b"].mean_difference == -1 and stats["b"].out_of_tolerance == 0.5
