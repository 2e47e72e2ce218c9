"""Server-side SVG curves for form previews: information and TCC of each form against the target (no JS needed)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np

from itembank.assembly.model import Bank
from itembank.assembly.profile import bank_profile

GRID = np.linspace(-3.0, 3.0, 61)
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def form_curves(bank: Bank, forms: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """(information, TCC) per form on GRID, shape (forms, len(GRID))."""
    index = bank.index()
    info, score = bank_profile(bank, GRID)
    rows = [[index[i] for i in f] for f in forms]
    return np.array([info[r].sum(axis=0) for r in rows]), np.array([score[r].sum(axis=0) for r in rows])


def curves_svg(
    curves: np.ndarray,
    title: str,
    *,
    target_thetas: Sequence[float] = (),
    targets: Sequence[float] = (),
    width: int = 420,
    height: int = 240,
) -> str:
    """One SVG with a polyline per form and the target points as crosses; numbers only, labels escaped."""
    pad = 36
    top = float(max(curves.max(initial=0.0), max(targets, default=0.0))) * 1.08 or 1.0

    def xy(theta: float, v: float) -> tuple[float, float]:
        x = pad + (theta - GRID[0]) / (GRID[-1] - GRID[0]) * (width - 2 * pad)
        y = height - pad - v / top * (height - 2 * pad)
        return x, y

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" class="assembly-curve">',
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#444"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#444"/>',
    ]
    for t in (-3, -2, -1, 0, 1, 2, 3):
        x, _ = xy(t, 0)
        parts.append(f'<text x="{x:.1f}" y="{height - pad + 14}" text-anchor="middle" font-size="10">{t}</text>')
    for frac in (0.0, 0.5, 1.0):
        _, y = xy(0, top * frac / 1.08)
        parts.append(
            f'<text x="{pad - 4}" y="{y + 3:.1f}" text-anchor="end" font-size="10">{top * frac / 1.08:.1f}</text>'
        )
    for n, row in enumerate(curves):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, v) for t, v in zip(GRID, row, strict=True)))
        colour = COLOURS[n % len(COLOURS)]
        line = f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{pts}">'
        parts.append(f"{line}<title>{n + 1}</title></polyline>")
    for t, v in zip(target_thetas, targets, strict=False):
        x, y = xy(t, v)
        cross = f"M{x - 4:.1f},{y - 4:.1f}L{x + 4:.1f},{y + 4:.1f}M{x - 4:.1f},{y + 4:.1f}L{x + 4:.1f},{y - 4:.1f}"
        parts.append(f'<path d="{cross}" stroke="#000" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)
