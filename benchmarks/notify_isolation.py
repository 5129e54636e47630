"""Worker throughput while the notifier's webhook is healthy, and while it hangs.

Both runs start a fresh broker (Tansu), one streaming worker (``python -m
streams.worker``) and the notifier (``resonance notify --url``) posting to a local
HTTP server that either answers at once (healthy) or accepts connections and never
answers (hung). A thread keeps producing alert transitions (``--alerts-per-s``) the
whole time, so the notifier is busy timing out and retrying in the hung case. After a
warm-up batch, the measured batch of simulated events is produced and the worker's
throughput is input messages committed per second; the modes alternate ``--repeat``
times and the best run of each mode is compared (a shared machine's load only ever
slows a run down). The claim: within 10% of healthy.

    .venv/bin/python benchmarks/notify_isolation.py [--json] [--duration 1200] [--rate 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator import KafkaSink, Simulator  # noqa: E402
from simulator.references import write_references  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.settings import load_settings  # noqa: E402
from streams.topics import INPUT_TOPICS, create_topics  # noqa: E402

MODELS = ("strip-surface-defect", "bof-endpoint-temp", "weld-defect", "cracker-cot")
PARTITIONS = 3
WORKER_ENV = {
    "RESONANCE_WINDOW_S": "60",
    "RESONANCE_ALLOWED_LATENESS_S": "60",
    "RESONANCE_EMIT_INTERVAL_S": "1",
    "RESONANCE_BLOCK_IDLE_S": "1.5",
    "RESONANCE_BROKER_SESSION_TIMEOUT": "10",
    "RESONANCE_BROKER_HEARTBEAT_INTERVAL": "1",
    "RESONANCE_BROKER_REBALANCE_TIMEOUT": "5",
    "RESONANCE_PARTITIONS": str(PARTITIONS),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def endpoint(hung: bool) -> ThreadingHTTPServer:
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if hung:
                release.wait(3600)
                return
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.release = release  # type: ignore[attr-defined]
    return server


def alert(i: int) -> bytes:
    return orjson.dumps({
        "schema": "resonance.alert/1", "id": f"bench{i:015d}", "transition": "firing",
        "state": "firing", "consortium": "steel", "model": f"m{i % 50}", "model_version": "1",
        "rule": "feature_drift", "severity": "warn", "started_at": "2026-01-01T00:00:00Z",
        "window_start": "2026-01-01T00:00:00Z", "emitted_at": "2026-01-01T00:01:00Z",
        "value": 0.3, "threshold": 0.2, "features": [], "policy_version": "b", "seq": 1,
    })  # fmt: skip


def alert_stream(bootstrap: str, per_s: float, stop: threading.Event) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "log_level": 0})
    i = 0
    while not stop.wait(1.0 / per_s):
        producer.produce("alerts", alert(i), key=b"steel/m")
        producer.poll(0)
        i += 1
    producer.flush(10)


def simulate(
    bootstrap: str, seed: int, minutes_ago: float, duration: float, rate: float, batch: int
) -> int:
    sim = Simulator(seed=seed, rate=rate, batch_size=batch, models=MODELS)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    summary = sim.run(KafkaSink(bootstrap), start=start, duration=duration, pace=False,
                      flush_outcomes=True)  # fmt: skip
    return sum(summary.topics[t]["messages"] for t in INPUT_TOPICS)


async def _committed(bootstrap: str, group: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in INPUT_TOPICS for p in range(PARTITIONS)]
        return sum([await consumer.committed(tp) or 0 for tp in tps])
    finally:
        await consumer.stop()


def wait_committed(bootstrap: str, group: str, n: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if asyncio.run(_committed(bootstrap, group)) >= n:
            return time.monotonic()
        time.sleep(0.25)
    raise SystemExit(f"worker committed fewer than {n} messages within {timeout} s")


def run_once(hung: bool, args: argparse.Namespace, tmp: Path) -> dict:
    server = endpoint(hung)
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    children: list[subprocess.Popen] = []
    stop = threading.Event()
    with EmbeddedBroker(log_path=tmp / "broker.log") as broker:
        create_topics(load_settings(broker.bootstrap), partitions=PARTITIONS)
        sim = Simulator(seed=1, rate=2.0, batch_size=25, models=MODELS)
        write_references(list(sim.models), tmp / "refs" / "references", 1, n=5_000)
        env = {
            **os.environ,
            **WORKER_ENV,
            "RESONANCE_KAFKA_BOOTSTRAP": broker.bootstrap,
            "RESONANCE_REFERENCES_DIR": str(tmp / "refs"),
            "RESONANCE_APP_ID": "bench",
        }
        try:
            with open(tmp / f"notify-{hung}.log", "wb") as out:
                children.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "resonance.cli",
                            "notify",
                            "--bootstrap",
                            broker.bootstrap,
                            "--url",
                            url,
                        ],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
            threading.Thread(
                target=alert_stream, args=(broker.bootstrap, args.alerts_per_s, stop), daemon=True
            ).start()
            with open(tmp / f"worker-{hung}.log", "wb") as out:
                children.append(subprocess.Popen([sys.executable, "-m", "streams.worker"],
                                                 env=env, stdout=out, stderr=subprocess.STDOUT,
                                                 cwd=tmp))  # fmt: skip
            warm = simulate(broker.bootstrap, 2, 90, 120, args.rate, args.batch)
            wait_committed(broker.bootstrap, "bench", warm, 300)
            cpu0, load = cpu_seconds(children[0].pid), os.getloadavg()[0]
            t0 = time.monotonic()
            measured = simulate(broker.bootstrap, 3, 60, args.duration, args.rate, args.batch)
            t1 = wait_committed(broker.bootstrap, "bench", warm + measured, 600)
            notifier_cpu = cpu_seconds(children[0].pid) - cpu0
        finally:
            stop.set()
            for child in children:
                child.terminate()
                child.wait(30)
            server.release.set()  # type: ignore[attr-defined]
            server.shutdown()
    return {"messages": measured, "seconds": round(t1 - t0, 3),
            "msgs_per_s": round(measured / (t1 - t0), 1),
            "notifier_cpu_s": round(notifier_cpu, 2), "load_1m": round(load, 1)}  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=1200.0,
        help="event-time seconds of the measured batch (default 1200)",
    )
    parser.add_argument("--rate", type=float, default=10.0, help="samples/s per model")
    parser.add_argument("--batch", type=int, default=5, help="samples per input message")
    parser.add_argument("--alerts-per-s", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved runs per mode")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"healthy": [], "hung": []}
    with tempfile.TemporaryDirectory(prefix="notify-bench-") as d:
        for i in range(args.repeat):
            for mode in ("healthy", "hung"):
                log(f"notify_isolation: {mode} endpoint, run {i + 1}/{args.repeat}…")
                runs[mode].append(run_once(mode == "hung", args, Path(d)))
    best = {m: max(r["msgs_per_s"] for r in rs) for m, rs in runs.items()}
    ratio = best["hung"] / best["healthy"]
    out = {"runs": runs, "best_msgs_per_s": best, "hung_over_healthy": round(ratio, 3),
           "within_10_percent": ratio >= 0.9, "alerts_per_s": args.alerts_per_s,
           "rate": args.rate, "batch": args.batch}  # fmt: skip
    print(json.dumps(out, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
