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
deterministic ``insert_deduplication_token`` (:func:`dedup_token`), so a zombie
flush that planned what the new owner planned, a retry or a second sink stores nothing
twice (a zombie whose range differs from the owner's is not fenced: docs/warehouse.md,
"Zombie sinks"). While ClickHouse
fails, the sink keeps its offsets, pauses its partitions and retries with
exponential backoff ("ClickHouse unavailable, retrying in Xs"); nothing is
dropped. A record that cannot be parsed lands in the ``dlq`` table.

:class:`PartialWriter` (the delta logic) and :class:`Batcher` are pure enough
to test without Kafka; :func:`run_sink` is the thin loop around them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from streams.partials import keep_latest
from streams.registry import parse_entry
from warehouse.alert_store import action_rows, store_actions, store_transitions, transition_rows
from warehouse.backend import Backend, WarehouseError
from warehouse.deliveries import delivery_rows, parse_delivery
from warehouse.kinds import DRIFT_KIND, KindSpec, columns_to_state, spec_for, state_to_columns
from warehouse.kinds import subtract as subtract_state
from warehouse.registry import store_entries
from warehouse.states import summed_sql

log = logging.getLogger("resonance.sink")

TENANCY = ("consortium", "member", "model", "model_version", "site", "hub")
TOPICS = ("partials", "alerts", "alert-actions", "dlq", "deliveries", "models")

#: keys per ledger lookup query (a server receives the parameter in the URL).
LOOKUP_CHUNK = 1_000
#: partials this close to the TTL horizon are refused too (rows must outlive a replay).
RETENTION_MARGIN_S = 3_600

_TS = pa.timestamp("s", tz="UTC")
_TS_MS = pa.timestamp("ms", tz="UTC")
_SUMS = pa.map_(pa.string(), pa.float64())


# ------------------------------------------------------------------ partial records


@dataclass(frozen=True, slots=True)
class SinkPartial:
    """One partial record (docs/internals.md "Partials"), as the sink needs it."""

    kind: str
    tenancy: tuple[str, ...]
    dimension: str  # feature / classes / source_topic, by kind ("" if none)
    window_start: int  # epoch seconds
    late: bool
    key: str
    version: int
    final: bool
    state: Mapping[str, Any]
    source_topic: str = ""
    source_partition: int = 0
    emitted_at: int = 0

    @property
    def spec(self) -> KindSpec:
        return spec_for(self.kind)


def parse_partial(record: Mapping[str, Any] | Any) -> SinkPartial:
    """Validate a decoded partial record (or a streams.partials.Partial); raises
    ValueError naming the bad field."""
    if not isinstance(record, Mapping) and hasattr(record, "to_dict"):
        record = record.to_dict()
    kind = _field(record, "kind", str)
    spec = spec_for(kind)
    tenancy = tuple(_field(record, name, str) for name in TENANCY)
    state = _field(record, "state", dict)
    if spec.dimension == "feature":
        dimension = _field(record, "feature", str)
    elif spec.dimension == "classes":
        classes = record.get("classes") or state.get("classes")
        dimension = orjson.dumps([str(c) for c in classes]).decode() if classes else ""
        state = {k: v for k, v in state.items() if k != "classes"}
    elif spec.dimension == "calibration":  # CBPE: the calibration descriptor rides in feature
        dimension = _field(record, "feature", str)
    elif spec.dimension == "source_topic":
        dimension = str(record.get("source_topic") or "")
    else:
        dimension = ""
    window_ms = _field(record, "window_start", int)
    return SinkPartial(
        kind=kind,
        tenancy=tenancy,
        dimension=dimension,
        window_start=window_ms // 1000,
        late=bool(record.get("late", False)),
        key=_field(record, "key", str),
        version=_field(record, "version", int),
        final=bool(record.get("final", False)),
        state=state,
        source_topic=str(record.get("source_topic") or ""),
        source_partition=int(record.get("source_partition") or 0),
        emitted_at=int(record.get("emitted_at") or 0),
    )


def _field(record: Mapping[str, Any], name: str, kind: type) -> Any:
    value = record.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise ValueError(f"partial field {name!r}: expected {kind.__name__}, got {value!r:.60}")
    return value


# ------------------------------------------------------------------------- ledger

Stored = tuple[int, Mapping[str, Any]]  # (version, cumulative state)


class Ledger:
    """Bounded LRU cache of (version, cumulative state) per key; misses go to a loader."""

    def __init__(
        self,
        loader: Callable[[Sequence[SinkPartial]], dict[str, Stored]],
        max_keys: int = 20_000,
    ) -> None:
        self._loader = loader
        self._max = max_keys
        self._cache: OrderedDict[str, Stored | None] = OrderedDict()

    def lookup(self, partials: Sequence[SinkPartial]) -> dict[str, Stored | None]:
        """Stored state per key (None = nothing stored yet); one loader call for all misses."""
        misses = [p for p in partials if p.key not in self._cache]
        if misses:
            loaded = self._loader(misses)
            for p in misses:
                self._put(p.key, loaded.get(p.key))
        out = {}
        for p in partials:
            self._cache.move_to_end(p.key)
            out[p.key] = self._cache[p.key]
        return out

    def record(self, key: str, version: int, state: Mapping[str, Any]) -> None:
        self._put(key, (version, state))

    def forget(self, keys: Iterable[str] | None = None) -> None:
        """Drop keys (all when None) so the next lookup re-reads ClickHouse."""
        if keys is None:
            self._cache.clear()
            return
        for k in keys:
            self._cache.pop(k, None)

    def _put(self, key: str, value: Stored | None) -> None:
        self._cache[key] = value
        self._cache.move_to_end(key)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)

    def __len__(self) -> int:
        return len(self._cache)


def plan_deltas(
    partials: Iterable[SinkPartial],
    ledger: Ledger,
    rejected: list[tuple[SinkPartial, str]] | None = None,
    previous: dict[str, int] | None = None,
) -> tuple[list[tuple[SinkPartial, Mapping[str, Any]]], int]:
    """(partial, delta state) for every key whose version grew; and how many were skipped.

    A partial whose state does not fit (shape changed, not numbers) is appended to
    ``rejected`` with the reason instead of stopping the batch (a poison record
    would otherwise stop the sink at every restart). ``previous`` receives, per planned
    key, the stored version its delta starts from (-1: nothing stored).
    """
    latest = list(keep_latest(partials).values())
    stored = ledger.lookup(latest)
    planned, skipped = [], 0
    for p in latest:
        prev = stored[p.key]
        if prev is not None and p.version <= prev[0]:
            skipped += 1
            continue
        try:
            delta = subtract_state(p.state, None if prev is None else prev[1])
            state_to_columns(p.spec, delta)  # validate: numbers of the expected shape
        except (ValueError, TypeError) as exc:
            if rejected is None:
                raise
            rejected.append((p, f"sink: bad partial state: {exc}"[:500]))
            continue
        planned.append((p, delta))
        if previous is not None:
            previous[p.key] = -1 if prev is None else prev[0]
    return planned, skipped


def dedup_token(table: str, rows: Iterable[tuple[str, int, int]]) -> str:
    """The insert_deduplication_token of one insert: a hash of its (key, from version,
    to version) triples.

    Two sinks (or a zombie flush and its replacement, or a retry) that planned the same
    deltas from the same stored versions send the same token, and ClickHouse keeps one
    (migration 0003 gives the tables a deduplication window).

    >>> dedup_token("volume_minute", [("k", -1, 3)]) == dedup_token("volume_minute", [("k", -1, 3)])
    True
    """
    h = hashlib.sha256(table.encode())
    for key, prev, version in sorted(rows):
        h.update(f"\x00{key}\x00{prev}\x00{version}".encode())
    return h.hexdigest()


# ------------------------------------------------------------------ Arrow conversion


def rows_to_arrow(
    spec: KindSpec, rows: Sequence[tuple[SinkPartial, Mapping[str, Any]]]
) -> pa.Table:
    """Delta rows of one kind table → an Arrow table with the table's column types."""
    cols: dict[str, list] = defaultdict(list)
    for p, delta in rows:
        for name, value in zip(TENANCY, p.tenancy, strict=True):
            cols[name].append(value)
        if spec.dimension:
            cols[spec.dimension].append(p.dimension)
        if p.kind in DRIFT_KIND:
            cols["kind"].append(DRIFT_KIND[p.kind])
        cols["window_start"].append(p.window_start)
        cols["late"].append(int(p.late))
        cols["key"].append(p.key)
        cols["version"].append(p.version)
        cols["final"].append(int(p.final))
        for name, value in state_to_columns(spec, delta).items():
            cols[name].append(list(value.items()) if isinstance(value, dict) else value)
    return pa.table({name: pa.array(vals, _arrow_type(spec, name)) for name, vals in cols.items()})


def _arrow_type(spec: KindSpec, column: str) -> pa.DataType:
    if column == "window_start":
        return _TS
    if column in ("late", "final"):
        return pa.uint8()
    if column == "version" or column in spec.int_scalars:
        return pa.int64()
    if column == "sums" and spec.map_sums:
        return _SUMS
    for col, dtype in spec.arrays.values():
        if col == column:
            return pa.list_(pa.int64() if dtype == "int64" else pa.float64())
    return pa.string()


# ------------------------------------------------------------------------- writer


class PartialWriter:
    """Idempotent write path for partial records (no Kafka here)."""

    def __init__(
        self,
        backend: Backend,
        max_keys: int = 20_000,
        retention_days: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.ledger = Ledger(self._load, max_keys)
        self.retention_days = retention_days
        self.clock = clock

    def too_old(self, p: SinkPartial) -> bool:
        """Windows past the minute TTL: their rows would expire at once, so the ledger
        could not see them and a replay would count them again. They go to the DLQ."""
        if not self.retention_days:
            return False
        horizon = self.clock() - self.retention_days * 86_400 + RETENTION_MARGIN_S
        return p.window_start < horizon

    def write(self, records: Iterable[Mapping[str, Any] | SinkPartial]) -> WriteStats:
        """Insert the deltas of ``records``; raises WarehouseError if an insert fails.

        Each kind table is one INSERT; the ledger learns a key's new version only
        after its table's insert succeeded, and forgets the batch's keys when one
        fails (the server may have applied it), so a retry re-reads ClickHouse.
        """
        partials = [r if isinstance(r, SinkPartial) else parse_partial(r) for r in records]
        stats = WriteStats()
        stats.too_old = [p for p in partials if self.too_old(p)]
        if stats.too_old:
            partials = [p for p in partials if not self.too_old(p)]
        previous: dict[str, int] = {}
        planned, stats.skipped = plan_deltas(partials, self.ledger, stats.rejected, previous)
        by_table: dict[str, list[tuple[SinkPartial, Mapping[str, Any]]]] = defaultdict(list)
        for p, delta in planned:
            by_table[p.spec.table].append((p, delta))
        for table, rows in by_table.items():
            try:
                for spec, group in _by_spec(rows):
                    token = dedup_token(
                        spec.table + "/" + spec.kind,
                        ((p.key, previous[p.key], p.version) for p, _ in group),
                    )
                    self.backend.insert_arrow(table, rows_to_arrow(spec, group), token)
            except WarehouseError:
                self.ledger.forget(p.key for p, _ in rows)
                raise
            for p, _ in rows:
                self.ledger.record(p.key, p.version, p.state)
            stats.inserted += len(rows)
        return stats

    def _load(self, partials: Sequence[SinkPartial]) -> dict[str, Stored]:
        """What ClickHouse already holds for these keys: max(version) and summed state.

        One query per kind and chunk of keys (the key list travels as a parameter,
        which a server receives in the URL); the batch's window range prunes parts.
        """
        out: dict[str, Stored] = {}
        by_spec: dict[str, list[SinkPartial]] = defaultdict(list)
        for p in partials:
            by_spec[p.kind].append(p)
        for kind, group in by_spec.items():
            spec = spec_for(kind)
            span = [
                "window_start >= toDateTime({lo:Int64}, 'UTC')",
                "window_start <= toDateTime({hi:Int64}, 'UTC')",
                "key IN {keys:Array(String)}",
            ]
            sql = summed_sql(spec, ["key", "max(version) AS version"], group=["key"], where=span)
            group.sort(key=lambda p: p.window_start)
            for i in range(0, len(group), LOOKUP_CHUNK):
                chunk = group[i : i + LOOKUP_CHUNK]
                result = self.backend.query(
                    sql,
                    {
                        "lo": chunk[0].window_start,
                        "hi": chunk[-1].window_start,
                        "keys": sorted({p.key for p in chunk}),
                    },
                )
                for row in result.to_pylist():
                    out[row["key"]] = (int(row["version"]), columns_to_state(spec, row))
        return out


def _by_spec(rows: list[tuple[SinkPartial, Mapping[str, Any]]]):
    """Split one table's rows by kind (drift numeric / categorical share a table)."""
    groups: dict[str, list] = defaultdict(list)
    for p, delta in rows:
        groups[p.kind].append((p, delta))
    return [(spec_for(kind), group) for kind, group in groups.items()]


@dataclass
class WriteStats:
    inserted: int = 0
    skipped: int = 0
    too_old: list[SinkPartial] = field(default_factory=list)
    rejected: list[tuple[SinkPartial, str]] = field(default_factory=list)


# ------------------------------------------------------------------- DLQ and alerts


def dlq_rows(records: Sequence[tuple[Mapping[str, Any], bytes]]) -> pa.Table:
    """DLQ JSON records (with their raw message bytes) → ``dlq`` table columns."""
    cols: dict[str, list] = defaultdict(list)
    for rec, _raw in records:
        tenancy = rec.get("tenancy") if isinstance(rec.get("tenancy"), dict) else {}
        for name in TENANCY:
            cols[name].append(str(tenancy.get(name) or ""))
        raw = _b64(rec.get("raw"))
        cols["raw_size"].append(_int(rec.get("raw_size"), len(raw)))
        cols["raw_sha256"].append(str(rec.get("raw_sha256") or hashlib.sha256(raw).hexdigest()))
        rejections = rec.get("rejections")
        cols["rejections"].append(orjson.dumps(rejections if isinstance(rejections, list) else
                                               []).decode())  # fmt: skip
        src = rec.get("source") or {}
        cols["source_topic"].append(str(src.get("topic") or ""))
        cols["source_partition"].append(int(src.get("partition") or 0))
        cols["source_offset"].append(int(src.get("offset") or 0))
        cols["reason"].append(str(rec.get("reason") or ""))
        cols["field"].append(str(rec.get("field") or ""))
        cols["rows"].append([int(r) for r in rec.get("rows") or []])
        cols["raw"].append(raw)
        cols["received_at"].append(int(rec.get("received_at") or time.time() * 1000))
    return pa.table(
        {
            "source_topic": pa.array(cols["source_topic"], pa.string()),
            "source_partition": pa.array(cols["source_partition"], pa.int32()),
            "source_offset": pa.array(cols["source_offset"], pa.int64()),
            "reason": pa.array(cols["reason"], pa.string()),
            "field": pa.array(cols["field"], pa.string()),
            "rows": pa.array(cols["rows"], pa.list_(pa.int64())),
            "raw": pa.array(cols["raw"], pa.binary()),
            "received_at": pa.array(cols["received_at"], _TS_MS),
            **{name: pa.array(cols[name], pa.string()) for name in TENANCY},
            "raw_size": pa.array(cols["raw_size"], pa.uint64()),
            "raw_sha256": pa.array(cols["raw_sha256"], pa.string()),
            "rejections": pa.array(cols["rejections"], pa.string()),
        }
    )


def _int(value: Any, default: int) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else default


def sink_reject(
    raw: bytes, reason: str, topic: str, partition: int, offset: int, field: str | None = None
) -> dict:
    """A DLQ record for a message the sink itself cannot store (never dropped silently)."""
    return {
        "reason": reason,
        "field": field,
        "rows": None,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "raw": base64.b64encode(raw).decode("ascii"),
        "received_at": int(time.time() * 1000),
    }


def _b64(value: Any) -> bytes:
    if not value:
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        return str(value).encode()


# ------------------------------------------------------------------------ batching


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


# --------------------------------------------------------------------- one flush


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
            batch.partials.append(parse_partial(record))
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        reason = f"sink: {exc}"[:500]
        batch.dlq.append((sink_reject(value, reason, topic, partition, offset), value))


def flush(writer: PartialWriter, batch: SinkBatch) -> WriteStats:
    """Write one batch (partials, then alerts, deliveries and DLQ, each idempotent by key)."""
    stats = writer.write(batch.partials)
    dlq = list(batch.dlq)
    old = f"sink: window older than the minute retention ({writer.retention_days} days)"
    for p, reason in [(p, old) for p in stats.too_old] + stats.rejected:
        raw = orjson.dumps({"key": p.key, "version": p.version, "kind": p.kind, "state": p.state})
        rec = sink_reject(raw, reason, p.source_topic, p.source_partition, p.version, p.key)
        dlq.append((rec, raw))
    store_transitions(writer.backend, batch.alerts)
    store_actions(writer.backend, batch.actions)
    if batch.deliveries:
        writer.backend.insert_arrow("deliveries", delivery_rows(batch.deliveries))
    if dlq:
        writer.backend.insert_arrow("dlq", dlq_rows(dlq))
    if batch.models:
        store_entries(writer.backend, keep_last_entries(batch.models))
    return stats


def keep_last_entries(entries: Iterable[Any]) -> list[Any]:
    """The last entry per model version in a batch (the topic is read in order)."""
    return list({e.key: e for e in entries}.values())


def write_with_retry(
    fn: Callable[[], Any],
    *,
    initial: float = 0.5,
    maximum: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int | None = None,
) -> Any:
    """Call ``fn`` until it succeeds, backing off exponentially on WarehouseError."""
    delay, tries = initial, 0
    while True:
        try:
            return fn()
        except WarehouseError as exc:
            tries += 1
            if attempts is not None and tries >= attempts:
                raise
            log.warning("ClickHouse unavailable, retrying in %.1fs (%s)", delay, exc)
            sleep(delay)
            delay = min(delay * 2, maximum)


# ------------------------------------------------------------------------ the loop


@dataclass
class SinkConfig:
    bootstrap: str = "localhost:9092"
    group_id: str = "resonance-sink"
    topics: tuple[str, ...] = TOPICS
    max_records: int = 5_000
    max_seconds: float = 1.0
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 1_000
    #: tests only: these commit attempts (1 = the first) are not sent and count as failed
    fail_commits: tuple[int, ...] = ()


async def run_sink(
    writer: PartialWriter,
    config: SinkConfig,
    stop: asyncio.Event | None = None,
    on_flush: Callable[[WriteStats, int], None] | None = None,
    evaluator: Any = None,
) -> None:
    """Consume ``config.topics`` and flush batches until ``stop`` is set.

    At-least-once from Kafka + idempotent writes = each delta stored once. With an
    ``evaluator`` (:class:`warehouse.evaluator.Evaluator`), every committed batch of
    partials is followed by the policy's decisions on the windows it closed; a failed
    evaluation is retried after the next batch (its cursor did not move). The evaluator
    also runs once at start: a crash after a commit leaves nothing undecided on a quiet
    stream.
    """
    from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

    stop = stop or asyncio.Event()

    class _Forget(ConsumerRebalanceListener):
        """Another sink may have written our keys meanwhile: trust ClickHouse, not the cache."""

        async def on_partitions_revoked(self, revoked):
            writer.ledger.forget()

        async def on_partitions_assigned(self, assigned):
            writer.ledger.forget()

    consumer = AIOKafkaConsumer(
        bootstrap_servers=config.bootstrap,
        group_id=config.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=config.session_timeout_ms,
        heartbeat_interval_ms=config.heartbeat_interval_ms,
    )
    consumer.subscribe(list(config.topics), listener=_Forget())
    await consumer.start()
    batcher = Batcher(config.max_records, config.max_seconds)
    pending = SinkBatch()
    attempts = 0
    try:
        if evaluator is not None:  # what a crash left undecided (committed, not evaluated)
            await _evaluate(evaluator)
        while not stop.is_set():
            got = await consumer.getmany(timeout_ms=200, max_records=config.max_records)
            for tp, messages in got.items():
                for msg in messages:
                    decode_message(tp.topic, tp.partition, msg.offset, msg.value, pending)
                    batcher.add(None, tp, msg.offset)
            if batcher.due():
                _, offsets = batcher.take()
                batch, pending = pending, SinkBatch()
                stats = await _flush_until_written(consumer, writer, batch, config, stop)
                if stats is None:  # stopped while ClickHouse was down: commit nothing
                    return
                attempts += 1
                inject = attempts in config.fail_commits
                if not await _commit_or_seek_back(consumer, writer, offsets, inject):
                    continue
                if evaluator is not None and batch.partials:
                    await _evaluate(evaluator)
                if on_flush:
                    on_flush(stats, len(batch))
    finally:
        await consumer.stop()


async def _evaluate(evaluator: Any) -> None:
    try:
        await asyncio.to_thread(evaluator.run)
    except Exception as exc:  # never stops the sink: the cursor did not move
        log.warning("policy evaluation failed, retried after the next batch (%s)", exc)


async def _commit_or_seek_back(
    consumer: Any, writer: PartialWriter, offsets: dict, inject: bool = False
) -> bool:
    """Commit; on failure seek back to the committed offsets instead of stalling.

    The batch is in ClickHouse already, so re-reading it is harmless: its deltas plan
    against what ClickHouse holds (the ledger is forgotten) and carry the same
    deduplication tokens. Without the seek the consumer would read on past offsets that
    are never committed, and a partition would stall silently at the next restart.
    ``inject`` (tests only, ``SinkConfig.fail_commits``) fails the commit unsent.
    """
    try:
        if inject:
            raise RuntimeError("fault injection: commit not sent")
        await consumer.commit(offsets)
        return True
    except Exception as exc:  # CommitFailedError after a rebalance, a broker error, ...
        log.warning("commit failed, re-reading from the committed offsets (%s)", exc)
        writer.ledger.forget()
        for tp in [tp for tp in offsets if tp in consumer.assignment()]:
            try:  # aiokafka's seek_to_committed skips a TP without a commit: seek it here
                committed = await consumer.committed(tp)
                if committed is None:  # nothing committed yet: auto_offset_reset=earliest
                    await consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, committed)
            except Exception as seek_exc:  # the next rebalance seeks for us
                log.warning("seek to the committed offsets failed (%s)", seek_exc)
        return False


async def _flush_until_written(consumer, writer, batch, config, stop) -> WriteStats | None:
    """Retry the flush with backoff, partitions paused (heartbeats go on meanwhile)."""
    delay = config.retry_initial_s
    paused = False
    try:
        while True:
            try:
                return await asyncio.to_thread(flush, writer, batch)
            except WarehouseError as exc:
                log.warning("ClickHouse unavailable, retrying in %.1fs (%s)", delay, exc)
                if not paused:
                    consumer.pause(*consumer.assignment())
                    paused = True
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                    return None
                except TimeoutError:
                    pass
                await consumer.getmany(timeout_ms=0)  # keep the group membership alive
                delay = min(delay * 2, config.retry_max_s)
    finally:
        if paused:
            consumer.resume(*consumer.assignment())
