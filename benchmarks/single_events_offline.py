"""Worker CPU per single event without Kafka: decode + accounting + flush, one message at a
time against runs (``PartitionState.process_singles``), in the same process.

The events are stream_throughput.py's (20 numeric features, one tenancy, event time over
5 minutes); they go through ``StreamProcessor._process_all`` in batches of ``--batch`` (a
fetch), each batch flushed, as the worker does. CPU time (``time.process_time``), best of
``--repeat``; both modes must give the same partials (checked). Prints one JSON object:

    python benchmarks/single_events_offline.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import stream_throughput as st  # noqa: E402
from faust.types import TP  # noqa: E402

import streams.app as app_module  # noqa: E402
from streams.app import StreamProcessor  # noqa: E402
from streams.decode import decode  # noqa: E402
from streams.partition import PartitionState  # noqa: E402
from streams.registry import ModelRegistry  # noqa: E402
from streams.settings import StreamSettings  # noqa: E402


def account(registry: ModelRegistry, values: list[bytes], batch: int, runs: bool) -> tuple:
    """(CPU seconds, final partials) of one pass over ``values``."""
    run_key = app_module._run_key
    if not runs:
        app_module._run_key = lambda tp, r: None  # type: ignore[assignment]
    try:
        processor = StreamProcessor(SimpleNamespace(), StreamSettings(), registry)  # type: ignore[arg-type]
        state = PartitionState(0, processor.cfg, registry)
        tp = TP("telemetry", 0)
        messages = [(tp, SimpleNamespace(offset=i, value=v)) for i, v in enumerate(values)]
        t0 = time.process_time()
        for lo in range(0, len(messages), batch):
            processor._rejected = {}
            processor._process_all(state, messages[lo : lo + batch])
            state.flush()
        cpu = time.process_time() - t0
    finally:
        app_module._run_key = run_key
    final = sorted((p.key, repr(p.state), p.count) for p in state.partials(final=True))
    return cpu, final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--singles", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=5_000, help="messages per fetch (5000)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="resonance-bench-") as tmp:
        st.write_profile(Path(tmp), rng)
        registry = ModelRegistry.load(Path(tmp))
    values = st.payloads(10, args.singles, rng)[10:]
    t0 = time.process_time()
    for v in values:
        decode(v)
    decode_s = time.process_time() - t0
    best: dict[bool, float] = {}
    finals = {}
    for _ in range(args.repeat):
        for runs in (False, True):
            cpu, finals[runs] = account(registry, values, args.batch, runs)
            best[runs] = min(best.get(runs, cpu), cpu)
    if finals[True] != finals[False]:
        print("runs and one message at a time differ", file=sys.stderr)
        return 1
    n = len(values)
    print(json.dumps({
        "singles": n,
        "batch": args.batch,
        "decode_us_per_event": decode_s / n * 1e6,
        "one_at_a_time_us_per_event": best[False] / n * 1e6,
        "runs_us_per_event": best[True] / n * 1e6,
        "speedup": best[False] / best[True],
        "load_average_1m": os.getloadavg()[0],
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
