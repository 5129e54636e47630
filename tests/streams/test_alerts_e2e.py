"""Alerts decided in the stream, end to end: a real Tansu broker, real worker processes and
the real sink (the evaluating process) on chDB, fed by the simulator. One model gets a
sudden shift that is later removed; two control models stay healthy.

Asserted on the ``alerts`` topic (aiokafka) and in ``resonance alerts list --format json``:
one alert for the episode, its firing and its resolution, nothing for the controls; and
the same after the sink dies at a deterministic point (the firing published, not stored),
is SIGKILLed while the alert fires, and a worker is SIGKILLed too.

Timings: 60 s windows, 60 s lateness (the workers' test settings), 5 samples/s per model
over 20 minutes of past event time, replayed as fast as the pipeline goes. Every wait is
on a condition with a generous deadline, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from processors.alert_lifecycle import alert_id, iso

from .conftest import ROOT, WORKER_ENV, past

pytestmark = pytest.mark.integration

RESONANCE = str(Path(sys.executable).with_name("resonance"))
DRIFTED = "strip-surface-defect"
CONTROLS = ("bof-endpoint-temp", "weld-defect")
MINUTES = 20
DRIFT = (6, 11)  # minutes (= windows) from the start: the shift holds in windows 6-10
SCENARIO = f"""\
name: alerts-e2e
controls: [{", ".join(CONTROLS)}]
injections:
  - model: {DRIFTED}
    feature: strip_temp_c
    kind: sudden_shift
    start: "+{DRIFT[0]}m"
    end: "+{DRIFT[1]}m"
    magnitude: 3.0
"""
DEADLINE = 240.0


class Sink:
    """``resonance sink`` on a chDB directory, as a subprocess with its own log."""

    def __init__(self, stack, data_dir: Path, group: str, **env: str) -> None:
        self.log = stack.tmp / f"sink-{time.monotonic_ns()}.log"
        self._out = open(self.log, "ab")  # noqa: SIM115
        full = {**os.environ, **WORKER_ENV, "RESONANCE_PARTITIONS": str(stack.partitions),
                "PYTHONUNBUFFERED": "1", **env}  # fmt: skip
        argv = [RESONANCE, "sink", "--bootstrap", stack.bootstrap, "--group", group,
                "--data-dir", str(data_dir), "--batch-seconds", "0.5"]  # fmt: skip
        self.proc = subprocess.Popen(argv, env=full, cwd=ROOT, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no final batch, no commit, no goodbye to the group."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._out.close()

    def wait_exit(self, timeout: float, what: str) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"sink still running after {timeout} s, awaited {what}\n"
                                 f"{self.output()[-3000:]}") from None  # fmt: skip
        self._out.close()
        return code

    def stop(self) -> int:
        """SIGTERM: the sink ends its current batch (and its evaluation), then exits."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(120, "its exit after SIGTERM")


def resonance(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([RESONANCE, *argv], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)  # fmt: skip


@pytest.fixture
def world(stack, tmp_path):
    """Simulated messages (per topic, in event-time order), references for the workers,
    and a migrated chDB directory holding the references (`resonance db load-references`)."""
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    start = past(MINUTES + 30)
    done = resonance("simulate", "--out-dir", str(stack.refs), "--start", start.isoformat(),
                     "--duration", f"{MINUTES}m", "--rate", "5", "--scenario", str(scenario),
                     "--models", ",".join((DRIFTED, *CONTROLS)), "--quiet",
                     "--reference-samples", "20000")  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = tmp_path / "warehouse"
    for argv in (("migrate",), ("load-references", str(stack.refs))):
        done = resonance("db", *argv, "--data-dir", str(data))
        assert done.returncode == 0, done.stderr
    topics = {t: (stack.refs / f"{t}.jsonl").read_bytes().splitlines()
              for t in ("telemetry", "predictions", "outcomes", "energy")}  # fmt: skip
    return {"start": start, "topics": topics, "data": data}


def produce(bootstrap: str, topics: dict[str, list[bytes]], keep) -> int:
    """Produce the messages whose first event time ``keep`` accepts; returns how many."""
    producer = Producer({"bootstrap.servers": bootstrap, "log_level": 0})
    n = 0
    for topic, values in topics.items():
        for value in values:
            msg = orjson.loads(value)
            ts = msg["ts"][0] if isinstance(msg["ts"], list) else msg["ts"]
            if keep(ts):
                producer.produce(topic, value, msg["model"].encode())
                n += 1
    assert producer.flush(120) == 0, "messages still queued in the producer after 120 s"
    return n


def records(values: list[bytes], model: str | None = None) -> list[dict]:
    out = [orjson.loads(v) for v in values]
    return [r for r in out if model is None or r["model"] == model]


def episode(values: list[bytes]) -> list[dict]:
    return [r for r in records(values, DRIFTED) if r["rule"] == "feature_drift"]


def count(values: list[bytes], transition: str) -> int:
    return sum(r["transition"] == transition for r in episode(values))


def wait_sink_caught_up(stack, group: str, timeout: float = DEADLINE) -> None:
    """Once the workers committed every input message: until the sink committed every
    record on the partials topic (its evaluation of that batch follows before it stops).
    Offsets have no gaps on a fresh broker, so committed offsets count records."""
    n = len(stack.read("partials", lambda _vs: True, 60))
    deadline = time.monotonic() + timeout
    while (got := asyncio.run(_committed(stack.bootstrap, group))) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"sink committed {got} of {n} partials after {timeout} s")
        time.sleep(1.0)


def drain_and_stop(stack, world, sink: Sink, group: str) -> None:
    """Wait until the worker committed every input and the sink caught up, then stop
    the sink cleanly (exit 0)."""
    stack.wait_committed(sum(len(v) for v in world["topics"].values()), DEADLINE)
    wait_sink_caught_up(stack, group)
    assert sink.stop() == 0, sink.output()[-3000:]


async def _committed(bootstrap: str, group: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic("partials") or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic("partials") or set()
        tps = [TopicPartition("partials", p) for p in sorted(parts)]
        return sum([await consumer.committed(tp) or 0 for tp in tps])
    finally:
        await consumer.stop()


def stored(data: Path) -> dict:
    """What the warehouse holds once the sink has stopped: the alerts list, the stored
    transitions (collapsed on (id, seq)) and the decided windows per model."""
    listed = resonance("alerts", "list", "--data-dir", str(data), "--format", "json")
    assert listed.returncode == 0, listed.stderr
    script = (
        "import json, sys\nfrom warehouse.backend import ChdbBackend\n"
        "b = ChdbBackend(sys.argv[1])\n"
        "q = lambda s: b.query(s).to_pylist()\n"
        "print(json.dumps({'events': q('SELECT id, seq, transition, model, rule FROM "
        "alert_events FINAL ORDER BY id, seq'), 'verdicts': q('SELECT model, count() AS n, "
        "toUnixTimestamp(max(window_start)) AS last FROM verdicts FINAL GROUP BY model "
        "ORDER BY model')}))\nb.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(data)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {"alerts": json.loads(listed.stdout), **json.loads(done.stdout)}


def expected_id(start) -> str:
    started = iso(int((start + timedelta(minutes=DRIFT[0])).timestamp() * 1000))
    return alert_id("steel", DRIFTED, "3", "feature_drift", started or "")


def assert_one_episode(got: dict, start) -> str:
    aid = expected_id(start)
    assert [(a["id"], a["model"], a["rule"], a["state"]) for a in got["alerts"]] == [
        (aid, DRIFTED, "feature_drift", "resolved")], got["alerts"]  # fmt: skip
    assert [(e["id"], e["seq"], e["transition"]) for e in got["events"]] == [
        (aid, 0, "firing"), (aid, 1, "resolved")]  # fmt: skip
    # every model was decided over the whole run (the newest closed window is 17, or 18
    # where an energy reading ends at 20:00): the controls' silence is a decision
    last = {v["model"]: v["last"] for v in got["verdicts"]}
    assert sorted(last) == sorted((DRIFTED, *CONTROLS))
    assert min(last.values()) >= _ms(start, MINUTES - 3) // 1000, last
    return aid


def test_sudden_drift_fires_once_resolves_and_spares_the_controls(stack, world):
    data, start = world["data"], world["start"]
    worker = stack.worker()
    sink = Sink(stack, data, "sink-a")
    try:
        produce(stack.bootstrap, world["topics"], lambda _ts: True)
        values = stack.read("alerts", lambda vs: count(vs, "resolved") >= 1, DEADLINE,
                            "the drifted model's alert resolved")  # fmt: skip
        drain_and_stop(stack, world, sink, "sink-a")
    finally:
        sink.kill()
        worker.stop()
    values = stack.read("alerts", lambda _vs: True, 60)
    aid = expected_id(start)
    # the shift holds in windows 6-10: firing at window 6 (for 1, started_at 6); the
    # 3-window horizon is clean from window 13, resolved after 3 clean windows (at 15)
    assert [(r["id"], r["transition"], r["seq"], r["window_start"]) for r in episode(values)] == [
        (aid, "firing", 0, iso(_ms(start, DRIFT[0]))),
        (aid, "resolved", 1, iso(_ms(start, DRIFT[1] + 4))),
    ]  # fmt: skip
    assert episode(values)[1]["resolved_at"] == iso(_ms(start, DRIFT[1] + 2))
    assert [r for r in records(values) if r["model"] != DRIFTED] == []  # controls: nothing
    assert len(records(values)) == 2  # and no other rule of the drifted model
    assert_one_episode(stored(data), start)


def test_crash_while_firing_keeps_one_alert_and_its_resolution(stack, world):
    data, start = world["data"], world["start"]
    split = _ms(start, DRIFT[0] + 4)  # phase 1: the drift has begun and still holds
    worker = stack.worker()
    # the sink exits (like SIGKILL) right after the topic acked the firing: neither stored
    # nor its cursor moved, so the restarted sink decides those windows again
    sink = Sink(stack, data, "sink-b", RESONANCE_FAULT_POINT="after-alerts-published:1")
    try:
        produce(stack.bootstrap, world["topics"], lambda ts: ts < split)
        assert sink.wait_exit(DEADLINE, "the fault point after the firing") == 70
        values = stack.read("alerts", lambda vs: count(vs, "firing") == 1, 60)
        assert count(values, "resolved") == 0
        worker.kill()  # SIGKILL a worker too, while the alert fires
        worker = stack.worker()
        sink = Sink(stack, data, "sink-b")
        # it replays the decision at start: the same firing (same id, seq 0) once more
        stack.read("alerts", lambda vs: count(vs, "firing") >= 2, DEADLINE, "the replayed firing")
        sink.kill()  # SIGKILL the evaluating process while the alert fires
        sink = Sink(stack, data, "sink-b")
        produce(stack.bootstrap, world["topics"], lambda ts: ts >= split)  # drift removed
        stack.read("alerts", lambda vs: count(vs, "resolved") >= 1, DEADLINE, "the resolution")
        drain_and_stop(stack, world, sink, "sink-b")
    finally:
        sink.kill()
        worker.stop()
    values = stack.read("alerts", lambda _vs: True, 60)
    aid = expected_id(start)
    got = [(r["id"], r["transition"], r["seq"]) for r in episode(values)]
    # at least once on the topic (the firing at least twice: published, then replayed;
    # a third time if the SIGKILL hit between a publish and its store): one alert
    assert set(got) == {(aid, "firing", 0), (aid, "resolved", 1)}, got
    assert got.count((aid, "firing", 0)) >= 2 and got[-1] == (aid, "resolved", 1)
    assert [r for r in records(values) if r["model"] != DRIFTED] == []
    assert_one_episode(stored(data), start)


def _ms(start, minutes: int) -> int:
    return int((start + timedelta(minutes=minutes)).timestamp() * 1000)
