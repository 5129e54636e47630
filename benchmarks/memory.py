"""Memory: the worker's RSS as samples accumulate, and the peak RSS of ``resonance drift``.

1. **Worker**: the worker's processing core in this process, without Faust and Kafka
   (``streams.decode.decode`` -> ``PartitionState.process`` -> blocks finalised every
   ``block_messages`` messages, final partials encoded, state reset, as the worker does
   after a commit), fed batch envelopes of 100 samples x 20 features whose event time
   moves one minute per 60,000 samples. RSS after 1M and after ``--samples`` (10M).
2. **Comparison**: ``resonance drift`` on a ROWS x 20 Parquet reference against a
   ROWS x 20 Parquet current, in a child process: its peak RSS (``ru_maxrss``) and
   wall time.

``--json`` prints one object.

    python benchmarks/memory.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processors.reference import fit_reference  # noqa: E402
from streams.decode import decode  # noqa: E402
from streams.partition import BlockConfig, PartitionState  # noqa: E402
from streams.registry import ModelRegistry  # noqa: E402

FEATURES = [f"f{i:02d}" for i in range(20)]
BATCH = 100
HEAD = {
    "schema_version": 1,
    "kind": "telemetry",
    "batch": True,
    "consortium": "steel",
    "member": "baowu",
    "model": "bench",
    "model_version": "1",
    "site": "s1",
    "hub": "h1",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rss_mb() -> float:
    """Resident set size of this process now (Linux /proc), in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def worker_rss(samples: int, checkpoint: int, seed: int) -> dict[str, float]:
    """RSS after ``checkpoint`` and after ``samples`` samples through the worker core."""
    rng = np.random.default_rng(seed)
    profile = fit_reference({f: rng.normal(900, 20, 20_000) for f in FEATURES}, model="bench",
                            version="1")  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="resonance-mem-"))
    (tmp / "references" / "steel").mkdir(parents=True)
    (tmp / "references" / "steel" / "bench-1.json").write_text(profile.to_json())
    registry = ModelRegistry.load(tmp)
    cfg = BlockConfig()
    state = PartitionState(0, cfg, registry)
    pool = rng.normal(900, 20, (64, len(FEATURES), BATCH)).round(2)
    now = int(time.time() * 1000)
    start = now - 86_400_000  # one day back: 10M samples at 60k/min span ~2.8 h of event time
    out: dict[str, float] = {"rss_start_mb": rss_mb()}
    done, offset, t0 = 0, 0, time.perf_counter()
    while done < samples:
        ts = start + done + np.arange(BATCH)  # 1 ms per sample: 60,000 samples a minute
        values = pool[offset % len(pool)]
        feats = {f: values[i].tolist() for i, f in enumerate(FEATURES)}
        raw = orjson.dumps(HEAD | {"ts": ts.tolist(), "features": feats})
        result = decode(raw, now_ms=now)
        assert not result.rejections, result.rejections
        state.process("telemetry", offset, result)
        offset += 1
        done += result.n
        if offset % 50 == 0:
            state.flush()
        if state.messages >= cfg.block_messages:
            for partial in state.partials(final=True):
                partial.encode()
            state.reset()
        if done == checkpoint:
            out["rss_1m_mb"] = rss_mb()
            log(f"  {done:,} samples: RSS {out['rss_1m_mb']:.0f} MB")
    out["rss_end_mb"] = rss_mb()
    out["samples"] = done
    out["samples_per_s"] = done / (time.perf_counter() - t0)
    out["growth"] = out["rss_end_mb"] / out["rss_1m_mb"] - 1
    log(f"  {done:,} samples: RSS {out['rss_end_mb']:.0f} MB")
    return out


def drift_peak(rows: int, seed: int) -> dict[str, float]:
    """Peak RSS and wall time of ``resonance drift`` ROWS x 20 vs ROWS x 20 (Parquet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="resonance-mem-") as tmp:
        paths = []
        for name, shift in (("ref", 0.0), ("cur", 0.3)):
            table = pa.table({f: rng.normal(shift * (i % 3 == 0), 1.0, rows) for i, f in
                              enumerate(FEATURES)})  # fmt: skip
            path = Path(tmp) / f"{name}.parquet"
            pq.write_table(table, path)
            paths.append(str(path))
            del table
        cli = str(Path(sys.executable).with_name("resonance"))
        cmd = [cli, "drift", "--reference", paths[0], "--current", paths[1], "--format", "json"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False)
        seconds = time.perf_counter() - t0
        if proc.returncode not in (0, 1):
            raise RuntimeError(proc.stderr.decode()[-2000:])
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"drift_peak_rss_mb": peak_kb / 1e3, "drift_s": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=10_000_000, help="worker samples (10M)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="drift rows per side (1M)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.samples < 1_000_000 or args.samples % BATCH:
        parser.error("--samples must be >= 1,000,000 and a multiple of 100")
    log(f"1/2 drift comparison {args.rows:,} x 20 vs {args.rows:,} x 20 (child process) ...")
    figures = drift_peak(args.rows, args.seed)
    log(f"2/2 worker core, {args.samples:,} samples ...")
    figures |= worker_rss(args.samples, 1_000_000, args.seed)
    figures["load_average_1m"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(figures))
        return 0
    for key, value in figures.items():
        print(f"{key:<24}{value:>14,.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
