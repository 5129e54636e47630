"""Soak: the whole pipeline at twice the nominal rate for ``--minutes``, printing lag and
RSS over time.

Nominal rate = the demo's default load: the simulator's 12 models at 10 samples/s of
event time per model, batches every 2 s (~500 events/s over the four input topics; see
docs/streaming.md, "Soak"). The soak runs the same 12 models at 20 samples/s per model
(batches of 40), paced in real time, event time = now, into a Tansu broker on a free port
(six partitions), with one ``python -m streams.worker`` (production defaults, references
imported from files) and one ``resonance sink`` writing an embedded chDB directory.

Every ``--every`` seconds (default 10) one JSON line on stdout: ``t_s``; the worker's
``read_lag`` (messages at the input topics' ends minus the messages the worker reported
reading), ``commit_lag`` (ends minus the worker group's committed offsets: blocks commit
when they finalise, so this saw-tooths up to one block age, 300 s by default), the
sink's ``sink_lag`` on ``partials`` (ends minus committed); ``worker_rss_mb``,
``sink_rss_mb``; and the load average. After the run, the producers stop and the soak
waits (up to 10 minutes) for the worker's read lag to drain, then prints one summary
object: max lags, RSS start (60 s in, after imports and chDB loaded) / end / max and
slope (MB per minute, least squares over the samples after the first fifth of the run,
and over the second half) of both processes, also for anonymous RSS alone (``anon``: RSS
minus file-backed pages, i.e. without chDB's 530 MB library paging in), the drain time,
and the totals. ``--out FILE`` also writes the lines there.

Noise-robust figures, beside those raw ones (a sample can land on a transient
allocation of chDB, up to a few hundred MB, or between two): ``per_minute`` gives, per
whole minute after the first, the floor (lowest sample: what the process keeps between
its transient allocations) and the median of the 1-s RSS samples, and the least-squares
slopes of both over all those minutes and over their second half
(``floor_slope_second_half``: a bounded process shows ~0 however its peaks swing).

Three bounded states fill slowly at production defaults: the worker's join (128 MiB per
partition), the sink's ledger (20,000 keys) and the evaluator's read (every evaluation
reads the windows since the oldest cursor minus the policy's lookback and late bound:
62 one-minute windows with the built-in policy, so the read grows for the first 62
minutes). The soak lowers all three by default (``--join-max-mb 8``, ``--ledger-keys
2000``, ``--policy benchmarks/soak_policy_short.yaml``: 10 windows) so that a 30-minute
run reaches them and shows the plateau; pass 0 (``--policy builtin``) for the
production defaults. ``--trace DIR`` (with
``--trace-light``: no tracemalloc) runs both processes under benchmarks/memtrace.py and
logs where memory goes (Python heap by source line, glibc, chDB's caches and jemalloc).

    python benchmarks/soak.py --minutes 30 --out test-artifacts/soak-30.jsonl
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
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.procstats import RssSampler, group_lag  # noqa: E402
from simulator import KafkaSink, Simulator  # noqa: E402
from simulator.references import write_references  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.settings import StreamSettings  # noqa: E402
from streams.topics import INPUT_TOPICS, create_topics  # noqa: E402

NOMINAL_RATE = 10.0  # samples/s per model: resonance.demo.run.DEFAULT_RATE
BATCH_INTERVAL_S = 2.0  # the demo's batch interval
SHORT_POLICY = ROOT / "benchmarks" / "soak_policy_short.yaml"  # 10-window evaluations
_MESSAGES = re.compile(r"resonance worker: messages ([\d,]+)")


class Lines:
    """Reads a process's stderr in a thread: the last worker message count, the tail."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.messages = 0
        self.tail: list[str] = []
        self._proc = proc
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stderr is not None
        for raw in self._proc.stderr:
            line = raw.decode(errors="replace")
            self.tail = [*self.tail[-30:], line]
            m = _MESSAGES.search(line)
            if m:
                self.messages = int(m.group(1).replace(",", ""))


def slope_mb_per_min(samples: list[tuple[float, float]], skip: float = 0.2) -> float:
    """Least-squares slope of RSS over time (MB/min), after the first ``skip`` of the run."""
    if len(samples) < 4:
        return float("nan")
    t0 = samples[0][0]
    cut = t0 + (samples[-1][0] - t0) * skip
    pts = [(t, r) for t, r in samples if t >= cut]
    t = np.array([p[0] for p in pts]) / 60.0
    r = np.array([p[1] for p in pts])
    return round(float(np.polyfit(t, r, 1)[0]), 3)


def rss_summary(s: RssSampler, warm_s: float = 60.0) -> dict[str, Any]:
    """RSS at ``warm_s`` into the run (imports, chDB and the first window are loaded by
    then; the first sample in shorter runs), at the end, the max, the slope after the
    first fifth and over the second half (bounded state fills early: a plateau shows as
    a second-half slope near 0), and RSS at each fifth of the run."""
    out = _summary(s.samples, warm_s)
    out["anon"] = _summary(s.anon, warm_s)  # RSS minus file-backed pages (chDB's library)
    out["per_minute"] = per_minute(s.samples, warm_s)
    out["anon"]["per_minute"] = per_minute(s.anon, warm_s)
    return out


def per_minute(samples: list[tuple[float, float]], warm_s: float = 60.0) -> dict[str, Any]:
    """RSS robust to sampling noise: per whole minute of samples after ``warm_s``, the
    floor (min: what the process keeps between its transient allocations) and the median;
    their least-squares slopes (MB/min) over all those minutes and their second half.

    >>> s = [(t, 100.0 + (50.0 if t % 7 == 0 else 0.0)) for t in range(0, 600)]
    >>> r = per_minute(s)
    >>> r["floor"][:2], r["median"][:2], r["floor_slope"], r["floor_slope_second_half"]
    ([100.0, 100.0], [100.0, 100.0], 0.0, 0.0)
    """
    t0 = samples[0][0]
    buckets: dict[int, list[float]] = {}
    for t, r in samples:
        if t - t0 >= warm_s:
            buckets.setdefault(int((t - t0 - warm_s) // 60), []).append(r)
    full = [v for _, v in sorted(buckets.items()) if len(v) >= 30]  # whole-ish minutes
    floors = [round(min(v), 1) for v in full]
    medians = [round(float(np.median(v)), 1) for v in full]

    def slope(ys: list[float]) -> float:
        if len(ys) < 3:
            return float("nan")
        return round(float(np.polyfit(np.arange(len(ys), dtype=float), ys, 1)[0]), 3) + 0.0

    half = len(full) // 2
    return {"floor": floors, "median": medians,
            "floor_slope": slope(floors), "floor_slope_second_half": slope(floors[half:]),
            "median_slope": slope(medians),
            "median_slope_second_half": slope(medians[half:])}  # fmt: skip


def _summary(samples: list[tuple[float, float]], warm_s: float) -> dict[str, Any]:
    t0 = samples[0][0]
    start = next((r for t, r in samples if t - t0 >= warm_s), samples[0][1])
    rss = [r for _, r in samples]
    return {"start": round(start, 1), "end": round(rss[-1], 1), "max": round(max(rss), 1),
            "slope_mb_per_min": slope_mb_per_min(samples),
            "slope_second_half": slope_mb_per_min(samples, 0.5),
            "fifths": [round(samples[min(len(samples) - 1, len(samples) * k // 5)][1], 1)
                       for k in range(1, 6)]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="producing time (30)")
    parser.add_argument("--factor", type=float, default=2.0, help="x nominal rate (2)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between lines (10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--join-max-mb", type=float, default=8.0,
                        help="the worker's RESONANCE_JOIN_MAX_BYTES in MiB per partition (8: "
                        "reached within the run; 0: the production default)")  # fmt: skip
    parser.add_argument("--ledger-keys", type=int, default=2_000,
                        help="the sink's RESONANCE_SINK_LEDGER_KEYS (2000: reached within the "
                        "run; 0: the production default)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="also write the JSON lines here")
    parser.add_argument("--policy", default=str(SHORT_POLICY), metavar="FILE",
                        help="the sink's policy file: its horizons set how many windows each "
                        "evaluation reads (benchmarks/soak_policy_short.yaml: 10, reached "
                        "within the run; builtin: the built-in policy, 62)")  # fmt: skip
    parser.add_argument("--no-evaluate", action="store_true",
                        help="the sink only stores (no policy evaluation)")  # fmt: skip
    parser.add_argument("--trace", type=Path, metavar="DIR",
                        help="run both processes under benchmarks/memtrace.py (tracemalloc; "
                        "slower): DIR/worker.jsonl and DIR/sink.jsonl")  # fmt: skip
    parser.add_argument(
        "--trace-light",
        action="store_true",
        help="with --trace: no tracemalloc (RSS, glibc, chDB figures only)",
    )
    parser.add_argument("--chdb-log", action="store_true",
                        help="with --trace: the sink's chDB server log at debug level in "
                        "DIR/chdb.log (each statement's peak memory)")  # fmt: skip
    parser.add_argument("--peaks", action="store_true",
                        help="with --trace: the sink's RSS peak per statement shape "
                        "(memtrace.py --peaks) in DIR/sink.jsonl")  # fmt: skip
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.factor <= 0 or args.every <= 0:
        parser.error("--minutes, --factor and --every must be > 0")
    out = args.out.open("w") if args.out else None

    def emit(obj: dict) -> None:
        line = json.dumps(obj)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    rate = NOMINAL_RATE * args.factor
    sim = Simulator(args.seed, rate=rate, batch_size=max(1, round(rate * BATCH_INTERVAL_S)))
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="resonance-soak-") as tmp, EmbeddedBroker() as broker:
        root = Path(tmp)
        write_references(list(sim.models), root / "references", args.seed, n=5_000)
        settings = StreamSettings(kafka_bootstrap=broker.bootstrap)
        create_topics(settings)
        env = {**os.environ, "RESONANCE_KAFKA_BOOTSTRAP": broker.bootstrap,
               "RESONANCE_REFERENCES_DIR": str(root), "RESONANCE_APP_ID": "soak-worker",
               "RESONANCE_REPORT_INTERVAL_S": "1", "PYTHONUNBUFFERED": "1"}  # fmt: skip
        if args.join_max_mb:
            env["RESONANCE_JOIN_MAX_BYTES"] = str(int(args.join_max_mb * 2**20))
        if args.ledger_keys:
            env["RESONANCE_SINK_LEDGER_KEYS"] = str(args.ledger_keys)

        def python(module: str, name: str) -> list[str]:
            if args.trace is None:
                return [sys.executable, "-m", module]
            args.trace.mkdir(parents=True, exist_ok=True)
            return [sys.executable, str(ROOT / "benchmarks" / "memtrace.py"), "--every", "60",
                    "--out", str(args.trace / f"{name}.jsonl"),
                    *(["--chdb"] if name == "sink" else []),
                    *(["--chdb-log", str(args.trace / "chdb.log")]
                      if name == "sink" and args.chdb_log else []),
                    *(["--peaks"] if name == "sink" and args.peaks else []),
                    *(["--light"] if args.trace_light else []), "-m", module]  # fmt: skip

        worker = subprocess.Popen(python("streams.worker", "worker"), cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        procs.append(worker)
        warehouse = str(root / "warehouse")
        subprocess.run([sys.executable, "-m", "resonance.cli", "db", "migrate", "--data-dir",
                        warehouse], cwd=ROOT, env=env, check=True, capture_output=True)  # fmt: skip
        sink_log = (root / "sink.log").open("wb")
        sink = subprocess.Popen(
            [*python("resonance.cli", "sink"), "sink", "--bootstrap", broker.bootstrap,
             "--group", "soak-sink", "--data-dir", warehouse,
             *(["--no-evaluate"] if args.no_evaluate else []),
             *(["--policy", args.policy] if args.policy != "builtin" else [])],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sink_log,
        )  # fmt: skip
        procs.append(sink)
        lines = Lines(worker)
        w_rss, s_rss = RssSampler(worker.pid, 1.0), RssSampler(sink.pid, 1.0)
        result: dict = {}

        def simulate() -> None:
            kafka = KafkaSink(broker.bootstrap)
            result["summary"] = sim.run(kafka, duration=args.minutes * 60, pace=True)

        producer = threading.Thread(target=simulate, daemon=True)
        t0 = time.monotonic()
        producer.start()
        rows: list[dict] = []
        drained_at = None
        try:
            while True:
                time.sleep(args.every)
                for p in procs:
                    if p.poll() is not None:
                        sink_tail = (root / "sink.log").read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"{p.args} exited {p.returncode}:\n"
                                           + "".join(lines.tail) + sink_tail)  # fmt: skip
                ends, committed = asyncio.run(group_lag(broker.bootstrap, "soak-worker",
                                                        INPUT_TOPICS))  # fmt: skip
                p_ends, p_committed = asyncio.run(group_lag(broker.bootstrap, "soak-sink",
                                                            ["partials"]))  # fmt: skip
                row = {
                    "t_s": round(time.monotonic() - t0, 1),
                    "produced": ends,
                    "read_lag": max(0, ends - lines.messages),
                    "commit_lag": ends - committed,
                    "sink_lag": p_ends - p_committed,
                    "worker_rss_mb": w_rss.last(),
                    "sink_rss_mb": s_rss.last(),
                    "worker_anon_mb": w_rss.last_anon(),
                    "sink_anon_mb": s_rss.last_anon(),
                    "load_1m": round(os.getloadavg()[0], 2),
                    "producing": producer.is_alive(),
                }
                rows.append(row)
                emit(row)
                if not producer.is_alive():
                    if row["read_lag"] == 0 and drained_at is None:
                        drained_at = time.monotonic()
                        break
                    if time.monotonic() - t0 > args.minutes * 60 + 600:
                        break
            stopped_producing = next((r["t_s"] for r in rows if not r["producing"]), None)
        finally:
            w_rss.stop()
            s_rss.stop()
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    during = [r for r in rows if r["producing"]] or rows
    summary = result.get("summary")
    emit({
        "summary": True,
        "minutes": args.minutes,
        "rate_per_model": rate,
        "nominal_rate_per_model": NOMINAL_RATE,
        "factor": args.factor,
        "policy": Path(args.policy).name if args.policy != "builtin" else "builtin",
        "join_max_mb": args.join_max_mb,
        "ledger_keys": args.ledger_keys,
        "models": len(sim.models),
        "messages": rows[-1]["produced"] if rows else 0,
        "samples_sent": int(sum(t["samples"] for t in summary.topics.values())) if summary
        else None,
        "max_read_lag": max(r["read_lag"] for r in during),
        "max_commit_lag": max(r["commit_lag"] for r in during),
        "max_sink_lag": max(r["sink_lag"] for r in during),
        "final_read_lag": rows[-1]["read_lag"],
        "drain_s": None if drained_at is None or stopped_producing is None
        else round(drained_at - t0 - stopped_producing, 1),
        "worker_rss_mb": rss_summary(w_rss),
        "sink_rss_mb": rss_summary(s_rss),
        "load_1m_mean": round(sum(r["load_1m"] for r in rows) / len(rows), 2),
        "load_1m_max": max(r["load_1m"] for r in rows),
    })  # fmt: skip
    if out:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
