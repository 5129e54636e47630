"""Streaming fixtures: a real Tansu broker per test, worker subprocesses, topic readers.

Workers run as ``python -m streams.worker`` subprocesses so a test can SIGKILL them; they
get test-friendly timings (docs/design.md, "Measured constraints": session 10 s,
heartbeat 1 s, rebalance 5 s) and short block/emit intervals. Nothing here asserts on
timing: helpers poll until a condition holds or a generous deadline passes.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from processors.reference import fit_reference
from streams.broker import EmbeddedBroker
from streams.partials import Partial, latest_per_key
from streams.registry import ModelRegistry
from streams.settings import StreamSettings
from streams.topics import create_topics

ROOT = Path(__file__).resolve().parents[2]
_ids = itertools.count()

WORKER_ENV = {
    "RESONANCE_WINDOW_S": "60",
    "RESONANCE_ALLOWED_LATENESS_S": "60",
    "RESONANCE_EMIT_INTERVAL_S": "1",
    "RESONANCE_BLOCK_IDLE_S": "1.5",
    "RESONANCE_BLOCK_MESSAGES": "300",
    "RESONANCE_TAKE_MAX": "1000",
    "RESONANCE_TAKE_WITHIN_S": "0.2",
    "RESONANCE_BROKER_SESSION_TIMEOUT": "10",
    "RESONANCE_BROKER_HEARTBEAT_INTERVAL": "1",
    "RESONANCE_BROKER_REBALANCE_TIMEOUT": "5",
}


class Worker:
    """A worker subprocess with its own log file."""

    def __init__(self, env: dict[str, str], log: Path, cwd: Path = ROOT) -> None:
        self.log = log
        self._out = open(log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.worker"],
            env=env,
            cwd=cwd,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no final emit, no commit, no goodbye to the group."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def wait_exit(self, timeout: float, what: str) -> int:
        """The exit code, once the process has ended on its own."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker still running after {timeout} s; awaited: {what}\n{self.output()[-3000:]}"
            ) from None

    def stop(self, timeout: float = 30.0) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_output(self, needle: str, timeout: float = 300.0) -> float:
        """Seconds until ``needle`` shows in the log (AssertionError after ``timeout``)."""
        t0 = time.monotonic()
        while needle not in self.output():
            if not self.alive or time.monotonic() - t0 > timeout:
                raise AssertionError(f"{needle!r} not in the worker log\n{self.output()[-3000:]}")
            time.sleep(0.1)
        return time.monotonic() - t0


@dataclass
class Stack:
    """A broker with topics, a references directory and the workers a test started."""

    bootstrap: str
    tmp: Path
    partitions: int = 6
    group: str = ""
    workers: list[Worker] = field(default_factory=list)

    @property
    def refs(self) -> Path:
        return self.tmp / "refs"

    def settings(self) -> StreamSettings:
        return StreamSettings(kafka_bootstrap=self.bootstrap, partitions=self.partitions)

    def worker(self, cwd: Path = ROOT, **env: str) -> Worker:
        full = {
            **os.environ,
            **WORKER_ENV,
            "RESONANCE_KAFKA_BOOTSTRAP": self.bootstrap,
            "RESONANCE_REFERENCES_DIR": str(self.refs),
            "RESONANCE_APP_ID": self.group,
            "RESONANCE_PARTITIONS": str(self.partitions),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        w = Worker(full, self.tmp / f"worker-{len(self.workers)}.log", cwd)
        self.workers.append(w)
        return w

    def write_references(self, models: Iterable[Any], seed: int = 0) -> None:
        from simulator.references import write_references

        write_references(list(models), self.refs / "references", seed, n=5_000)

    def read(
        self,
        topic: str,
        until: Callable[[list[bytes]], bool],
        timeout: float = 300.0,
        what: str = "",
        check: bool = True,
    ) -> list[bytes]:
        """Values of every partition of ``topic`` from the start, polled until ``until``."""
        values = asyncio.run(_read_until(self.bootstrap, topic, until, timeout))
        if check and not until(values):
            logs = "\n".join(w.output()[-3000:] for w in self.workers)
            raise AssertionError(
                f"{what or topic}: condition not met after {timeout}s "
                f"({len(values)} records)\n{logs}"
            )
        return values

    def committed(self) -> int:
        """Sum of the group's committed offsets over every input topic-partition."""
        return asyncio.run(_committed(self.bootstrap, self.group, self.partitions))

    def wait_committed(self, messages: int, timeout: float = 300.0) -> None:
        """Until the workers have committed ``messages`` input messages (offsets start at 0
        and have no gaps on a fresh broker without transactions)."""
        deadline = time.monotonic() + timeout
        while (got := self.committed()) < messages and time.monotonic() < deadline:
            time.sleep(1.0)
        if got < messages:
            logs = "\n".join(w.output()[-3000:] for w in self.workers)
            raise AssertionError(
                f"committed offsets cover {got} of {messages} input messages after {timeout} s"
                f"\n{logs}"
            )

    def partials(self, until: Callable[[dict[str, Partial]], bool], timeout: float = 300.0,
                 what: str = "", check: bool = True) -> dict[str, Partial]:  # fmt: skip
        """De-duplicated partials (latest per key) once ``until`` holds on them."""
        values = self.read(
            "partials", lambda vs: until(latest_per_key(vs)), timeout, what or "partials", check
        )
        return latest_per_key(values)


async def _read_until(
    bootstrap: str, topic: str, until: Callable[[list[bytes]], bool], timeout: float
) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    values: list[bytes] = []
    try:
        parts = None
        deadline = time.monotonic() + timeout
        while parts is None and time.monotonic() < deadline:
            parts = consumer.partitions_for_topic(topic) or None
            if parts is None:
                await consumer._client.force_metadata_update()
                await asyncio.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(parts or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        last_check = 0.0
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300, max_records=50_000)
            for records in batch.values():
                values.extend(r.value for r in records)
            if not batch and time.monotonic() - last_check > 0.5:
                last_check = time.monotonic()
                if until(values):
                    break
    finally:
        await consumer.stop()
    return values


async def _committed(bootstrap: str, group: str, partitions: int) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streams.topics import INPUT_TOPICS

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        offsets = [
            await consumer.committed(TopicPartition(t, p))
            for t in INPUT_TOPICS
            for p in range(partitions)
        ]
    finally:
        await consumer.stop()
    return sum(o or 0 for o in offsets)


@pytest.fixture
def broker(tmp_path: Path):
    """A fresh in-memory Tansu per test (isolated topics and groups), stopped after."""
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as b:
        yield b


@pytest.fixture
def stack(broker: EmbeddedBroker, tmp_path: Path):
    s = Stack(broker.bootstrap, tmp_path, group=f"resonance-test-{next(_ids)}")
    create_topics(s.settings(), s.partitions)
    yield s
    for w in s.workers:
        w.stop()


def past(minutes: float) -> datetime:
    """A whole-minute UTC time ``minutes`` ago (event times well inside decode's bounds)."""
    t = datetime.now(UTC) - timedelta(minutes=minutes)
    return t.replace(second=0, microsecond=0)


#: the features of :func:`coil_registry`'s one model (steel/coil v2)
COIL_FEATURES = [f"f{i}" for i in range(5)]


@pytest.fixture(scope="module")
def coil_registry(tmp_path_factory) -> ModelRegistry:
    """A registry of one model, steel/coil v2, fitted on N(10, 2) for each of the
    :data:`COIL_FEATURES` (the in-process worker tests' model)."""
    rng = np.random.default_rng(0)
    profile = fit_reference(
        {f: rng.normal(10, 2, 2000) for f in COIL_FEATURES}, model="coil", version="2"
    )
    folder = tmp_path_factory.mktemp("refs") / "references" / "steel"
    folder.mkdir(parents=True)
    (folder / "coil-2.json").write_text(profile.to_json())
    return ModelRegistry.load(folder.parent.parent)
