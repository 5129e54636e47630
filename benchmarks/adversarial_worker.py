"""Issue 11's adversarial inputs through a REAL worker process and the real broker: RSS and
throughput.

A Tansu broker starts on a free port with one-partition topics; everything below is
produced before the worker starts (so the worker's first group holds the whole backlog,
the worst case of the recovery floor), in this order:

1. ``one_site``: ``--events`` (default 10,000) single telemetry events of one model, one
   site (the normal rate);
2. ``distinct_sites``: as many single events over 10,000 distinct sites (site ``i % 10,000``);
3. ``unknown``: one ~250 KB message with 20,000 unknown features;
4. ``minutes``: four ~275 KB batches with every row in its own minute.

One ``python -m streams.worker`` (production defaults, ``RESONANCE_REPORT_INTERVAL_S=0.25``)
reads it all. A thread samples the worker's RSS (psutil, every 0.1 s); the phases' rates
come from the worker's progress lines (messages/s between the lines where its message
counter crosses the phase boundaries). The run ends when the worker has committed every
offset. ``--json`` prints ``rss_mb`` (start, max, max per phase), ``msgs_per_s`` per
phase, ``sites_ratio`` (distinct / one site), the DLQ records (count, largest) and the
load average. Acceptance (issue 11): RSS max < 500 MB, ``sites_ratio`` >= 0.5, no DLQ
record above 131,072 bytes, at the default ``--events`` and at 50,000 (45,005 DLQ
records in one first group; 1,000 admitted sites x 8 statistics in one or two minute
windows, up to 16,000 partials per emission). Measured 2026-12-03 with the emission in
chunks of exact-size records: RSS max 146 MB (default) and 172 MB (50,000), 314-331 and
490-536 MB before (docs/streaming.md, "Bounds").

    .venv/bin/python benchmarks/adversarial_worker.py --json
    .venv/bin/python benchmarks/adversarial_worker.py --events 50000 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.procstats import RssSampler  # noqa: E402
from benchmarks.stream_throughput import WorkerProgress, log, produce  # noqa: E402
from simulator import ListSink, Simulator  # noqa: E402
from simulator.references import write_references  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.settings import StreamSettings  # noqa: E402
from streams.topics import create_topics  # noqa: E402

MODEL = "strip-surface-defect"
RECORD_MAX = 131_072  # the default RESONANCE_DLQ_MAX_RECORD_BYTES


def payloads(seed: int, events: int) -> tuple[dict[str, list[bytes]], Simulator]:
    sim = Simulator(seed=seed, rate=2.0, batch_size=10, models=(MODEL,))
    sink = ListSink()
    start = datetime.now(UTC) - timedelta(minutes=30)
    sim.run(sink, start=start, duration=60, pace=False, flush_outcomes=False)
    tele = next(orjson.loads(v) for t, _, v in sink.records if t == "telemetry")
    feats = {f: col[0] for f, col in tele["features"].items()}
    single = {k: v for k, v in tele.items() if k != "batch"}
    ts = int(start.timestamp() * 1000)
    phases: dict[str, list[bytes]] = {}
    for label, sites in (("one_site", 1), ("distinct_sites", 10_000)):
        phases[label] = [
            orjson.dumps({**single, "ts": ts + i, "features": feats, "site": f"s-{i % sites}"})
            for i in range(events)
        ]
    unknown = {**single, "ts": ts, "features": {**feats, **{f"u{i:05d}": 1.0
                                                            for i in range(20_000)}}}  # fmt: skip
    phases["unknown"] = [orjson.dumps(unknown)]
    n = 5_000  # rows per batch: ~275 KB
    phases["minutes"] = [
        orjson.dumps({**tele, "ts": [ts - 60_000 * (b * n + i) for i in range(n)],
                      "features": {f: [v] * n for f, v in feats.items()}})
        for b in range(4)
    ]  # fmt: skip
    return phases, sim


async def committed(bootstrap: str, group: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        return await c.committed(TopicPartition("telemetry", 0)) or 0
    finally:
        await c.stop()


async def dlq_sizes(bootstrap: str) -> list[int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         auto_offset_reset="earliest")  # fmt: skip
    await c.start()
    try:
        tp = TopicPartition("dlq", 0)
        c.assign([tp])
        end = (await c.end_offsets([tp]))[tp]
        sizes: list[int] = []
        while len(sizes) < end:
            batch = await c.getmany(tp, timeout_ms=1000, max_records=10_000)
            sizes += [len(r.value) for recs in batch.values() for r in recs]
        return sizes
    finally:
        await c.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--events",
        type=int,
        default=10_000,
        help="single events per rate phase (10000, the issue's 10,000 distinct sites)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    phases, sim = payloads(args.seed, args.events)
    bounds, total = {}, 0
    for label, values in phases.items():
        bounds[label] = (total, total + len(values))
        total += len(values)
    with tempfile.TemporaryDirectory(prefix="resonance-adv-") as tmp, EmbeddedBroker() as broker:
        root = Path(tmp)
        write_references(list(sim.models), root / "references", 0, n=5_000)
        settings = StreamSettings(kafka_bootstrap=broker.bootstrap, partitions=1)
        create_topics(settings, partitions=1)
        log(f"producing {total:,} messages ({', '.join(phases)}) ...")
        produce(broker.bootstrap, [v for values in phases.values() for v in values])
        env = {
            **os.environ,
            "RESONANCE_KAFKA_BOOTSTRAP": broker.bootstrap,
            "RESONANCE_REFERENCES_DIR": str(root),
            "RESONANCE_APP_ID": "adv-worker",
            "RESONANCE_PARTITIONS": "1",
            "RESONANCE_REPORT_INTERVAL_S": "0.25",
            "RESONANCE_TAKE_MAX": "2000",
        }  # fmt: skip  (a progress line per 2,000 records)
        log("one worker ...")
        proc = subprocess.Popen([sys.executable, "-m", "streams.worker"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        rss = RssSampler(proc.pid)
        try:
            progress = WorkerProgress(proc)
            progress.wait_messages(total, timeout=900)
            deadline = time.monotonic() + 300
            while asyncio.run(committed(broker.bootstrap, "adv-worker")) < total:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(
                        "worker did not commit everything:\n" + "".join(progress.tail)
                    )
                time.sleep(0.5)
            done_at = time.monotonic()
            sizes = asyncio.run(dlq_sizes(broker.bootstrap))
        finally:
            rss.stop()
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def crossing(n: int) -> float:  # time of the first progress line at or past n messages
        return next(t for t, m, *_ in progress.points if m >= n)

    rates = {label: round(progress.rate(lo, hi, 1)) for label, (lo, hi) in bounds.items()
             if label in ("one_site", "distinct_sites")}  # fmt: skip
    phase_rss = {}
    for label, (lo, hi) in bounds.items():
        t0 = crossing(lo + 1) if lo else rss.samples[0][0]
        t1 = done_at if hi == total else crossing(hi)
        phase_rss[label] = rss.max_between(t0 - 0.3, t1)
    figures = {
        "rss_mb": {
            "start": round(rss.samples[0][1], 1),
            "max": round(max(r for _, r in rss.samples), 1),
            **phase_rss,
        },  # fmt: skip
        "rss_samples": len(rss.samples),
        "msgs_per_s": rates,
        "sites_ratio": round(rates["distinct_sites"] / rates["one_site"], 3),
        "unknown_message_kb": round(len(phases["unknown"][0]) / 1024),
        "minutes_batch_kb": round(len(phases["minutes"][0]) / 1024),
        "dlq_records": len(sizes),
        "dlq_record_max_bytes": max(sizes, default=0),
        "dlq_record_limit_bytes": RECORD_MAX,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    figures["acceptance"] = {
        "rss_under_500_mb": figures["rss_mb"]["max"] < 500,
        "sites_ratio_at_least_half": figures["sites_ratio"] >= 0.5,
        "dlq_records_within_limit": figures["dlq_record_max_bytes"] <= RECORD_MAX,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
