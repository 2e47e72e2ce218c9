"""Human marking rules (PURE): single marking and double marking with a tolerance, a third marker and arbitration.

These are the rules Chinese examination offices call 1+1, 2+1 and 2+1+1:
- single: one mark is final;
- double: two independent marks; within the tolerance their mean is final;
- a third marker when the two differ by more than the tolerance; if the third mark is within the tolerance of
  one of the first two, the mean of the third and the nearer one is final (ties: the higher pair);
- arbitration by the lead marker when the third is still out of tolerance: the lead's mark is final.
The machine may serve as one of the two first markers (its mark is then the first mark).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Step(StrEnum):
    """What a response needs next."""

    FIRST = "first"
    SECOND = "second"
    THIRD = "third"
    ARBITRATION = "arbitration"
    DONE = "done"


@dataclass(frozen=True)
class Resolution:
    """The state of one response's marking: the next step, and the final score once there is one."""

    step: Step
    final: float | None
    reason: str
    reason_zh: str


def round_to(value: float, step: float) -> float:
    """Round half up to a multiple of `step` (scores are usually whole or half points)."""
    if step <= 0:
        return value
    return round(int(value / step + 0.5 + 1e-9) * step, 6)


def resolve(
    marks: list[float],
    *,
    double: bool,
    tolerance: float,
    arbitration: float | None = None,
    step: float = 0.5,
) -> Resolution:
    """Apply the marking rules to the marks given so far (in the order they were given)."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if arbitration is not None:
        return Resolution(Step.DONE, arbitration, "the lead marker's arbitration is final", "以组长仲裁分为最终分")
    if not marks:
        return Resolution(Step.FIRST, None, "waiting for the first mark", "等待一评")
    if not double:
        return Resolution(Step.DONE, marks[0], "single marking: the mark is final", "单评：评分即最终分")
    if len(marks) == 1:
        return Resolution(Step.SECOND, None, "waiting for the second mark", "等待二评")
    first, second = marks[0], marks[1]
    if abs(first - second) <= tolerance:
        return Resolution(
            Step.DONE,
            round_to((first + second) / 2, step),
            f"two marks {first:g} and {second:g} within tolerance {tolerance:g}: their mean",
            f"两次评分 {first:g} 与 {second:g} 之差在误差范围 {tolerance:g} 内：取平均分",
        )
    if len(marks) == 2:
        return Resolution(
            Step.THIRD,
            None,
            f"marks {first:g} and {second:g} differ by more than {tolerance:g}: a third marker is needed",
            f"两次评分 {first:g} 与 {second:g} 超出误差 {tolerance:g}：需要三评",
        )
    third = marks[2]
    close = [m for m in (first, second) if abs(m - third) <= tolerance]
    if close:
        nearest = min(close, key=lambda m: (abs(m - third), -m))
        return Resolution(
            Step.DONE,
            round_to((third + nearest) / 2, step),
            f"third mark {third:g} is within tolerance of {nearest:g}: their mean",
            f"三评 {third:g} 与 {nearest:g} 在误差范围内：取两者平均分",
        )
    return Resolution(
        Step.ARBITRATION,
        None,
        f"third mark {third:g} is out of tolerance of both {first:g} and {second:g}: the lead marker arbitrates",
        f"三评 {third:g} 与前两次评分均超出误差：由组长仲裁",
    )


@dataclass(frozen=True)
class MarkerConsistency:
    """How one marker's marks compare with the final scores of the same responses."""

    marker: str
    marks: int
    mean_difference: float  # marker minus final: positive means lenient
    exact_agreement: float
    out_of_tolerance: float


def consistency(rows: list[tuple[str, float, float]], tolerance: float) -> list[MarkerConsistency]:
    """Per marker: mean signed difference, exact agreement and share out of tolerance, from (marker, mark, final)."""
    by_marker: dict[str, list[tuple[float, float]]] = {}
    for marker, mark, final in rows:
        by_marker.setdefault(marker, []).append((mark, final))
    out = []
    for marker, pairs in sorted(by_marker.items()):
        n = len(pairs)
        out.append(
            MarkerConsistency(
                marker=marker,
                marks=n,
                mean_difference=sum(m - f for m, f in pairs) / n,
                exact_agreement=sum(1 for m, f in pairs if abs(m - f) < 1e-9) / n,
                out_of_tolerance=sum(1 for m, f in pairs if abs(m - f) > tolerance) / n,
            )
        )
    return out
