"""Worker state under the adversarial inputs of issue 11: peak RSS and throughput.

Feeds :class:`streams.partition.PartitionState` (the worker's pure core, default bounds)
with decoded messages, as the agent does, and reports peak RSS (ru_maxrss) per scenario:

* ``minutes``: four ~275 KB batches with every row in its own minute (2.4 GB before the
  window bounds);
* ``unknown``: one ~250 KB message with 20,000 unknown features (one DLQ record now);
* ``sites``: 10,000 messages with 10,000 distinct sites, versus 10,000 with one site
  (messages/s of both).

    .venv/bin/python benchmarks/adversarial_memory.py --json
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from simulator import ListSink, Simulator
from simulator.references import write_references
from streams.decode import decode
from streams.dlq import message_record
from streams.partition import BlockConfig, PartitionState
from streams.registry import ModelRegistry


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    sim = Simulator(seed=3, rate=2.0, batch_size=10, models=("strip-surface-defect",))
    sink = ListSink()
    start = datetime.now(UTC) - timedelta(minutes=30)
    sim.run(sink, start=start, duration=60, pace=False, flush_outcomes=False)
    tmp = Path(tempfile.mkdtemp())
    write_references(list(sim.models), tmp / "references", 0, n=5_000)
    registry = ModelRegistry.load(tmp)
    tele = next(orjson.loads(v) for t, _, v in sink.records if t == "telemetry")
    feats = {f: col[0] for f, col in tele["features"].items()}
    ts = int(start.timestamp() * 1000)
    state = PartitionState(0, BlockConfig(), registry)
    out: dict[str, object] = {"rss_start_mb": round(rss_mb(), 1)}
    offset = 0

    def feed(raw: bytes) -> int:
        nonlocal offset
        r = decode(raw)
        rejects = list(r.rejections) + state.process("telemetry", offset, r)
        offset += 1
        record = message_record(raw, rejects, "telemetry", 0, offset) if rejects else b""
        return len(record)

    n = 12_000  # rows per batch: ~275 KB
    biggest = 0
    for b in range(4):
        rows = {**tele, "ts": [ts - 60_000 * (b * n + i) for i in range(n)],
                "features": {f: [v] * n for f, v in feats.items()}}  # fmt: skip
        biggest = max(biggest, feed(orjson.dumps(rows)))
        state.flush()
    out["minutes_batch_kb"] = round(len(orjson.dumps(rows)) / 1024)
    out["minutes_rss_mb"] = round(rss_mb(), 1)
    unknown = {**{k: v for k, v in tele.items() if k != "batch"}, "ts": ts,
               "features": {**feats, **{f"u{i:05d}": 1.0 for i in range(20_000)}}}  # fmt: skip
    raw = orjson.dumps(unknown)
    out["unknown_message_kb"] = round(len(raw) / 1024)
    out["unknown_dlq_record_bytes"] = feed(raw)
    out["max_dlq_record_bytes"] = max(biggest, out["unknown_dlq_record_bytes"])
    out["unknown_rss_mb"] = round(rss_mb(), 1)
    single = {k: v for k, v in tele.items() if k != "batch"}
    for label, sites in (("one_site", 1), ("distinct_sites", 10_000)):
        msgs = [orjson.dumps({**single, "ts": ts + i, "features": feats,
                              "site": f"s-{i % sites}"}) for i in range(10_000)]  # fmt: skip
        state.reset()
        t0 = time.perf_counter()
        for m in msgs:
            feed(m)
        state.flush()
        state.partials(final=True)
        out[f"{label}_msgs_per_s"] = round(len(msgs) / (time.perf_counter() - t0))
    out["rss_peak_mb"] = round(rss_mb(), 1)
    out["limited"] = dict(state.limited)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k}: {v}", file=sys.stdout)


if __name__ == "__main__":
    main()
