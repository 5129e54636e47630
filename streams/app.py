"""Faust glue: one agent over the four input topics, the block/commit protocol, the DLQ.

Faust's consumer delivers raw bytes a fetch at a time (:mod:`streams.consumer`; or in
``take_events`` batches through the agent with ``RESONANCE_BATCH_CONSUMER=false``);
everything else happens in :class:`streams.partition.PartitionState` (pure). Faust's
own offset tracking is switched off for the input topics (``acks=False``): offsets are
committed here, explicitly, only after the broker acknowledged the block's final
partials and DLQ records (docs/streaming.md, "Blocks and commits"). Faust seeks every
assigned partition back to its committed offset on each rebalance, so a partition's
in-memory state is dropped on revocation and rebuilt (join state from the log) when its
first message comes back.

``RESONANCE_FAULT_POINT`` (tests only) stops the process at a chosen point of the
protocol, the way a crash would (docs/streaming.md, "Fault injection").
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Awaitable, Iterable
from typing import Any

import faust
from faust.types import TP

from streams.consumer import BatchConsumer
from streams.decode import DecodeResult, Rejection, decode
from streams.dlq import DlqLimits, message_record
from streams.partition import REPLAYED_TOPICS, BlockConfig, PartitionState
from streams.registry import MODELS_TOPIC, Bootstrap, ModelRegistry
from streams.settings import StreamSettings
from streams.topics import INPUT_TOPICS, input_topics

log = logging.getLogger("resonance.worker")

PARTIALS_TOPIC = "partials"
DLQ_TOPIC = "dlq"


def _run_key(tp: TP, r: DecodeResult) -> tuple[Any, ...] | None:
    """What consecutive single events must share to be accounted as one run (None: the
    message is not one): topic-partition, tenancy and feature names in order."""
    if r.kind != "telemetry" or r.n_input != 1 or r.rejections or r.ts_ms.shape[0] != 1:
        return None
    return (tp, r.tenancy, tuple(r.features))


def block_config(settings: StreamSettings) -> BlockConfig:
    bootstrap = None
    if settings.bootstrap_samples or settings.bootstrap_hours:
        bootstrap = Bootstrap(samples=settings.bootstrap_samples, hours=settings.bootstrap_hours)
    return BlockConfig(
        unknown_models=settings.unknown_models,
        bootstrap=bootstrap,
        window_ms=int(settings.window_s * 1000),
        lateness_ms=int(settings.allowed_lateness_s * 1000),
        block_messages=settings.block_messages,
        block_max_age_s=settings.block_max_age_s,
        horizon_ms=int(settings.join_horizon_s * 1000),
        max_predictions=settings.join_max_predictions,
        max_pending=settings.join_max_pending,
        max_join_bytes=settings.join_max_bytes,
        max_windows_per_message=settings.max_windows_per_message,
        max_windows_per_block=settings.max_windows_per_block,
        max_series_per_model=settings.max_series_per_model,
    )


def dlq_limits(settings: StreamSettings) -> DlqLimits:
    return DlqLimits(
        max_raw_bytes=settings.dlq_max_raw_bytes,
        max_rejections=settings.dlq_max_rejections,
        max_rows=settings.dlq_max_rows,
        max_record_bytes=settings.dlq_max_record_bytes,
    )


class ErrorLog:
    """Logs each processing-error reason once per ``every_s`` (with the count since), so
    a flood of poison messages costs a line per reason per minute, not one per message.

    >>> e = ErrorLog(every_s=60, clock=iter([0.0, 1.0, 61.0]).__next__)
    >>> e.should_log("KeyError"), e.should_log("KeyError"), e.should_log("KeyError")
    (1, 0, 2)
    """

    def __init__(self, every_s: float = 60.0, clock: Any = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self._last: dict[str, tuple[float, int]] = {}  # reason -> (logged at, suppressed)

    def should_log(self, reason: str) -> int:
        """0 to stay silent, else the occurrences this line stands for."""
        now = self.clock()
        last = self._last.get(reason)
        if last is not None and now - last[0] < self.every_s:
            self._last[reason] = (last[0], last[1] + 1)
            return 0
        if last is None and len(self._last) >= 1_000:
            self._last.clear()  # bounded: reasons carry producer text
        self._last[reason] = (now, 0)
        return 1 + (last[1] if last else 0)


def foreign_consortium(result: DecodeResult, consortium: str) -> DecodeResult:
    """Topic prefix mode: the whole message of another consortium is refused, with the
    field named; its DLQ record is filed under the topic's consortium (whose producer
    wrote it), not under the one it claims.

    >>> from streams.events import Tenancy
    >>> t = Tenancy(consortium="automotive", member="m", model="x", model_version="1",
    ...             site="s", hub="h")
    >>> r = foreign_consortium(DecodeResult(kind="energy", tenancy=t, n_input=1), "steel")
    >>> str(r.rejections[0])
    "consortium: 'automotive' is not the topic's consortium 'steel' (topic prefix mode)"
    >>> r.tenancy.consortium, r.message_rejected
    ('steel', True)
    """
    assert result.tenancy is not None
    reason = f"{result.tenancy.consortium!r} is not the topic's consortium {consortium!r}"
    return DecodeResult(
        kind=result.kind,
        tenancy=result.tenancy.model_copy(update={"consortium": consortium}),
        batch=result.batch,
        n_input=result.n_input,
        rejections=[Rejection(reason + " (topic prefix mode)", "consortium")],
    )


def exact(data: bytes) -> bytes:
    """``data`` in a buffer of its own size: orjson returns bytes whose buffer keeps its
    whole reservation (3.13: 32 KB for a 3 KB partial; up to twice the length before
    3.12), and the worker holds encoded records until the broker acks them (one copy:
    ~0.2 us for a 1.5 KB record).

    >>> import orjson, tracemalloc
    >>> tracemalloc.start()
    >>> before = tracemalloc.get_traced_memory()[0]
    >>> kept = [exact(orjson.dumps({"counts": [0] * 200})) for _ in range(100)]
    >>> (tracemalloc.get_traced_memory()[0] - before) // 100 < 1024
    True
    >>> tracemalloc.stop()
    """
    return bytes(memoryview(data))


MAX_UNACKED_SENDS = 4
"""Send tasks (one per batch of DLQ records, per chunk of an emission of partials, per
registry entry) that may wait for acks while the worker reads (or emits) on."""
EMIT_CHUNK_PARTIALS = 500
"""Partials per send task of an emission at most (:meth:`StreamProcessor._emit`)."""
EMIT_CHUNK_BYTES = 1 << 20
"""Encoded bytes at which a chunk of an emission is closed (it may pass them by one
partial)."""


class StreamProcessor:
    """State and protocol of one worker process (one Faust app).

    Partition state speaks of the four logical input topics (``telemetry``...); the
    topics read are ``self.topics[logical]``, which are ``<consortium>.<name>`` in topic
    prefix mode (``RESONANCE_TOPIC_CONSORTIUM``, docs/production.md).
    """

    def __init__(self, app: faust.App, settings: StreamSettings, registry: ModelRegistry) -> None:
        self.app = app
        self.settings = settings
        self.registry = registry
        self.cfg = block_config(settings)
        self.consortium = settings.topic_consortium
        self.topics = input_topics(self.consortium)  # logical -> physical topic
        self.logical = {physical: name for name, physical in self.topics.items()}
        self.states: dict[int, PartitionState] = {}
        self.expected: dict[TP, int] = {}  # next offset we accept per TP (dup/stale guard)
        self.strict: set[TP] = set()  # TPs whose next message must be exactly `expected`
        self.pending: dict[int, list[Awaitable[Any]]] = {}  # unacked sends per partition
        self.last_emit: dict[int, float] = {}
        self.lock = asyncio.Lock()
        self._send_lock = asyncio.Lock()
        self.generation = 0
        self._rebuild_consumer: Any = None
        self._faults: dict[str, int] = {}  # fault point -> times reached
        self.limits = dlq_limits(settings)
        self.errors = ErrorLog()
        #: messages that hit a processing error, per partition (a metric, never a crash)
        self.processing_errors: dict[int, int] = {}
        #: messages per (topic, offset) to dead-letter after the batch: raw, rejections,
        #: tenancy (one record per message, carrying all of its rejections)
        self._rejected: dict[tuple[str, int], tuple[bytes, list[Rejection], Any]] = {}
        self.counters = {
            "messages": 0,
            "samples": 0,
            "rejections": 0,
            "dlq_records": 0,
            "processing_errors": 0,
            "commits": 0,
            "commit_failures": 0,
        }
        self._reported: tuple[float, dict[str, int]] = (time.monotonic(), dict(self.counters))

    def _report(self, every_s: float = 10.0) -> None:
        """One stderr line per ``every_s`` while messages flow: counts and rates."""
        now = time.monotonic()
        last_at, last = self._reported
        if now - last_at < every_s or self.counters == last:
            return
        dt = now - last_at
        rate = (self.counters["samples"] - last["samples"]) / dt
        msgs = (self.counters["messages"] - last["messages"]) / dt
        limited: dict[str, int] = {}
        for state in self.states.values():
            for bound, n in state.limited.items():
                limited[bound] = limited.get(bound, 0) + n
        line = ", ".join(f"{k} {v:,}" for k, v in self.counters.items())
        if limited:
            line += ", limited " + ", ".join(f"{k} {v:,}" for k, v in sorted(limited.items()))
        print(f"resonance worker: {line} ({rate:,.0f} samples/s, {msgs:,.0f} msg/s)",
              file=sys.stderr, flush=True)  # fmt: skip
        self._reported = (now, dict(self.counters))

    # --- Faust hooks -----------------------------------------------------------------------

    async def agent(self, stream: faust.Stream) -> None:
        """Faust's per-message path (``RESONANCE_BATCH_CONSUMER=false``); with the batch
        consumer nothing reaches this stream (it only subscribes the input topics)."""
        async for events in stream.take_events(
            self.settings.take_max, within=self.settings.take_within_s
        ):
            await self.on_batch([(ev.message.tp, ev.message) for ev in events])

    async def on_batch(self, records: list[tuple[TP, Any]]) -> None:
        """One batch of ``(tp, record)``: from :class:`streams.consumer.BatchConsumer` (a
        fetch) or from the agent (a ``take_events`` batch)."""
        try:
            async with self.lock:
                await self.handle(records)
                await self.maybe_emit()
                await self._backpressure()
            self._report(self.settings.report_interval_s)
        except Exception as exc:
            # stop the whole worker rather than leave a live process that consumes nothing:
            # nothing uncommitted is lost, the restart replays from the committed offsets
            log.exception("agent failed; stopping the worker")
            await self.app.crash(exc)
            raise

    async def _backpressure(self, extra: list[Any] | None = None) -> None:
        """Stop reading while more than ``MAX_UNACKED_SENDS`` send tasks wait for acks
        (those of ``self.pending`` and of ``extra``: a final emission's, popped).

        Reading outran the producer in a DLQ flood: a first group after an assignment
        holds the whole backlog, and every rejected record of it stayed queued in memory
        (~13 KB per message: 700 MB for 45,000). Failed sends are not raised here; they
        stop the worker when the block awaits its acks (:meth:`finalise`).
        """
        lists = list(self.pending.values())
        if extra is not None and not any(extra is sends for sends in lists):
            lists.append(extra)
        unacked = [f for sends in lists for f in sends if not f.done()]
        if len(unacked) > MAX_UNACKED_SENDS:
            await asyncio.wait(unacked[: len(unacked) - MAX_UNACKED_SENDS])

    async def tick(self) -> None:
        """Timer: idle blocks are finalised and cumulative partials emitted on time."""
        self._report(self.settings.report_interval_s)
        if self.lock.locked():
            return  # the agent is busy and emits/finalises itself after its batch
        async with self.lock:
            try:
                await self.maybe_emit()
            except Exception as exc:
                log.exception("emit failed; stopping the worker")
                await self.app.crash(exc)

    async def on_revoked(self, sender: Any, revoked: Iterable[TP], **_: Any) -> None:
        """Drop state of revoked partitions (no lock: never wait on the agent mid-commit)."""
        lost = {tp.partition for tp in revoked if tp.topic in self.logical}
        if lost:
            self.generation += 1
        for p in lost:
            self.states.pop(p, None)
            self.pending.pop(p, None)
        self.expected = {tp: o for tp, o in self.expected.items() if tp.partition not in lost}
        self.strict = {tp for tp in self.strict if tp.partition not in lost}

    async def on_assigned(self, sender: Any, assigned: Iterable[TP], **_: Any) -> None:
        parts = sorted({tp.partition for tp in assigned if tp.topic in self.logical})
        print(f"resonance worker: assigned partitions {parts}", file=sys.stderr, flush=True)

    # --- batches ---------------------------------------------------------------------------

    async def handle(self, records: list[tuple[TP, Any]]) -> None:
        """Process one batch of ``(tp, record)``, partition group by partition group.

        A rebalance during the batch (seen as a new ``generation``) abandons the rest: Faust
        seeks every assigned partition back to its committed offset and re-delivers.
        """
        generation = self.generation
        assigned = self._assigned()
        by_partition: dict[int, list[tuple[TP, Any]]] = {}
        for tp, msg in records:
            if tp in assigned:
                by_partition.setdefault(tp.partition, []).append((tp, msg))
        for p, messages in by_partition.items():
            state = await self.state_for(p)
            if generation != self.generation:
                return
            if state is None:
                continue
            self._rejected = {}
            self._process_all(state, messages)
            try:
                failed = state.flush()
            except Exception as exc:  # not one message's fault: stop, replay from the commit
                raise RuntimeError(f"flushing partition {p} failed") from exc
            for (name, offset), reason in failed:
                topic = self.topics[name]
                raw = next((m.value or b"" for t, m in messages if m.offset == offset
                            and t.topic == topic), b"")  # fmt: skip
                self._reject(state.partition, topic, offset, raw, None, [], error=reason)
            self._dead_letter(state.partition)
            self._publish(state)

    def _publish(self, state: PartitionState) -> None:
        """Registry entries the partition changed (bootstrap references) go to ``models``;
        their acks are awaited with the block, like its partials."""
        if not state.outbox:
            return
        sends = self.pending.setdefault(state.partition, [])
        for entry in state.outbox:
            print(f"resonance worker: registered {entry.key} ({entry.provenance.get('source')})",
                  file=sys.stderr, flush=True)  # fmt: skip
            sends.append(self._send(MODELS_TOPIC, entry.key.encode(), entry.to_json().encode()))
        state.outbox.clear()

    def _process_all(self, state: PartitionState, messages: list[tuple[TP, Any]]) -> None:
        """Decode and account the partition's messages in order.

        Consecutive single telemetry events of one topic-partition, tenancy and feature
        list (a run) are accounted together (:meth:`PartitionState.process_singles`);
        every message keeps its own offset, counters, rejections and DLQ record.
        """
        run: list[tuple[TP, int, bytes, DecodeResult]] = []
        run_key: tuple[Any, ...] | None = None
        for tp, msg in messages:
            item = self._decode(tp, msg)
            if item is None:
                continue
            offset, raw, result, error = item
            key = None if error is not None else _run_key(tp, result)
            if key is not None and key == run_key:
                run.append((tp, offset, raw, result))  # type: ignore[arg-type]
                continue
            if run:
                self._account_run(state, run)
                run = []
            run_key = key
            if key is not None:
                run.append((tp, offset, raw, result))  # type: ignore[arg-type]
            else:
                self._account(state, tp, offset, raw, result, error)
        if run:
            self._account_run(state, run)

    def _decode(
        self, tp: TP, msg: Any
    ) -> tuple[int, bytes, DecodeResult | None, str | None] | None:
        """(offset, raw, result, error) of a message to account; None for one that is not
        ours to read (replayed, or stale: buffered before a rebalance; Faust re-delivers)."""
        offset = msg.offset
        expected = self.expected.get(tp)
        if expected is not None and (
            offset < expected or (offset > expected and tp in self.strict)
        ):
            return None
        self.strict.discard(tp)
        self.expected[tp] = offset + 1
        raw = msg.value if msg.value is not None else b""
        try:
            result = decode(raw, max_bytes=self.settings.max_message_bytes)
            if self.consortium and result.tenancy and result.tenancy.consortium != self.consortium:
                result = foreign_consortium(result, self.consortium)
        except Exception as exc:  # a bug or an input we did not foresee: dlq, never crash
            return offset, raw, None, f"{type(exc).__name__}: {exc}"
        return offset, raw, result, None

    def _account_run(self, state: PartitionState, run: list[tuple[TP, int, bytes, DecodeResult]]):
        """A run of single events (see :meth:`_process_all`): one table, per-message books."""
        found = None
        if len(run) > 1:
            topic = self.logical[run[0][0].topic]
            try:
                found = state.process_singles(topic, [o for _, o, _, _ in run],
                                              [r for _, _, _, r in run])  # fmt: skip
            except Exception as exc:  # half-applied: not one message's fault; replay
                raise RuntimeError(f"partition {state.partition}: a run failed") from exc
        if found is None:  # not the common case: message by message
            for tp, offset, raw, result in run:
                self._account(state, tp, offset, raw, result, None)
            return
        self.counters["messages"] += len(run)
        self.counters["samples"] += len(run)  # one row each
        for i, rejects in found.items():
            tp, offset, raw, result = run[i]
            self._reject(state.partition, tp.topic, offset, raw, result.tenancy, rejects)

    def _account(
        self,
        state: PartitionState,
        tp: TP,
        offset: int,
        raw: bytes,
        result: DecodeResult | None,
        error: str | None,
    ) -> None:
        """Account one decoded message; anything that fails for it dead-letters it."""
        topic = self.logical[tp.topic]
        rejects: list[Rejection] = []
        if result is not None and error is None:
            try:
                rejects += result.rejections
                rejects += state.process(topic, offset, result)
            except Exception as exc:  # a bug or an input we did not foresee: dlq, never crash
                error = f"{type(exc).__name__}: {exc}"
        if error is not None and state.next_offset.get(topic) != offset + 1:
            state.block(topic).seen(offset)  # failed before it was read
            state.next_offset[topic] = offset + 1
        self.counters["messages"] += 1
        self.counters["samples"] += 0 if result is None or error else result.n
        if rejects or error:
            tenancy = None if result is None else result.tenancy
            self._reject(state.partition, tp.topic, offset, raw, tenancy, rejects, error)

    def _reject(
        self,
        partition: int,
        topic: str,
        offset: int,
        raw: bytes,
        tenancy: Any,
        rejects: list[Rejection],
        error: str | None = None,
    ) -> None:
        """Queue the message's rejections (one DLQ record per message, after the batch)."""
        entry = self._rejected.get((topic, offset))
        if entry is None:
            entry = self._rejected[(topic, offset)] = (raw, [], tenancy)
        entry[1].extend(rejects)
        if error is not None:
            reason = f"processing error: {error}"
            entry[1].insert(0, Rejection(reason[:300]))
            self.counters["processing_errors"] += 1
            self.processing_errors[partition] = self.processing_errors.get(partition, 0) + 1
            n = self.errors.should_log(error[:120])
            if n:
                log.error("%s[%d]@%d: %s (%d such messages since the last line)",
                          topic, partition, offset, reason[:300], n)  # fmt: skip

    def _dead_letter(self, partition: int) -> None:
        """Send the queued records of ``partition``'s batch (bounded, one per message)."""
        rejected, self._rejected = self._rejected, {}
        if not rejected:
            return
        records: list[tuple[str, bytes, bytes]] = []
        for (topic, offset), (raw, rejects, tenancy) in rejected.items():
            self.counters["rejections"] += len(rejects)
            try:
                record = message_record(
                    raw, rejects, topic, partition, offset, tenancy=tenancy, limits=self.limits
                )
            except Exception as exc:  # never let the record itself stop the partition
                reason = f"processing error: dlq record: {type(exc).__name__}: {exc}"
                record = message_record(raw, [Rejection(reason[:300])], topic, partition,
                                        offset, limits=self.limits)  # fmt: skip
            self.counters["dlq_records"] += 1
            records.append((DLQ_TOPIC, topic.encode(), exact(record)))
        self.pending.setdefault(partition, []).append(self._send_all(records))

    # --- partition state and rebuild --------------------------------------------------------

    async def state_for(self, p: int) -> PartitionState | None:
        state = self.states.get(p)
        if state is not None:
            return state
        generation = self.generation
        state = PartitionState(p, self.cfg, self.registry)
        committed, ends = await self._rebuild(state)
        if generation != self.generation:
            return None  # revoked while rebuilding; Faust re-delivers after the rebalance
        state.restore(committed, ends)
        for topic, offset in committed.items():
            self.expected[TP(self.topics[topic], p)] = offset
            self.strict.add(TP(self.topics[topic], p))
        self.states[p] = state
        self.last_emit[p] = 0.0  # a partition's first partials go out with its first batch
        return state

    async def _rebuild(self, state: PartitionState) -> tuple[dict[str, int], dict[str, int]]:
        """Committed offsets and high watermarks of the partition's four input TPs; replays
        the join sides into ``state`` meanwhile.

        Predictions and outcomes are read together, each from (now - horizon) up to its
        committed offset: the join pairs do not depend on the interleaving, so this is the
        join state the previous owner had when it committed (docs/streaming.md). The high
        watermarks come from fetch responses (Tansu's ListOffsets can lag the real end).
        """
        from aiokafka import TopicPartition

        consumer = await self._consumer()
        p = state.partition
        tps = {t: TopicPartition(self.topics[t], p) for t in INPUT_TOPICS}
        begins = await consumer.beginning_offsets(list(tps.values()))
        committed: dict[str, int] = {}
        for topic, tp in tps.items():
            off = await consumer.committed(tp)
            committed[topic] = max(off if off is not None else 0, begins[tp])
        since = int(time.time() * 1000 - self.cfg.horizon_ms)
        ranges: dict[Any, tuple[int, int]] = {}
        for topic, tp in tps.items():
            start = end = committed[topic]
            if topic in REPLAYED_TOPICS and end > begins[tp]:
                found = (await consumer.offsets_for_times({tp: since})).get(tp)
                start = end if found is None else max(found.offset, begins[tp])  # None: older
            ranges[tp] = (start, end)
        counts = dict.fromkeys(REPLAYED_TOPICS, 0)
        async for tp, raw in _read_ranges(consumer, ranges):
            result = decode(raw, max_bytes=self.settings.max_message_bytes)
            if self.consortium and result.tenancy and result.tenancy.consortium != self.consortium:
                continue  # the live pass refused it
            try:
                state.rebuild(self.logical[tp.topic], result)
            except Exception:  # the live pass sent this message to the dlq: go on
                log.exception("rebuilding the join from %s[%d] failed", tp.topic, p)
            counts[self.logical[tp.topic]] += 1
        for topic, n in counts.items():
            log.info("rebuilt join state of %s[%d] from %d messages", topic, p, n)
        ends = {t: int(consumer.highwater(tp)) for t, tp in tps.items()}
        return committed, ends

    async def _consumer(self) -> Any:
        if self._rebuild_consumer is None:
            from aiokafka import AIOKafkaConsumer

            c = AIOKafkaConsumer(
                group_id=self.settings.app_id,
                enable_auto_commit=False,
                **self.settings.aiokafka_kwargs(),
            )
            await c.start()
            self._rebuild_consumer = c
        return self._rebuild_consumer

    # --- emission, finalisation, commit -------------------------------------------------------

    async def maybe_emit(self) -> None:
        now = time.monotonic()
        idle_s = self.settings.block_idle_s
        for p, state in list(self.states.items()):
            state.refresh()  # a target registered meanwhile scores the pairs that waited
            fetched = None
            unreached = state.unreached_floors()
            if unreached and state.blocks and now - state.last_message_at >= 3 * idle_s:
                fetched = {t: await self._position(TP(self.topics[t], p)) for t in unreached}
            if state.finalisable(idle_s, now, fetched):
                await self.finalise(p, state)
            elif state.blocks and now - self.last_emit.get(p, 0.0) >= self.settings.emit_interval_s:
                self.last_emit[p] = now
                sends = self.pending.setdefault(p, [])
                sends[:] = [f for f in sends if not f.done() or f.exception() is not None]
                await self._emit(p, state, False, sends)

    async def finalise(self, p: int, state: PartitionState) -> None:
        """Final partials, await every ack of the block, commit ``last_offset + 1``, reset."""
        generation = self.generation
        sends = self.pending.pop(p, [])
        await self._emit(p, state, True, sends)
        await asyncio.gather(*sends)  # a failed send raises: the worker stops, uncommitted
        self._fault("after-acks")
        if generation != self.generation or self.states.get(p) is not state:
            return  # revoked meanwhile: the new owner re-reads from the committed offset
        offsets = {TP(self.topics[t], p): o for t, o in state.commit_offsets().items()}
        if await self._commit(offsets):
            self._fault("after-commit")
            self.counters["commits"] += 1
            state.reset()
            self.last_emit[p] = time.monotonic()
        else:
            await self._seek_back(p, state)

    async def _seek_back(self, p: int, state: PartitionState) -> None:
        """After a failed commit: drop the partition's state and seek its four input TPs
        back to the committed offsets (the group's start), so the group is read again.

        The replayed group has the same ``group_start``, hence the same keys, and the
        recovery floor of the rebuild makes its final version the highest: consumers
        keep one copy. Without the seek the fetch position stays past offsets that are
        never committed, and every later message of the partition would be refused as
        not continuing the committed offset: a silent stall (issue 11).
        """
        self.states.pop(p, None)
        self.pending.pop(p, None)
        self.expected = {tp: o for tp, o in self.expected.items() if tp.partition != p}
        self.strict = {tp for tp in self.strict if tp.partition != p}
        assigned = self._assigned()
        for topic, offset in state.group_start.items():
            tp = TP(self.topics[topic], p)
            if tp in assigned:  # revoked meanwhile: the rebalance seeks for the new owner
                await self.app.consumer.seek(tp, offset)
        self.counters["commit_failures"] += 1
        print(f"resonance worker: commit of partition {p} failed; re-reading it from the "
              f"committed offsets {dict(sorted(state.group_start.items()))}",
              file=sys.stderr, flush=True)  # fmt: skip

    def _fault(self, point: str) -> None:
        """Exit without a goodbye (like SIGKILL) when ``point`` is reached the configured
        number of times (``RESONANCE_FAULT_POINT=after-acks:3``: the third group's final
        partials are acknowledged, its offsets not committed)."""
        if self._fault_reached(point):
            print(f"resonance worker: fault injection: exiting at {self.settings.fault_point}",
                  file=sys.stderr, flush=True)  # fmt: skip
            os._exit(70)

    def _fault_reached(self, point: str) -> bool:
        """Whether this is the configured N-th time ``point`` is reached."""
        spec = self.settings.fault_point
        if not spec or spec.split(":")[0] != point:
            return False
        self._faults[point] = self._faults.get(point, 0) + 1
        return self._faults[point] == int(spec.split(":")[1])

    async def _commit(self, offsets: dict[TP, int]) -> bool:
        """Commit; False when it failed (the caller seeks back).

        Faust's consumer commits through its consumer thread; acks are off for our
        topics, so this explicit call is the only commit they ever get. Faust answers
        False for a group that rebalanced meanwhile, and crashes the worker itself on
        other commit errors (the restart replays from the committed offsets).
        ``RESONANCE_FAULT_POINT=fail-commit:N`` drops the N-th commit request, as a
        broker that refused it would (tests only).
        """
        if self._fault_reached("fail-commit"):
            print(f"resonance worker: fault injection: {self.settings.fault_point}: commit "
                  "not sent", file=sys.stderr, flush=True)  # fmt: skip
            return False
        try:
            return bool(await self.app.consumer._commit(offsets))
        except Exception:
            log.exception("commit failed")
            return False

    async def _emit(self, p: int, state: PartitionState, final: bool, sends: list[Any]) -> None:
        """Encode and send ``state``'s partials chunk by chunk, each chunk's send task
        appended to ``sends``; between chunks, :meth:`_backpressure` (``sends`` counted).

        A chunk is :data:`EMIT_CHUNK_PARTIALS` partials or :data:`EMIT_CHUNK_BYTES`
        encoded bytes, whichever comes first, so an emission holds a few chunks of encoded
        records at a time, never every state of a 1,000-series group at once (~10 KB of
        Python objects each: ~170 MB for 16,000). The caller holds ``self.lock``: nothing
        is processed before the emission is complete, so every partial carries the state
        of one moment. A partition dropped meanwhile (revoked, or sought back) is not
        emitted further: its new owner re-reads the group from the committed offsets.
        """
        records: list[tuple[str, bytes, bytes]] = []
        size = 0
        for partial in state.iter_partials(final):
            value = exact(partial.encode())
            records.append((PARTIALS_TOPIC, partial.key.encode(), value))
            size += len(value)
            if len(records) >= EMIT_CHUNK_PARTIALS or size >= EMIT_CHUNK_BYTES:
                if self.states.get(p) is not state:
                    return
                sends.append(self._send_all(records))
                records, size = [], 0
                await self._backpressure(sends)
        if records and self.states.get(p) is state:
            sends.append(self._send_all(records))

    def _send(self, topic: str, key: bytes, value: bytes) -> asyncio.Future:
        """One send (see :meth:`_send_all`)."""
        return self._send_all([(topic, key, value)])

    def _send_all(self, records: list[tuple[str, bytes, bytes]]) -> asyncio.Future:
        """Schedule the sends of ``records``, in order, as one task; the returned future
        resolves when the broker acknowledged all of them (one task per batch of DLQ
        records or partials, not per record: a flood of 10,000 rejections is 10,000
        records, not 10,000 tasks).

        Sends enter the producer one at a time (``_send_lock``, FIFO): aiokafka wakes every
        send waiting for room in a full batch on each drain, so thousands of concurrent
        sends (a final emission of 1,000 series, a DLQ flood) cost waiters x batches
        wake-ups; behind the lock one waits, the others queue. Acks are still awaited
        together.
        """
        producer = self.app.producer
        lock = self._send_lock

        async def go() -> Any:
            async with lock:
                acks = [await producer.send(topic, key, value, None, None, None)
                        for topic, key, value in records]  # fmt: skip
            records.clear()  # the producer's batches hold copies: free ours before the acks
            return await asyncio.gather(*acks)

        return asyncio.ensure_future(go())

    # --- consumer helpers --------------------------------------------------------------------

    def _assigned(self) -> set[TP]:
        return {tp for tp in self.app.consumer.assignment() if tp.topic in self.logical}

    async def _position(self, tp: TP) -> int:
        """The consumer's fetch position of ``tp`` (-1 if unknown)."""
        try:
            position = await self.app.consumer.position(tp)
        except Exception:
            return -1
        return -1 if position is None else int(position)

    async def close(self) -> None:
        if self._rebuild_consumer is not None:
            await self._rebuild_consumer.stop()
            self._rebuild_consumer = None


async def _read_ranges(consumer: Any, ranges: dict[Any, tuple[int, int]]) -> Any:
    """``(tp, value)`` of every record in ``[start, end)`` of each TP, TPs interleaved as
    the fetches return them; afterwards ``consumer.highwater(tp)`` is known for every TP
    (an empty range still gets one fetch response, and a log that ends below ``end``
    ends the range there).

    Raises RuntimeError when a TP gets no fetch response for a minute: without its high
    watermark there is no recovery floor, and the worker must not guess one.
    """
    consumer.assign(list(ranges))
    for tp, (start, _) in ranges.items():
        consumer.seek(tp, start)
    todo = set(ranges)
    idle = 0
    while todo:
        batch = await consumer.getmany(*todo, timeout_ms=500, max_records=10_000)
        idle = 0 if batch else idle + 1
        for tp in list(todo):
            end = ranges[tp][1]
            for rec in batch.get(tp, []):
                if rec.offset < end:
                    yield tp, rec.value if rec.value is not None else b""
            highwater = consumer.highwater(tp)
            if highwater is not None and await consumer.position(tp) >= min(end, highwater):
                todo.discard(tp)
                consumer.pause(tp)
        if todo and idle >= 120:
            names = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(todo))
            raise RuntimeError(f"rebuild: no fetch response for {names} within 60 s")


class WorkerApp(faust.App):
    """A Faust app whose consumer is :class:`streams.consumer.BatchConsumer`."""

    #: the consumer's ``batch_handler`` (the consumer is created when the worker starts)
    batch_handler: Any = None

    def _new_consumer(self) -> Any:
        transport = self.transport
        consumer = BatchConsumer(
            transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=transport.loop,
        )
        consumer.batch_handler = self.batch_handler
        return consumer


def create_app(
    settings: StreamSettings, registry: ModelRegistry
) -> tuple[faust.App, StreamProcessor]:
    """The Faust app with its agent, timer and rebalance hooks.

    With ``batch_consumer`` (the default) fetched records go from the consumer to
    :meth:`StreamProcessor.on_batch` directly; the agent only subscribes the topics.
    """
    app = (WorkerApp if settings.batch_consumer else faust.App)(
        settings.app_id,
        broker=settings.faust_broker_url(),
        broker_credentials=settings.faust_credentials(),
        value_serializer="raw",
        key_serializer="raw",
        stream_wait_empty=False,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.broker_session_timeout,
        broker_heartbeat_interval=settings.broker_heartbeat_interval,
        broker_rebalance_timeout=settings.broker_rebalance_timeout,
        broker_request_timeout=settings.broker_request_timeout,
        stream_buffer_maxsize=max(4096, settings.take_max * 2),
        broker_max_poll_records=settings.take_max,  # one getmany = one handled batch
        consumer_max_fetch_size=16 * 1024 * 1024,  # 1 MiB = ~50 batch envelopes per fetch
        # aiokafka fills one batch per partition at a time and every send waiting for room
        # wakes on each drain: with the 16 KB default, 9,000 DLQ records of a flood (10,000
        # distinct sites) took minutes. 512 KiB holds ~300 such records and stays below
        # the 1,000,000-byte request and message limits.
        producer_max_batch_size=512 * 1024,
        topic_partitions=settings.partitions,
        store="memory://",
    )
    processor = StreamProcessor(app, settings, registry)
    inputs = app.topic(
        *processor.topics.values(),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        acks=False,
    )
    app.agent(inputs, name="resonance-partials", concurrency=1)(processor.agent)
    if isinstance(app, WorkerApp):
        app.batch_handler = processor.on_batch
    app.timer(0.5, name="resonance-tick")(processor.tick)
    app.on_partitions_revoked.connect(processor.on_revoked)
    app.on_partitions_assigned.connect(processor.on_assigned)
    return app, processor
