"""Benchmark the drift engines.

1. Throughput of ``NumericDrift.update`` for 20 numeric features (values/s, one process).
2. Comparing a ROWS x 20 reference with a ROWS x 20 current, in the same run:
   scipy's exact statistics (``ks_2samp`` + ``wasserstein_distance`` per column)
   versus Resonance (``fit_reference`` + ``update`` + ``result``), and
   Evidently's DataDriftPreset when evidently is importable.

``--json`` prints exactly one JSON object on stdout; progress goes to stderr. It holds
the load average (the machine is shared: read wall times with it), CPU-time rates next
to wall-time ones, Resonance's fit/update/result split and the speedups against scipy
and Evidently measured in the same run.

    python benchmarks/engines.py                 # readable table, 1M rows
    python benchmarks/engines.py --rows 100000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processors.drift import NumericDrift
from processors.reference import fit_reference


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_frames(rows: int, features: int, seed: int) -> tuple[dict, dict]:
    """Reference and current columns: a mix of shapes, every third feature shifted."""
    rng = np.random.default_rng(seed)
    shapes: list[Callable[[float], np.ndarray]] = [
        lambda s: rng.normal(s, 1.0, rows),
        lambda s: rng.lognormal(s, 0.8, rows),
        lambda s: rng.standard_t(3, rows) + s,
        lambda s: rng.poisson(3 + s, rows).astype(np.float64),
        lambda s: np.r_[rng.normal(-2, 0.5, rows // 2), rng.normal(2 + s, 0.5, rows - rows // 2)],
    ]
    ref, cur = {}, {}
    for i in range(features):
        shape = shapes[i % len(shapes)]
        ref[f"f{i:02d}"] = shape(0.0)
        cur[f"f{i:02d}"] = shape(0.5 if i % 3 == 0 else 0.0)
    return ref, cur


def best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, object]:
    """Fastest wall time of ``repeat`` runs, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def update_throughput(ref: dict, cur: dict, repeat: int) -> tuple[float, float]:
    """Values/s of ``NumericDrift.update``: best wall time, and best CPU (process) time."""
    profile = fit_reference(ref, model="bench", version="1")
    engines = {name: NumericDrift(profile.features[name]) for name in cur}

    def run() -> None:
        for name, values in cur.items():
            engines[name].update(values)

    seconds, _ = best_of(repeat, run)
    cpu = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        run()
        cpu = min(cpu, time.process_time() - t0)
    n = sum(v.size for v in cur.values())
    return n / seconds, n / max(cpu, 1e-9)


def scipy_exact(ref: dict, cur: dict) -> dict:
    out = {}
    for name in ref:
        a, b = ref[name], cur[name]
        out[name] = (
            stats.ks_2samp(a, b).statistic,
            stats.wasserstein_distance(a, b) / np.std(a),
        )
    return out


SPLIT: dict[str, float] = {}


def resonance(ref: dict, cur: dict) -> dict:
    t0 = time.perf_counter()
    profile = fit_reference(ref, model="bench", version="1")
    t1 = time.perf_counter()
    engines = {name: NumericDrift(profile.features[name]).update(v) for name, v in cur.items()}
    t2 = time.perf_counter()
    out = {}
    for name, engine in engines.items():
        r = engine.result()
        out[name] = (r["ks"], r["wasserstein"])
    SPLIT.update(fit_s=t1 - t0, update_s=t2 - t1, result_s=time.perf_counter() - t2)
    return out


def evidently_seconds(ref: dict, cur: dict) -> float | None:
    """DataDriftPreset on the same data, or None without the ``bench`` extra (evidently)."""
    try:
        import pandas as pd
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except ImportError:
        log("evidently is not installed (pip install -e '.[bench]'): skipped")
        return None

    def run() -> None:
        Report([DataDriftPreset()]).run(pd.DataFrame(cur), pd.DataFrame(ref))

    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per frame (1M)")
    parser.add_argument("--features", type=int, default=20, help="numeric features (20)")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs, best kept (3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.rows < 2 or args.features < 1 or args.repeat < 1:
        parser.error("--rows must be >= 2, --features and --repeat >= 1")

    load_start = os.getloadavg()[0]
    log(f"generating 2 x {args.rows:,} x {args.features} values ...")
    ref, cur = make_frames(args.rows, args.features, args.seed)
    log("1/3 NumericDrift.update throughput ...")
    values_per_s, values_per_cpu_s = update_throughput(ref, cur, args.repeat)
    log("2/3 scipy exact (ks_2samp + wasserstein_distance per column) ...")
    scipy_s, exact = best_of(1, lambda: scipy_exact(ref, cur))
    log("3/3 Resonance (fit_reference + update + result) ...")
    resonance_s, binned = best_of(1, lambda: resonance(ref, cur))
    evidently_s = evidently_seconds(ref, cur)

    ks_err = max(abs(binned[k][0] - exact[k][0]) for k in exact)
    w_abs = max(abs(binned[k][1] - exact[k][1]) for k in exact)
    shifted = [k for k in exact if exact[k][1] >= 0.05]  # relative error means little near 0
    w_rel = max((abs(binned[k][1] - exact[k][1]) / exact[k][1] for k in shifted), default=0.0)
    log(
        f"agreement: max |KS - exact| {ks_err:.5f}, max |W1 - exact| {w_abs:.5f}, "
        f"max W1 relative error (W1 >= 0.05) {w_rel:.4%}"
    )

    figures: dict[str, float] = {
        "feature_values_per_s": values_per_s,
        "feature_values_per_cpu_s": values_per_cpu_s,
        "scipy_exact_s": scipy_s,
        "resonance_s": resonance_s,
        "resonance_fit_s": SPLIT["fit_s"],
        "resonance_update_s": SPLIT["update_s"],
        "resonance_result_s": SPLIT["result_s"],
        "speedup_vs_scipy": scipy_s / resonance_s,
    }
    if evidently_s is not None:
        figures["evidently_s"] = evidently_s
        figures["speedup_vs_evidently"] = evidently_s / resonance_s
    figures["load_average_1m_start"] = load_start
    figures["load_average_1m_end"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"rows {args.rows:,} x features {args.features}")
    print(f"{'NumericDrift.update':<36}{values_per_s / 1e6:>12.1f} M values/s")
    print(f"{'NumericDrift.update (CPU time)':<36}{values_per_cpu_s / 1e6:>12.1f} M values/s")
    print(f"{'compare: scipy exact':<36}{scipy_s:>12.3f} s")
    speedup = scipy_s / resonance_s
    print(f"{'compare: Resonance':<36}{resonance_s:>12.3f} s   ({speedup:.1f}x faster)")
    fit, upd = SPLIT["fit_s"], SPLIT["update_s"]
    print(f"{'  fit / update / result':<36}{fit:>8.3f} / {upd:.3f} / {SPLIT['result_s']:.3f} s")
    if evidently_s is not None:
        print(f"{'compare: Evidently DataDriftPreset':<36}{evidently_s:>12.3f} s")
    print(f"{'max |KS - exact|':<36}{ks_err:>12.5f}")
    print(f"{'max |W1/std - exact|':<36}{w_abs:>12.5f}")
    print(f"{'max W1 relative error (W1 >= 0.05)':<36}{w_rel:>12.4%}")
    print(f"{'load average (1 min) start / end':<36}{load_start:>8.2f} / {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
