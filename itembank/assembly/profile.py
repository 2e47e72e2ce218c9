"""Per-item information and expected score at the spec's thetas (3PL, D = 1, as PARAMS.csv in DESIGN.md).

Items without calibrated parameters fall back on the examiner's difficulty level (a = 1, b from the level), so a
bank that is only partly calibrated can still be assembled with an IRT objective.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from itembank.assembly.model import Bank, Item

# Examiner levels -> a nominal IRT difficulty and a classical difficulty index (1 easiest .. 5 hardest).
LEVEL_B = {"easy": -1.0, "medium": 0.0, "hard": 1.0, "容易": -1.0, "中等": 0.0, "困难": 1.0, "较易": -0.5, "较难": 0.5}
# Numeric levels 1 (easy) .. 5 (hard), as the web bank stores them.
LEVEL_B.update({"1": -1.5, "2": -0.75, "3": 0.0, "4": 0.75, "5": 1.5})
LEVEL_INDEX = {"1": 1.0, "2": 2.0, "3": 3.0, "4": 4.0, "5": 5.0} | {
    "easy": 1.0,
    "medium": 2.0,
    "hard": 3.0,
    "容易": 1.0,
    "较易": 1.5,
    "中等": 2.0,
    "较难": 2.5,
    "困难": 3.0,
}


def item_parameters(item: Item) -> tuple[float, float, float]:
    """(a, b, c) of an item, from calibration or else from its level; raises ValueError naming the item."""
    if item.a is not None and item.b is not None:
        return item.a, item.b, item.c
    for level in item.values("level"):
        if level in LEVEL_B:
            return 1.0, LEVEL_B[level], 0.0
    raise ValueError(f"item {item.item_id!r}: no IRT parameters (a, b) and no level {sorted(LEVEL_B)} to fall back on")


def item_difficulty(item: Item) -> float:
    """Classical difficulty of an item: the `difficulty` column, else its level index."""
    if item.difficulty is not None:
        return item.difficulty
    for level in item.values("level"):
        if level in LEVEL_INDEX:
            return LEVEL_INDEX[level]
    raise ValueError(f"item {item.item_id!r}: no difficulty value and no level {sorted(LEVEL_INDEX)}")


def probability(a: np.ndarray, b: np.ndarray, c: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    """P(correct), shape (items, thetas)."""
    z = a[:, None] * (thetas[None, :] - b[:, None])
    return c[:, None] + (1.0 - c[:, None]) / (1.0 + np.exp(-z))


def information(a: np.ndarray, b: np.ndarray, c: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    """Fisher information of the 3PL (D = 1), shape (items, thetas)."""
    p = probability(a, b, c, thetas)
    q = 1.0 - p
    return (a[:, None] ** 2) * (q / p) * ((p - c[:, None]) / (1.0 - c[:, None])) ** 2


def bank_profile(bank: Bank | Sequence[Item], thetas: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(information, expected score in points) for every item at every theta, shape (items, thetas)."""
    items = bank.items if isinstance(bank, Bank) else tuple(bank)
    params = np.array([item_parameters(it) for it in items], dtype=float).reshape(-1, 3)
    th = np.asarray(thetas, dtype=float)
    points = np.array([it.points for it in items], dtype=float)
    info = information(params[:, 0], params[:, 1], params[:, 2], th)
    score = probability(params[:, 0], params[:, 1], params[:, 2], th) * points[:, None]
    return info, score
