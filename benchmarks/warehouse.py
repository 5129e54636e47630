"""Warehouse benchmark: backfill 1-minute drift partials, then time range drift queries.

Backfills ``--days`` days (default 30) of 1-minute numeric drift partials for
``--models`` models × ``--features`` features (default 20 × 20: ~17M rows of ~51
bins) into a fresh chDB, one day per Arrow insert (memory stays bounded; progress
on stderr). Rows are what the sink writes (delta rows; here each key has one
version) and the materialized views keep the hour/day rollups during the load.
Then it times ``warehouse.queries.drift`` for one model over the last 30 days and
the last day, both ending at a ragged minute (so each reads day + hour + minute
tables), including PSI/KS/... by the engines. Target: month query < 2 s.

    .venv/bin/python benchmarks/warehouse.py --json [--days 2 --models 4] [--data-dir D]

Prints ``{"rows", "ingest_rows_per_s", "month_drift_query_s", "day_drift_query_s"}``
(best of 3) plus the first (cold) runs, the month at step 1d (600 buckets, dominated
by the engines' exact KS p-value) and the sink's own write path on a small sample
(``sink_partials_per_s``: dict records → deltas → insert).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

# This file is named like the package it measures: run as a script, its own directory
# would shadow the `warehouse` package, so import from the repository root instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

DAY = 86_400
CONSORTIUM = "bench"
PER_MINUTE = 600  # samples per model, feature and minute


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def profiles(models: int, features: int, bins: int):
    """One reference profile per model (numeric features, ``bins`` quantile bins)."""
    from processors.reference import fit_reference

    rng = np.random.default_rng(0)
    columns = {f"f{j:02d}": rng.normal(j, 1 + j / 10, 20_000) for j in range(features)}
    base = fit_reference(columns, model="m00", version="1", n_bins=bins)
    return [
        type(base)(f"m{i:02d}", "1", base.features, base.n_bins, base.top_k) for i in range(models)
    ]


def day_table(day_start: int, profs, rng: np.random.Generator) -> pa.Table:
    """All minute drift rows of one day: counts ~ Poisson around the reference shares."""
    feats = list(profs[0].features.items())
    minutes = np.arange(day_start, day_start + DAY, 60, dtype=np.int64)
    n_series = len(profs) * len(feats)
    n_rows = n_series * minutes.size
    n_bins = len(feats[0][1].edges) + 1
    ref = np.asarray(feats[0][1].counts, dtype=np.float64)
    shares = np.maximum(ref / ref.sum(), 1e-4)
    counts = rng.poisson(shares * PER_MINUTE, size=(n_rows, n_bins)).astype(np.int64)
    mids = np.asarray(feats[0][1].sums) / np.maximum(ref, 1)
    sums = counts * mids
    offsets = pa.array(np.arange(0, (n_rows + 1) * n_bins, n_bins, dtype=np.int32))
    model_of = np.repeat(np.arange(len(profs)), len(feats) * minutes.size)
    feat_of = np.tile(np.repeat(np.arange(len(feats)), minutes.size), len(profs))
    model_names = np.array([p.model for p in profs])
    feat_names = np.array([name for name, _ in feats])

    def repeat(value: str) -> pa.Array:
        return pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(n_rows, np.int32)), pa.array([value])
        ).cast(pa.string())

    return pa.table(
        {
            "consortium": repeat(CONSORTIUM),
            "member": repeat("member-a"),
            "model": pa.array(model_names[model_of]),
            "model_version": repeat("1"),
            "site": repeat("site-1"),
            "hub": repeat("guizhou"),
            "feature": pa.array(feat_names[feat_of]),
            "kind": repeat("numeric"),
            "window_start": pa.array(np.tile(minutes, n_series), pa.timestamp("s", tz="UTC")),
            "late": pa.array(np.zeros(n_rows, np.uint8)),
            "counts": pa.ListArray.from_arrays(offsets, pa.array(counts.ravel())),
            "sums": pa.ListArray.from_arrays(offsets, pa.array(sums.ravel())),
            "n_missing": pa.array(rng.poisson(2, n_rows).astype(np.int64)),
            "key": pa.array(np.char.add("k", np.arange(n_rows).astype(str))),
            "version": pa.array(np.ones(n_rows, np.int64)),
            "final": pa.array(np.ones(n_rows, np.uint8)),
        }
    )


def sink_rate(backend, profs, t0: int, n: int = 20_000) -> float:
    """Partials per second through the sink's idempotent write path (dicts → deltas)."""
    from warehouse.sink import PartialWriter

    rng = np.random.default_rng(1)
    feats = list(profs[0].features)
    bins = len(profs[0].features[feats[0]].edges) + 1
    records = [
        {
            "kind": "drift_numeric", "consortium": "sinkbench", "member": "a", "model": "m",
            "model_version": "1", "site": "s", "hub": "guizhou", "feature": feats[i % len(feats)],
            "window_start": (t0 + (i // len(feats)) * 60) * 1000, "late": False,
            "key": f"s{i}", "version": 1, "final": True,
            "state": {"counts": rng.poisson(10, bins).tolist(),
                      "sums": rng.normal(0, 1, bins).tolist(), "n_missing": 0},
        }
        for i in range(n)
    ]  # fmt: skip
    writer = PartialWriter(backend)
    start = time.perf_counter()
    for i in range(0, n, 5_000):
        writer.write(records[i : i + 5_000])
    return n / (time.perf_counter() - start)


def run(days: int, models: int, features: int, bins: int, data_dir: Path) -> dict:
    import processors.drift  # noqa: F401  (import scipy now, not inside the first query)
    from warehouse import queries
    from warehouse.backend import ChdbBackend
    from warehouse.migrate import migrate
    from warehouse.references import store_reference

    backend = ChdbBackend(data_dir)
    try:
        migrate(backend, minute_ttl_days=0, log=log)
        profs = profiles(models, features, bins)
        for p in profs:
            store_reference(backend, CONSORTIUM, p)
        today = int(time.time()) // DAY * DAY
        t0 = today - days * DAY
        rng = np.random.default_rng(42)
        rows, insert_s = 0, 0.0
        for d in range(days):
            table = day_table(t0 + d * DAY, profs, rng)
            start = time.perf_counter()
            backend.insert_arrow("drift_minute", table)  # its count includes the MV rows
            rows += table.num_rows
            insert_s += time.perf_counter() - start
            log(f"day {d + 1}/{days}: {rows:,} rows, {rows / insert_s:,.0f} rows/s")
            del table
        end = today - 13 * 60  # ragged end: the query reads day + hour + minute tables
        month_cold, month_s = timed(lambda: queries.drift(backend, CONSORTIUM, model="m00",
                                              start=end - 30 * DAY, end=end))  # fmt: skip
        day_cold, day_s = timed(lambda: queries.drift(backend, CONSORTIUM, model="m00",
                                            start=end - DAY, end=end))  # fmt: skip
        _, month_daily_s = timed(
            lambda: queries.drift(
                backend, CONSORTIUM, model="m00", start=end - 30 * DAY, end=end, step="1d"
            )
        )
        sink = sink_rate(backend, profs, t0)
        return {
            "rows": rows,
            "ingest_rows_per_s": round(rows / insert_s, 1),
            "month_drift_query_s": round(month_s, 4),
            "day_drift_query_s": round(day_s, 4),
            "month_drift_query_cold_s": round(month_cold, 4),
            "day_drift_query_cold_s": round(day_cold, 4),
            "month_daily_steps_query_s": round(month_daily_s, 4),
            "sink_partials_per_s": round(sink, 1),
            "days": days,
            "models": models,
            "features": features,
            "bins": bins + 1,
        }
    finally:
        backend.close()


def timed(fn, repeat: int = 3) -> tuple[float, float]:
    """(first run, best of ``repeat``): cold caches after the load, then warm."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        assert result.rows, "benchmark query returned no rows"
    return times[0], min(times)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--bins", type=int, default=50, help="reference quantile bins")
    parser.add_argument("--data-dir", type=Path, help="keep the warehouse here (default: tmp)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    if args.data_dir:
        figures = run(args.days, args.models, args.features, args.bins, args.data_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="resonance-wh-bench-") as tmp:
            figures = run(args.days, args.models, args.features, args.bins, Path(tmp))
    print(json.dumps(figures) if args.json else json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
