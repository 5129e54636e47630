"""What the sink fence costs per flush: guarded vs plain delta inserts on chDB.

Writes ``--batches`` batches of ``--keys`` energy partials (one new version per key and
batch, so every batch inserts ``--keys`` delta rows) through :class:`PartialWriter`, once
unfenced (``send_insert`` of the Arrow stream) and once with a claimed
:class:`~warehouse.sink.fence.Fence` (``INSERT ... SELECT ... FROM Python(rows) WHERE
throwIf(<newer claim>) = 0``), each into its own fresh chDB, one run after the other in
one process with the same records. Reports CPU seconds of the process (``time.process_time``:
chDB's threads included) and wall seconds per batch for both, their ratios, and the claim
itself (one query, one insert, one look at ``system.processes``), timed once.

    .venv/bin/python benchmarks/sink_fence.py --json [--batches 40 --keys 500]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# Run as a script: import the packages from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

T0 = 1_764_547_200  # 2025-12-01T00:00:00Z


def records(batch: int, keys: int) -> list[dict]:
    from streams.partials import Partial

    out = []
    for k in range(keys):
        v = batch + 1
        state = {"joules": float(v), "inferences": v, "duration_s": 1.0, "readings": v}
        partial = Partial(
            consortium="bench", member="m", model=f"m{k % 50}", model_version="1",
            site=f"s{k}", hub="h", feature="", kind="energy", window_start=T0 * 1000,
            window_end=(T0 + 60) * 1000, late=False, source_topic="energy",
            source_partition=0, block_start=0, final=False, last_offset=v, state=state,
        )  # fmt: skip
        out.append(partial.to_dict())
    return out


def run(fenced: bool, batches: int, keys: int) -> dict:
    from warehouse.backend import ChdbBackend
    from warehouse.migrate import migrate
    from warehouse.sink import PartialWriter
    from warehouse.sink.fence import claim
    from warehouse.sink.partials import parse_partial

    data = [[parse_partial(r, "partials", 0) for r in records(b, keys)] for b in range(batches)]
    with tempfile.TemporaryDirectory() as tmp:
        backend = ChdbBackend(tmp)
        try:
            migrate(backend, minute_ttl_days=0, log=lambda _m: None)
            writer = PartialWriter(backend)
            claim_s = None
            if fenced:
                t = time.perf_counter()
                writer.fence = claim(backend, "bench", [("partials", 0)])
                claim_s = time.perf_counter() - t
            writer.write(data[0])  # warm-up (first insert into each table)
            cpu, wall = time.process_time(), time.perf_counter()
            for batch in data[1:]:
                stats = writer.write(batch)
                assert stats.inserted == keys, stats
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            joules = backend.query("SELECT sumMap(sums)['joules'] AS j FROM energy_minute")
            assert joules.column("j")[0].as_py() == float(batches) * keys  # exact
        finally:
            backend.close()
    n = batches - 1
    return {"cpu_s_per_batch": cpu / n, "wall_s_per_batch": wall / n, "claim_s": claim_s}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--keys", type=int, default=500)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    plain = run(False, args.batches, args.keys)
    fenced = run(True, args.batches, args.keys)
    out = {
        "batches": args.batches,
        "keys_per_batch": args.keys,
        "plain": plain,
        "fenced": fenced,
        "cpu_ratio_fenced_over_plain": fenced["cpu_s_per_batch"] / plain["cpu_s_per_batch"],
        "wall_ratio_fenced_over_plain": fenced["wall_s_per_batch"] / plain["wall_s_per_batch"],
        "loadavg": os.getloadavg(),
    }
    print(json.dumps(out, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
