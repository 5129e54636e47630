"""Shared by the process-level benchmarks (adversarial_worker.py, soak.py): a worker
process's RSS sampled in a thread, and consumer-group lag read from the broker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import psutil


class RssSampler:
    """(monotonic time, RSS MB) of one process every ``every_s``, in a thread; ``anon``
    holds (time, anonymous RSS MB): RSS minus file-backed and shared pages (mapped
    libraries such as chDB's, which page in as their code runs)."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        self.proc = psutil.Process(pid)
        self.every_s = every_s
        self.samples: list[tuple[float, float]] = []
        self.anon: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                info = self.proc.memory_info()
            except psutil.Error:
                return
            now = time.monotonic()
            self.samples.append((now, info.rss / 2**20))
            self.anon.append((now, (info.rss - info.shared) / 2**20))
            self._stop.wait(self.every_s)

    def last(self) -> float:
        return round(self.samples[-1][1], 1) if self.samples else float("nan")

    def last_anon(self) -> float:
        return round(self.anon[-1][1], 1) if self.anon else float("nan")

    def max_between(self, t0: float, t1: float) -> float:
        inside = [rss for t, rss in self.samples if t0 <= t <= t1]
        return round(max(inside), 1) if inside else float("nan")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


async def group_lag(bootstrap: str, group: str, topics: Iterable[str]) -> tuple[int, int]:
    """(end offsets, committed offsets of ``group``) summed over every partition of
    ``topics``; a partition without a commit counts as committed at 0."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        tps = []
        for topic in topics:
            parts = c.partitions_for_topic(topic)
            if parts is None:
                await c._client.force_metadata_update()
                parts = c.partitions_for_topic(topic) or set()
            tps += [TopicPartition(topic, p) for p in sorted(parts)]
        committed = 0
        for tp in tps:  # committed first, then the ends: a lag is never negative
            committed += await c.committed(tp) or 0
        ends = await c.end_offsets(tps) if tps else {}
        return sum(ends.values()), committed
    finally:
        await c.stop()
