"""Storage and speed cost of the reference binning, per data shape.

For each shape: fine bins per feature, PSI groups, bytes of one window partial's
JSON, ``NumericDrift.update`` values/s over ROWS values (one core) and the
``ks_error_bound`` of a same-distribution window. ``--json`` prints one object.

    python benchmarks/binning_cost.py --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processors.drift import NumericDrift
from processors.reference import fit_numeric


def shapes(rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Continuous, small-integer, rounded and wide-integer readings."""
    return {
        "normal": rng.normal(size=rows),
        "poisson3": rng.poisson(3, rows) * 1.0,
        "rounded_0.1": np.round(rng.normal(100, 1.5, rows), 1),
        "integers200": rng.integers(0, 200, rows) * 1.0,
    }


def measure(x: np.ndarray, rng: np.random.Generator, repeat: int) -> dict[str, float]:
    ref = fit_numeric(x, "x")
    cur = rng.permutation(x)
    best = float("inf")
    for _ in range(repeat):
        engine = NumericDrift(ref)
        t0 = time.perf_counter()
        engine.update(cur)
        best = min(best, time.perf_counter() - t0)
    return {
        "bins": len(ref.counts),
        "groups": len(ref.group_ends),
        "partial_json_bytes": len(json.dumps(engine.to_dict())),
        "update_values_per_s": x.size / best,
        "ks_error_bound": engine.result()["ks_error_bound"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    out = {name: measure(x, rng, args.repeat) for name, x in shapes(args.rows, rng).items()}
    if args.json:
        print(json.dumps(out))
        return 0
    for name, m in out.items():
        print(
            f"{name:<12} bins {m['bins']:>5}  groups {m['groups']:>3}  "
            f"partial {m['partial_json_bytes']:>6} B  "
            f"update {m['update_values_per_s'] / 1e6:6.1f} M/s"
            f"  ks_error_bound {m['ks_error_bound']:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
