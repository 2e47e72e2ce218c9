"""IRT benchmark: correctness against R mirt on LSAT7, speed against the PyPI peers `mirt` (Rust backend) and
`girth` on the same simulated 2PL data in one process, and the 100,000 x 200 scale run.

    .venv/bin/python bench/irt_bench.py            # installs mirt and girth into the venv if they are missing
    .venv/bin/python bench/irt_bench.py --no-scale
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from itembank.irt.estimation import calibrate  # noqa: E402
from itembank.irt.simulate import random_params, simulate_responses  # noqa: E402

MIRT_A = np.array([0.988, 1.081, 1.706, 0.765, 0.736])
MIRT_D = np.array([1.856, 0.808, 1.804, 0.486, 1.855])


def peers() -> tuple[object, object]:
    """Import the peers, installing them first when missing (they are the bench's, not the app's, dependencies)."""
    try:
        import girth
        import mirt
    except ImportError:
        print("installing the peers: pip install mirt girth")
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "mirt", "girth"])
        import girth
        import mirt
    return mirt, girth


def best_of(fn: object, repeat: int = 3) -> tuple[float, object]:
    """Fastest wall time of `repeat` runs and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times), result


def rmse(x: np.ndarray, y: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((np.asarray(x) - np.asarray(y)) ** 2)))


def main() -> None:
    """Print the three parts of the benchmark."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-scale", action="store_true", help="skip the 100,000 x 200 run")
    args = parser.parse_args()

    lsat = np.loadtxt(ROOT / "tests/itembank/irt/data/lsat7.csv", delimiter=",", skiprows=1, usecols=range(1, 6))
    fit = calibrate(lsat, "2pl")
    d = -fit.params.a * fit.params.b
    diff = max(np.abs(fit.params.a - MIRT_A).max(), np.abs(d - MIRT_D).max())
    print("1. LSAT7 2PL against R mirt's published estimates (3 decimals)")
    print(f"   largest |difference| over a and d: {diff:.4f} (limit 0.005) -> {'OK' if diff < 0.005 else 'FAIL'}")
    print(f"   log-likelihood {fit.loglik:.3f} (R mirt: -2658.805)")

    mirt, girth = peers()
    truth = random_params("2pl", 50, seed=2026)
    x, _ = simulate_responses(truth, 5000, seed=2027)
    xi = x.astype(int)
    ours_t, ours = best_of(lambda: calibrate(x, "2pl"))
    ours21_t, ours21 = best_of(lambda: calibrate(x, "2pl", quad_points=21))
    mirt_t, mirt_fit = best_of(lambda: mirt.fit_mirt(xi, model="2PL"))
    girth_t, girth_fit = best_of(lambda: girth.twopl_mml(xi.T), repeat=1)
    mirt_a = np.asarray(mirt_fit.model.discrimination).ravel()
    mirt_b = np.asarray(mirt_fit.model.difficulty).ravel()
    print("\n2. 2PL, 5,000 examinees x 50 items (seed 2027), same data, one process, best of 3 (girth: 1 run)")
    print(f"   {'':28}{'seconds':>9}{'RMSE a':>9}{'RMSE b':>9}{'ratio':>9}")
    rows = [
        ("ours (61 quadrature points)", ours_t, ours.params.a, ours.params.b),
        ("ours (21 points, as mirt)", ours21_t, ours21.params.a, ours21.params.b),
        ("mirt 1.2 fit_mirt (Rust)", mirt_t, mirt_a, mirt_b),
        ("girth 0.8 twopl_mml", girth_t, girth_fit["Discrimination"], girth_fit["Difficulty"]),
    ]
    for name, seconds, a, b in rows:
        print(f"   {name:28}{seconds:>9.3f}{rmse(a, truth.a):>9.4f}{rmse(b, truth.b):>9.4f}"
              f"{seconds / ours_t:>8.1f}x")
    print(f"   mirt / ours = {mirt_t / ours_t:.2f} (need >= 1); girth / ours = {girth_t / ours_t:.1f} (need >= 10)")

    if not args.no_scale:
        truth = random_params("2pl", 200, seed=7)
        x, _ = simulate_responses(truth, 100_000, seed=8, missing=0.2)
        start = time.perf_counter()
        big = calibrate(x, "2pl")
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("\n3. 2PL, 100,000 examinees x 200 items, 20 % missing")
        print(f"   {seconds:.1f} s (limit 30 s), {big.report.iterations} EM iterations, converged "
              f"{big.report.converged}; peak memory of this process {peak:.0f} MB (limit 2048 MB)")
        print(f"   RMSE a {rmse(big.params.a, truth.a):.4f}, RMSE b {rmse(big.params.b, truth.b):.4f}")


if __name__ == "__main__":
    main()
