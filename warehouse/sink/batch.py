"""What one flush holds, how messages are collected into it and routed by topic."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.registry import parse_entry
from warehouse.alert_store import action_rows, transition_rows
from warehouse.deliveries import parse_delivery
from warehouse.sink.dlq import sink_reject
from warehouse.sink.partials import SinkPartial, parse_partial


@dataclass
class Batcher:
    """Collects messages until ``max_records`` or ``max_seconds`` since the first one."""

    max_records: int = 5_000
    max_seconds: float = 1.0
    clock: Callable[[], float] = time.monotonic
    items: list[Any] = field(default_factory=list)
    offsets: dict[Any, int] = field(default_factory=dict)  # TopicPartition → next offset
    _first: float | None = None

    def add(self, item: Any, tp: Any = None, offset: int | None = None) -> None:
        if self._first is None:
            self._first = self.clock()
        self.items.append(item)
        if tp is not None and offset is not None:
            self.offsets[tp] = max(self.offsets.get(tp, 0), offset + 1)

    def due(self) -> bool:
        if not self.items and not self.offsets:
            return False
        return len(self.items) >= self.max_records or (
            self._first is not None and self.clock() - self._first >= self.max_seconds
        )

    def take(self) -> tuple[list[Any], dict[Any, int]]:
        items, offsets = self.items, self.offsets
        self.items, self.offsets, self._first = [], {}, None
        return items, offsets


@dataclass
class SinkBatch:
    """What one flush writes: partial records, alert records, DLQ records, registry entries."""

    partials: list[SinkPartial] = field(default_factory=list)
    alerts: list[Mapping[str, Any]] = field(default_factory=list)
    actions: list[Mapping[str, Any]] = field(default_factory=list)
    dlq: list[tuple[Mapping[str, Any], bytes]] = field(default_factory=list)
    deliveries: list[Mapping[str, Any]] = field(default_factory=list)
    models: list[Any] = field(default_factory=list)  # streams.registry.ModelEntry

    def __len__(self) -> int:
        parts = (self.partials, self.alerts, self.actions, self.dlq, self.deliveries, self.models)
        return sum(len(part) for part in parts)


#: topics decode_message routes elsewhere; every other topic carries partial records.
OTHER_TOPICS = frozenset({"models", "dlq", "alerts", "alert-actions", "deliveries"})


def carries_partials(topic: str) -> bool:
    """Whether decode_message reads this topic's records as partials (the fenced ones)."""
    return topic not in OTHER_TOPICS


def decode_message(topic: str, partition: int, offset: int, value: bytes, batch: SinkBatch) -> None:
    """Route one Kafka message into the batch; undecodable ones become DLQ rows."""
    try:
        if topic == "models":
            if value is not None:  # a tombstone: the mirror keeps the last entry
                batch.models.append(parse_entry(value))
            return
        record = orjson.loads(value)
        if not isinstance(record, dict):
            raise ValueError("expected a JSON object")
        if topic == "dlq":
            batch.dlq.append((record, value))
        elif topic == "alerts":
            transition_rows([record])  # validates: a bad record becomes a DLQ row
            batch.alerts.append(record)
        elif topic == "alert-actions":
            action_rows([record])
            batch.actions.append(record)
        elif topic == "deliveries":
            batch.deliveries.append(parse_delivery(record))
        else:
            batch.partials.append(parse_partial(record, topic, partition))
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        reason = f"sink: {exc}"[:500]
        batch.dlq.append((sink_reject(value, reason, topic, partition, offset), value))
