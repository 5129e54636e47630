"""Where simulated messages go: Kafka, JSON-lines files, or a list in memory.

Every sink takes ``send(topic, key, value)`` and ``close() -> (delivered, failed)``.

>>> s = ListSink(); s.send("energy", b"m", b"{}"); s.close()
(1, 0)
>>> s.values("energy")
[b'{}']
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, Protocol

# gzip: any Kafka consumer reads it without extra libraries, and on Tansu it measured as
# fast as no compression. Level 1 keeps it cheap; JSON batches still shrink several-fold.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "compression.type": "gzip",
    "compression.level": 1,
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "batch.num.messages": 10_000,
    "queue.buffering.max.messages": 500_000,
    "queue.buffering.max.kbytes": 1_048_576,
    "acks": "all",
}


class Sink(Protocol):
    def send(self, topic: str, key: bytes, value: bytes) -> None: ...

    def close(self) -> tuple[int, int]:
        """Flush; return (messages delivered, messages failed)."""
        ...


class ListSink:
    """Keeps ``(topic, key, value)`` tuples in :attr:`records` (tests)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.records.append((topic, key, value))

    def close(self) -> tuple[int, int]:
        return len(self.records), 0

    def values(self, topic: str) -> list[bytes]:
        return [v for t, _, v in self.records if t == topic]


class JsonlSink:
    """One ``<dir>/<topic>.jsonl`` per topic, one message (the JSON value) per line."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, BinaryIO] = {}
        self._count = 0

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        f = self._files.get(topic)
        if f is None:
            f = self._files[topic] = (self.directory / f"{topic}.jsonl").open("wb")
        f.write(value + b"\n")
        self._count += 1

    def close(self) -> tuple[int, int]:
        for f in self._files.values():
            f.close()
        self._files.clear()
        return self._count, 0


class KafkaSink:
    """confluent-kafka Producer; ``producer_config`` adds or overrides librdkafka settings
    (names as librdkafka spells them: ``KafkaSink(b, **{"linger.ms": 5})``).

    ``topics`` renames the logical topics (e.g. ``{"telemetry": "t1-telemetry"}``).
    Delivery errors are counted; whatever is still queued after ``flush_timeout_s``
    at close counts as failed too.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        topics: Mapping[str, str] | None = None,
        flush_timeout_s: float = 60.0,
        **producer_config: Any,
    ) -> None:
        from confluent_kafka import Producer

        config = {**PRODUCER_DEFAULTS, "bootstrap.servers": bootstrap}
        config.update(producer_config)
        self.topics = dict(topics or {})
        self.flush_timeout_s = flush_timeout_s
        self.delivered = 0
        self.failed = 0
        self.first_error: str | None = None
        self._producer = Producer(config)

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.failed += 1
            self.first_error = self.first_error or str(err)

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        topic = self.topics.get(topic, topic)
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=self._on_delivery)
                break
            except BufferError:  # local queue full: let librdkafka drain it
                self._producer.poll(0.05)
        self._producer.poll(0)

    def close(self) -> tuple[int, int]:
        deadline = time.monotonic() + self.flush_timeout_s
        while len(self._producer) and time.monotonic() < deadline:
            self._producer.flush(min(1.0, max(deadline - time.monotonic(), 0.0)))
        self.failed += len(self._producer)
        self._producer = _Closed()  # drop the client now: no reconnect noise after the run
        return self.delivered, self.failed


class _Closed:
    def __len__(self) -> int:
        return 0

    def produce(self, *_: Any, **__: Any) -> None:
        raise RuntimeError("KafkaSink is closed")
