"""One worker, end to end through the real broker: samples/s for batch envelopes and single events.

A Tansu broker starts on a free port with one-partition topics. The telemetry topic gets
``--batches`` envelopes of 100 samples x 20 numeric features, then ``--singles`` single
events (20 features each), all produced before anyone reads. In the same run:

1. a bare aiokafka consumer reads the topic from the start (the raw baseline: Kafka alone);
2. one ``python -m streams.worker`` (production block settings) decodes, validates, windows
   and accumulates everything; its progress lines (``RESONANCE_REPORT_INTERVAL_S=0.25``)
   give the rate of each phase.

``--json`` prints ``{"samples_per_s", "single_events_per_s", "raw_consume_samples_per_s",
"ratio"}`` (ratio = worker / raw, batch phase) plus the raw single-event rate, the rates
per second of the worker's own CPU time (``/proc``: what limits it when the machine is
shared) and the load average at start and end. ``--profile OUT`` also records the worker
with py-spy (``--gil``: the thread running Python) during the batch phase, or the single
phase with ``--profile-phase single``, and prints the functions holding most samples
(self and inclusive share) to stderr.

    python benchmarks/stream_throughput.py --json
    python benchmarks/stream_throughput.py --batches 3000 --singles 20000 --profile /tmp/w.txt
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processors.reference import fit_reference  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.settings import StreamSettings  # noqa: E402
from streams.topics import create_topics  # noqa: E402

TOPIC = "telemetry"
TENANCY = {
    "consortium": "steel",
    "member": "baowu",
    "model": "bench",
    "model_version": "1",
    "site": "s1",
    "hub": "yangtze-river-delta",
}
BATCH = 100
FEATURES = [f"f{i:02d}" for i in range(20)]
_LINE = re.compile(r"resonance worker: messages ([\d,]+), samples ([\d,]+)")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def write_profile(root: Path, rng: np.random.Generator) -> None:
    profile = fit_reference(
        {f: rng.normal(900, 20, 20_000).round(2) for f in FEATURES}, model="bench", version="1"
    )
    folder = root / "references" / TENANCY["consortium"]
    folder.mkdir(parents=True)
    (folder / "bench-1.json").write_text(profile.to_json())


def payloads(batches: int, singles: int, rng: np.random.Generator) -> list[bytes]:
    """Batch envelopes then single events, event time rising through the last 10 minutes."""
    now = int(time.time() * 1000)
    start, span = now - 600_000, 300_000
    out = []
    head = {"schema_version": 1, "kind": "telemetry", **TENANCY}
    values = rng.normal(900, 20, (batches, len(FEATURES), BATCH)).round(2)
    for b in range(batches):
        ts = (start + (b * BATCH + np.arange(BATCH)) * span // max(1, batches * BATCH)).tolist()
        feats = {f: values[b, i].tolist() for i, f in enumerate(FEATURES)}
        out.append(orjson.dumps(head | {"batch": True, "ts": ts, "features": feats}))
    single_values = rng.normal(900, 20, (singles, len(FEATURES))).round(2).tolist()
    for s in range(singles):
        ts = start + span + s * span // max(1, singles)
        feats = dict(zip(FEATURES, single_values[s], strict=True))
        out.append(orjson.dumps(head | {"ts": ts, "features": feats}))
    return out


def produce(bootstrap: str, values: list[bytes]) -> None:
    from confluent_kafka import Producer

    producer = Producer(
        {"bootstrap.servers": bootstrap, "compression.type": "gzip", "linger.ms": 20}
    )
    key = f"{TENANCY['consortium']}/{TENANCY['model']}".encode()
    for value in values:
        while True:
            try:
                producer.produce(TOPIC, value, key)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("producer did not deliver every message in 120 s")


async def raw_consume(bootstrap: str, boundary: int, total: int) -> tuple[float, float]:
    """Seconds a bare aiokafka consumer takes for offsets [0, boundary) and [boundary, total)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    tp = TopicPartition(TOPIC, 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 << 20,
        fetch_max_bytes=64 << 20,
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        seen, marks = 0, [time.perf_counter()]
        while seen < total:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=10_000)
            for records in batch.values():
                for rec in records:
                    seen = rec.offset + 1
                    if seen == boundary:
                        marks.append(time.perf_counter())
        marks.append(time.perf_counter())
    finally:
        await consumer.stop()
    if len(marks) == 2:  # no single events
        marks.insert(1, marks[-1])
    return marks[1] - marks[0], marks[2] - marks[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (all threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class WorkerProgress:
    """Reads a worker's stderr: (monotonic time, messages, samples, worker CPU seconds)
    per progress line."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.points: list[tuple[float, int, int, float]] = []
        self.tail: list[str] = []
        self._proc = proc
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stderr is not None
        for raw in self._proc.stderr:
            line = raw.decode(errors="replace")
            self.tail = [*self.tail[-20:], line]
            m = _LINE.search(line)
            if m:
                msgs, samples = (int(g.replace(",", "")) for g in m.groups())
                self.points.append((time.monotonic(), msgs, samples, cpu_seconds(self._proc.pid)))

    def wait_messages(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.points or self.points[-1][1] < n:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("worker stopped or stalled:\n" + "".join(self.tail))
            time.sleep(0.05)

    def rate(self, lo: int, hi: int, index: int, clock: int = 0) -> float:
        """Per-second rate of counter ``index`` over the lines whose messages lie in [lo, hi].

        The first line inside the phase is the start; the first line at or past ``hi``
        the end (lines come every 0.25 s, so a phase of a few seconds is well resolved).
        ``clock`` 0 is wall time, 3 the worker's CPU time (what the rate would be with
        a core to itself, if nothing else limits it).
        """
        inside = [p for p in self.points if lo < p[1]]
        start, end = inside[0], next(p for p in inside if p[1] >= hi)
        if start[1] >= hi or end[clock] <= start[clock]:
            raise RuntimeError("phase too short to time: produce more messages")
        return (end[index] - start[index]) / (end[clock] - start[clock])


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy recording ``pid`` (raw format, 200 Hz) until it gets SIGINT."""
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    cmd = [py_spy, "record", "--gil", "--format", "raw", "-r", "200", "-o", str(out)]
    cmd += ["-p", str(pid)]  # --gil: the thread running Python, not threads parked in C
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def py_spy_summary(path: Path, top: int = 15) -> list[tuple[str, float, float]]:
    """(function, self share, inclusive share) from a py-spy ``--format raw`` file.

    Line numbers are dropped, so a function's lines add up; the inclusive share counts
    a sample once for every function on its stack (decode, flush, Faust's drain...).
    """
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        leaves[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
        total += int(count)
    if not total:
        return []
    return [(name, n / total, inclusive[name] / total) for name, n in leaves.most_common(top)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=15_000, help="batch envelopes (15000)")
    parser.add_argument("--singles", type=int, default=100_000, help="single events (100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", type=Path, help="py-spy raw output of one phase")
    parser.add_argument(
        "--profile-phase", choices=("batch", "single"), default="batch", help="(batch)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.batches < 10 or args.singles < 0:
        parser.error("--batches must be >= 10, --singles >= 0")

    load_start = os.getloadavg()[0]
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="resonance-bench-") as tmp, EmbeddedBroker() as broker:
        root = Path(tmp)
        write_profile(root, rng)
        settings = StreamSettings(kafka_bootstrap=broker.bootstrap, partitions=1)
        create_topics(settings, partitions=1)
        values = payloads(args.batches, args.singles, rng)
        log(f"producing {args.batches:,} envelopes + {args.singles:,} single events ...")
        produce(broker.bootstrap, values)
        total = len(values)
        log("raw baseline: bare aiokafka consumer ...")
        raw_batch_s, raw_single_s = asyncio.run(raw_consume(broker.bootstrap, args.batches, total))
        env = {
            **os.environ,
            "RESONANCE_KAFKA_BOOTSTRAP": broker.bootstrap,
            "RESONANCE_REFERENCES_DIR": str(root),
            "RESONANCE_APP_ID": "bench-worker",
            "RESONANCE_PARTITIONS": "1",
            "RESONANCE_REPORT_INTERVAL_S": "0.25",
        }
        log("one worker ...")
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams.worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        spy = None
        try:
            progress = WorkerProgress(proc)
            single = args.profile_phase == "single"
            progress.wait_messages(args.batches if single else 1, timeout=600)
            if args.profile:
                spy = start_py_spy(proc.pid, args.profile)
            progress.wait_messages(total if single else args.batches, timeout=600)
            if spy:
                spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
                spy.wait(60)
            progress.wait_messages(total, timeout=600)
            samples_per_s = progress.rate(0, args.batches, 2)
            singles_per_s = progress.rate(args.batches, total, 1) if args.singles else 0.0
            samples_per_cpu_s = progress.rate(0, args.batches, 2, clock=3)
            singles_per_cpu_s = progress.rate(args.batches, total, 1, 3) if args.singles else 0.0
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    raw_samples = args.batches * BATCH / raw_batch_s
    figures = {
        "samples_per_s": samples_per_s,
        "single_events_per_s": singles_per_s,
        "raw_consume_samples_per_s": raw_samples,
        "ratio": samples_per_s / raw_samples,
        "raw_consume_single_events_per_s": args.singles / raw_single_s if args.singles else 0.0,
        "samples_per_worker_cpu_s": samples_per_cpu_s,
        "single_events_per_worker_cpu_s": singles_per_cpu_s,
        "load_average_1m_start": load_start,
        "load_average_1m": os.getloadavg()[0],
    }
    if args.profile and args.profile.exists():
        log(f"py-spy, {args.profile_phase} phase, top functions (self, inclusive):")
        for name, share, incl in py_spy_summary(args.profile):
            log(f"  {share:6.1%} {incl:6.1%}  {name}")
    if args.json:
        print(json.dumps(figures))
        return 0
    for key, value in figures.items():
        print(f"{key:<34}{value:>14,.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
