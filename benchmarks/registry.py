"""Benchmark the model registry topic: how fast a registration reaches a live reader, and
how long a restarted process takes to rebuild the registry from the topic.

Starts an embedded broker (Tansu), creates the topics, registers ``--models`` entries (a
20-feature reference profile each), then: per-entry latency from ``publish`` returning to
a running :class:`streams.registry.RegistryReader` applying it (p50/max), and the time a
fresh reader needs to read the whole topic (what a restarted worker does at start-up).

``--json`` prints exactly one JSON object on stdout.

    python benchmarks/registry.py --models 200 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processors.reference import fit_reference
from streams.broker import EmbeddedBroker
from streams.registry import ModelEntry, RegistryReader, Target, publish
from streams.settings import StreamSettings
from streams.topics import create_topics


def entries(n: int) -> list[ModelEntry]:
    rng = np.random.default_rng(0)
    cols = {f"f{i}": rng.normal(size=5_000) for i in range(20)}
    out = []
    for i in range(n):
        profile = fit_reference(cols, model=f"m{i}", version="1")
        out.append(ModelEntry(consortium="bench", model=f"m{i}", version="1",
                              target=Target(kind="regressor"), reference=profile.to_dict(),
                              updated_at=int(time.time() * 1000)))  # fmt: skip
    return out


def run(n_models: int, live: int) -> dict:
    batch = entries(n_models)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(log_path=Path(tmp) / "b.log") as b:
        settings = StreamSettings(kafka_bootstrap=b.bootstrap)
        create_topics(settings, 1)
        reader = RegistryReader(settings).start()
        latencies = []
        for entry in batch[:live]:
            publish(settings, [entry])
            t0 = time.perf_counter()
            while reader.registry.get(*entry.mid) is None:
                time.sleep(0.001)
            latencies.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        publish(settings, batch[live:])
        publish_s = time.perf_counter() - t0
        reader.stop()
        t0 = time.perf_counter()
        fresh = RegistryReader(settings).start()
        rebuild_s = time.perf_counter() - t0
        fresh.stop()
        assert len(fresh.registry) == n_models
    size = len(batch[0].to_json())
    return {
        "models": n_models,
        "entry_bytes": size,
        "live_pickup_s": {
            "p50": float(np.median(latencies)),
            "max": float(max(latencies)),
            "n": len(latencies),
        },  # fmt: skip
        "publish_rest_s": round(publish_s, 3),
        "rebuild_s": round(rebuild_s, 3),
    }


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", type=int, default=200)
    p.add_argument("--live", type=int, default=20, help="entries timed one by one")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    result = run(args.models, min(args.live, args.models))
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>16}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
