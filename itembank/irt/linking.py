"""Scale linking (PURE numpy/scipy): mean/sigma and Stocking–Lord constants for θ_bank = A θ_new + B."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from itembank.irt.estimation import quadrature
from itembank.irt.models import ItemParams, tcc


@dataclass(frozen=True)
class Linking:
    """θ on the bank's scale = A θ on the new scale + B."""

    A: float
    B: float
    method: str

    def transform(self, params: ItemParams) -> ItemParams:
        """Put new-scale item parameters on the bank's scale: a / A, A b + B (c and the model unchanged)."""
        steps = params.steps * self.A + self.B if params.steps.size else params.steps
        return ItemParams(
            params.model, params.a / self.A, params.b * self.A + self.B, params.c.copy(), steps, list(params.item_ids)
        )


def mean_sigma(b_bank: np.ndarray, b_new: np.ndarray) -> Linking:
    """Constants from the anchor items' difficulties on both scales."""
    b_bank, b_new = np.asarray(b_bank, float), np.asarray(b_new, float)
    if len(b_bank) < 2 or np.std(b_new) == 0:
        raise ValueError("mean/sigma linking needs at least two anchor items with different difficulties")
    a = float(np.std(b_bank) / np.std(b_new))
    return Linking(a, float(np.mean(b_bank) - a * np.mean(b_new)), "mean_sigma")


def stocking_lord(bank: ItemParams, new: ItemParams, *, quad_points: int = 41) -> Linking:
    """Constants minimising the squared difference of the anchors' test characteristic curves over N(0, 1)."""
    if bank.n_items != new.n_items:
        raise ValueError("the anchor parameter sets must describe the same items")
    grid, weights = quadrature(quad_points, 4.0)
    target = tcc(bank, grid)

    def loss(v: np.ndarray) -> float:
        moved = Linking(float(v[0]), float(v[1]), "").transform(new)
        return float(weights @ (target - tcc(moved, grid)) ** 2)

    start = mean_sigma(bank.b, new.b) if np.std(new.b) > 0 else Linking(1.0, 0.0, "")
    best = optimize.minimize(
        loss,
        np.array([start.A, start.B]),
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000},
    ).x
    return Linking(float(best[0]), float(best[1]), "stocking_lord")
