"""Kafka → ClickHouse sink: idempotent writes of partials, alerts, DLQ and delivery records.

The worker emits CUMULATIVE partials: per ``key`` (one block of one source
partition, one window, one feature) every later ``version`` is a superset of
the earlier one. If we inserted each record, replays and re-emits would count
twice. So for every key the sink knows the version and state it has already
stored, and inserts only ``new state − stored state`` when the version grows:

* the minute tables hold deltas, so plain sums over any rows are right, and
  the materialized rollups (which fire on INSERT) stay right too;
* what is "stored" is read back from ClickHouse itself (``max(version)`` and
  the summed state of the key's rows) on a cache miss, so a crash between the
  insert and the Kafka commit, a restart or a replayed topic changes nothing;
* the in-memory ledger is only a bounded cache of that, invalidated on a failed
  insert and on every partition rebalance.

Offsets are committed only after the batch is in ClickHouse; a failed commit seeks
back to the committed offsets (the replay is idempotent). Every insert carries a
deterministic ``insert_deduplication_token`` (:func:`dedup_token`), so a retry or a
second sink stores nothing twice; and every insert of deltas is guarded by the sink fence
(:mod:`~warehouse.sink.fence`): a zombie flush, whatever it planned, stores nothing once
the new owner claimed its partitions (docs/warehouse.md, "Zombie sinks"). While ClickHouse
fails, the sink keeps its offsets, pauses its partitions and retries with
exponential backoff ("ClickHouse unavailable, retrying in Xs"); nothing is
dropped. A record that cannot be parsed lands in the ``dlq`` table.

:class:`PartialWriter` (the delta logic) and :class:`Batcher` are pure enough
to test without Kafka; :func:`run_sink` is the thin loop around them. One concept
per module: :mod:`~warehouse.sink.partials` (records parsed), :mod:`~warehouse.sink.ledger`
(stored versions, deltas, dedup tokens), :mod:`~warehouse.sink.arrow` and
:mod:`~warehouse.sink.writer` (the kind tables), :mod:`~warehouse.sink.fence` (claims and
the insert guard), :mod:`~warehouse.sink.dlq`,
:mod:`~warehouse.sink.batch` (collecting and routing messages), :mod:`~warehouse.sink.flush`
(one batch into every table) and :mod:`~warehouse.sink.loop` (the consumer loop).

This package re-exports the names other modules and tests import from ``warehouse.sink``.
"""

from warehouse.sink.batch import Batcher, SinkBatch, decode_message
from warehouse.sink.dlq import dlq_rows
from warehouse.sink.flush import flush, write_with_retry
from warehouse.sink.loop import SinkConfig, run_sink
from warehouse.sink.partials import parse_partial
from warehouse.sink.writer import PartialWriter, WriteStats

__all__ = [
    "Batcher",
    "PartialWriter",
    "SinkBatch",
    "SinkConfig",
    "WriteStats",
    "decode_message",
    "dlq_rows",
    "flush",
    "parse_partial",
    "run_sink",
    "write_with_retry",
]
