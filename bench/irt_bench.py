"""IRT benchmark: correctness against R mirt on LSAT7, speed against the PyPI peers `mirt` (Rust backend) and
`girth` on the same simulated 2PL data in one process, and the 100,000 x 200 scale run.

    .venv/bin/python bench/irt_bench.py            # pip-installs mirt and girth into the venv if they are missing
    .venv/bin/python bench/irt_bench.py --no-scale
    .venv/bin/python bench/irt_bench.py --scale-only

Uses no shared data: LSAT7 ships with the tests and everything else is simulated with fixed seeds. The scale run
happens in a child process so its peak RSS (resource.getrusage) is its own, not the peers'.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from itembank.irt.estimation import calibrate  # noqa: E402
from itembank.irt.simulate import random_params, simulate_responses  # noqa: E402

MIRT_A = np.array([0.988, 1.081, 1.706, 0.765, 0.736])
MIRT_D = np.array([1.856, 0.808, 1.804, 0.486, 1.855])
SCALE_LIMIT_S = 30.0
SCALE_LIMIT_MB = 2048.0


def peers() -> tuple[Any, Any]:
    """Import the peers, installing them first when missing (they are the bench's, not the app's, dependencies)."""
    try:
        import girth
        import mirt

        print("   peers found in the venv:", end=" ")
    except ImportError:
        print("   peers missing: running `pip install mirt girth` into this venv (subprocess) ...", flush=True)
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "mirt", "girth"], check=False)
        if done.returncode != 0:
            print(f"   pip install failed with exit code {done.returncode}: peers cannot be timed here")
            return None, None
        import girth
        import mirt

        print("   installed:", end=" ")
    print(f"mirt {importlib.metadata.version('mirt')}, girth {importlib.metadata.version('girth')}")
    return mirt, girth


def best_of(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Fastest wall time of `repeat` runs and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def rmse(x: np.ndarray, y: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((np.asarray(x, float) - np.asarray(y, float)) ** 2)))


def lsat7() -> None:
    """Part 1: R mirt's published LSAT7 2PL estimates."""
    x = np.loadtxt(ROOT / "tests/itembank/irt/data/lsat7.csv", delimiter=",", skiprows=1, usecols=range(1, 6))
    print("1. LSAT7 (1000 x 5) 2PL against R mirt's published estimates (slope a1, intercept d; 3 decimals)")
    for tol in (1e-4, 1e-8):
        fit = calibrate(x, "2pl", tol=tol)
        d = -fit.params.a * fit.params.b
        diff = max(np.abs(fit.params.a - MIRT_A).max(), np.abs(d - MIRT_D).max())
        print(
            f"   tol {tol:.0e}: largest |difference| over a and d {diff:.4f} (limit 0.005) -> "
            f"{'OK' if diff < 0.005 else 'FAIL'}; log-likelihood {fit.loglik:.3f} (R mirt: -2658.805); "
            f"{fit.report.iterations} E-steps"
        )
    print(f"   a = {np.round(fit.params.a, 4)}  d = {np.round(d, 4)}")


def speed() -> tuple[Any, Any]:
    """Part 2: 5,000 x 50 against mirt and girth on the same data in this process."""
    print("\n2. 2PL, 5,000 examinees x 50 items (params seed 2026, responses seed 2027), one process")
    mirt, girth = peers()
    truth = random_params("2pl", 50, seed=2026)
    x, _ = simulate_responses(truth, 5000, seed=2027)
    xi = x.astype(int)
    calibrate(x, "2pl")  # warm-up: first-call imports and BLAS thread start-up are not the estimator's cost
    rows: list[tuple[str, float, np.ndarray, np.ndarray]] = []
    ours_t, ours = best_of(lambda: calibrate(x, "2pl"))
    rows.append((f"ours, 61 points ({ours.report.iterations} E-steps)", ours_t, ours.params.a, ours.params.b))
    ours21_t, ours21 = best_of(lambda: calibrate(x, "2pl", quad_points=21))
    rows.append(("ours, 21 points (as mirt)", ours21_t, ours21.params.a, ours21.params.b))
    mirt_t = girth_t = float("nan")
    if mirt is not None:
        mirt_t, mirt_fit = best_of(lambda: mirt.fit_mirt(xi, model="2PL"))
        mirt_a = np.asarray(mirt_fit.model.discrimination).ravel()
        mirt_b = np.asarray(mirt_fit.model.difficulty).ravel()
        rows.append(("mirt fit_mirt defaults (Rust, 21 points)", mirt_t, mirt_a, mirt_b))
        # mirt's own options, for a like-for-like view: its SQUAREM, and 61 quadrature points as ours.
        for label, options in (
            ("mirt accelerate='squarem'", {"accelerate": "squarem"}),
            ("mirt n_quadpts=61", {"n_quadpts": 61}),
        ):
            try:
                seconds, fit = best_of(lambda options=options: mirt.fit_mirt(xi, model="2PL", **options))
            except Exception as err:  # an option this mirt version lacks is reported, not fatal
                print(f"   {label}: failed ({type(err).__name__}: {err})")
                continue
            a, b = np.asarray(fit.model.discrimination).ravel(), np.asarray(fit.model.difficulty).ravel()
            rows.append((label, seconds, a, b))
        girth_t, girth_fit = best_of(lambda: girth.twopl_mml(xi.T), repeat=1)
        rows.append(("girth twopl_mml, 1 run", girth_t, girth_fit["Discrimination"], girth_fit["Difficulty"]))
    print(f"   {'':40}{'seconds':>9}{'RMSE a':>9}{'RMSE b':>9}{'÷ ours':>9}")
    for name, seconds, a, b in rows:
        print(f"   {name:40}{seconds:>9.3f}{rmse(a, truth.a):>9.4f}{rmse(b, truth.b):>9.4f}{seconds / ours_t:>8.2f}x")
    print(
        f"   all best of 3 except girth; mirt (defaults) / ours = {mirt_t / ours_t:.2f} (need >= 1); "
        f"girth / ours = {girth_t / ours_t:.1f} (need >= 10)"
    )
    return mirt, girth


def recovery(mirt: Any, girth: Any, replications: int = 5) -> None:
    """Part 2b: parameter recovery averaged over replications (one seed's RMSE differences are noise)."""
    if mirt is None:
        return
    print(f"\n   recovery over {replications} replications (5,000 x 50, seeds 3000..): mean RMSE a / b")
    sums: dict[str, np.ndarray] = {}
    for rep in range(replications):
        truth = random_params("2pl", 50, seed=3000 + rep)
        x, _ = simulate_responses(truth, 5000, seed=4000 + rep)
        xi = x.astype(int)
        ours = calibrate(x, "2pl")
        mirt_fit = mirt.fit_mirt(xi, model="2PL")
        girth_fit = girth.twopl_mml(xi.T)
        fits = {
            "ours (61 points)": (ours.params.a, ours.params.b),
            "mirt defaults": (mirt_fit.model.discrimination, mirt_fit.model.difficulty),
            "girth twopl_mml": (girth_fit["Discrimination"], girth_fit["Difficulty"]),
        }
        for name, (a, b) in fits.items():
            a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
            sums[name] = sums.get(name, np.zeros(2)) + np.array([rmse(a, truth.a), rmse(b, truth.b)])
    for name, total in sums.items():
        print(f"   {name:40}{total[0] / replications:>9.4f}{total[1] / replications:>9.4f}")


def scale() -> None:
    """Part 3 (run in a child process): 100,000 x 200 with 20 % missing; seconds and peak RSS."""
    truth = random_params("2pl", 200, seed=7)
    x, _ = simulate_responses(truth, 100_000, seed=8, missing=0.2)
    start = time.perf_counter()
    big = calibrate(x, "2pl")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"   {seconds:.1f} s (limit {SCALE_LIMIT_S:.0f} s), {big.report.iterations} E-steps "
        f"({big.report.extrapolations} SQUAREM extrapolations), converged {big.report.converged}; "
        f"peak RSS of the whole process incl. simulation {peak:.0f} MB (limit {SCALE_LIMIT_MB:.0f} MB)"
    )
    print(f"   RMSE a {rmse(big.params.a, truth.a):.4f}, RMSE b {rmse(big.params.b, truth.b):.4f}")
    verdict = seconds < SCALE_LIMIT_S and peak < SCALE_LIMIT_MB
    print(f"   -> {'OK' if verdict else 'FAIL'}")


def main() -> None:
    """Print the three parts of the benchmark."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-scale", action="store_true", help="skip the 100,000 x 200 run")
    parser.add_argument("--scale-only", action="store_true", help="only the 100,000 x 200 run (in this process)")
    args = parser.parse_args()
    if args.scale_only:
        scale()
        return
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (timings are wall clock)")
    lsat7()
    recovery(*speed())
    if not args.no_scale:
        print("\n3. 2PL, 100,000 examinees x 200 items, 20 % missing at random (seeds 7, 8), fresh child process")
        sys.stdout.flush()
        subprocess.run([sys.executable, __file__, "--scale-only"], check=True)


if __name__ == "__main__":
    main()
