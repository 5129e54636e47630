"""The sink's consumer loop: Kafka in, one flush per batch, offsets committed after it.

At-least-once from Kafka plus idempotent writes (:mod:`warehouse.sink.writer`) store each
delta once; a failed commit seeks back, a failing ClickHouse pauses the partitions. After
every assignment the sink claims its ``partials`` partitions in ``sink_fence`` before its
next flush reads ClickHouse (:mod:`warehouse.sink.fence`); a fenced flush is dropped,
re-read from the committed offsets and re-planned after a new claim. A claim that waited
too long for a zombie's insert stops the sink (``SinkFenceTimeout``, exit 1).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from errors import SinkFenced, SinkFenceTimeout
from warehouse.backend import Backend, WarehouseError
from warehouse.settings import DEFAULT_SINK_FENCE_WAIT_S
from warehouse.sink.batch import Batcher, SinkBatch, carries_partials, decode_message
from warehouse.sink.fence import check_cluster, claim
from warehouse.sink.flush import flush
from warehouse.sink.writer import PartialWriter, WriteStats

log = logging.getLogger("resonance.sink")

TOPICS = ("partials", "alerts", "alert-actions", "dlq", "deliveries", "models")


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
    #: a claim waits at most this long for fenced inserts already running, then the sink
    #: stops with SinkFenceTimeout (RESONANCE_SINK_FENCE_WAIT_S)
    fence_wait_s: float = DEFAULT_SINK_FENCE_WAIT_S
    #: the wait reads every replica's system.processes (RESONANCE_CLICKHOUSE_CLUSTER)
    cluster: str | None = None
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

    Raises :class:`~errors.SinkFenceTimeout` when a claim waited ``config.fence_wait_s``
    for fenced inserts that still run (a supervisor restarts the sink), and
    :class:`~errors.UsageError` at start when the server does not know ``config.cluster``.
    """
    from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

    stop = stop or asyncio.Event()
    if config.cluster is not None:  # a cluster the server does not know: stop now
        await asyncio.to_thread(check_cluster, writer.backend, config.cluster)
    reclaim = [True]  # claim the assignment in sink_fence before the next flush

    class _Forget(ConsumerRebalanceListener):
        """Another sink may have written our keys meanwhile: trust ClickHouse, not the cache."""

        async def on_partitions_revoked(self, revoked):
            writer.ledger.forget()

        async def on_partitions_assigned(self, assigned):
            writer.ledger.forget()
            reclaim[0] = True

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
                try:
                    stats = await _flush_until_written(
                        consumer, writer, batch, config, stop, reclaim
                    )
                except SinkFenced as exc:  # a newer claim: nothing of this insert landed
                    log.warning("sink fenced, re-reading from the committed offsets (%s)", exc)
                    writer.ledger.forget()
                    await _seek_to_committed(consumer, offsets)
                    reclaim[0] = True  # a tie lost, or a zombie: both re-read after a claim
                    try:  # a zombie and its owner would take turns: not at full speed
                        await asyncio.wait_for(stop.wait(), timeout=config.retry_initial_s)
                        return
                    except TimeoutError:
                        continue
                if stats is None:  # stopped while ClickHouse was down: commit nothing
                    return
                attempts += 1
                inject = attempts in config.fail_commits
                if not await _commit_or_seek_back(consumer, writer, offsets, inject):
                    continue
                if evaluator is not None and batch.partials:
                    await _evaluate(evaluator)
                await _release_memory(writer.backend)
                if on_flush:
                    on_flush(stats, len(batch))
    finally:
        await consumer.stop()


async def _evaluate(evaluator: Any) -> None:
    try:
        await asyncio.to_thread(evaluator.run)
    except Exception as exc:  # never stops the sink: the cursor did not move
        log.warning("policy evaluation failed, retried after the next batch (%s)", exc)


async def _release_memory(backend: Backend) -> None:
    """After a batch (and its evaluation): the embedded engine hands freed memory back
    to the OS, rate-limited (:meth:`warehouse.backend.ChdbBackend.release_memory`)."""
    try:
        await asyncio.to_thread(backend.release_memory)
    except Exception as exc:  # housekeeping: never stops the sink
        log.warning("releasing memory failed (%s)", exc)


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
        await _seek_to_committed(consumer, offsets)
        return False


async def _seek_to_committed(consumer: Any, offsets: dict) -> None:
    """Seek the batch's partitions (those still assigned) back to their committed offsets."""
    for tp in [tp for tp in offsets if tp in consumer.assignment()]:
        try:  # aiokafka's seek_to_committed skips a TP without a commit: seek it here
            committed = await consumer.committed(tp)
            if committed is None:  # nothing committed yet: auto_offset_reset=earliest
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        except Exception as seek_exc:  # the next rebalance seeks for us
            log.warning("seek to the committed offsets failed (%s)", seek_exc)


def _claim_and_flush(
    writer: PartialWriter,
    batch: SinkBatch,
    config: SinkConfig,
    claim_parts: list | None,
    reclaim: list,
) -> WriteStats:
    """Claim the partitions first if asked (the ledger forgotten: plans read after the
    claim), then flush; a failed claim is asked for again, a failed flush is not."""
    if claim_parts is not None:
        try:
            writer.fence = claim(
                writer.backend,
                config.group_id,
                claim_parts,
                wait_s=config.fence_wait_s,
                cluster=config.cluster,
            )
        except BaseException:
            reclaim[0] = True
            raise
        writer.ledger.forget()
    return flush(writer, batch)


async def _flush_until_written(consumer, writer, batch, config, stop, reclaim) -> WriteStats | None:
    """Retry the flush (after the claim ``reclaim[0]`` asks for: the assigned partials
    partitions) with backoff, partitions paused (heartbeats go on meanwhile)."""
    delay = config.retry_initial_s
    paused = False
    try:
        while True:
            try:
                parts = None
                if reclaim[0]:  # cleared first: an assignment meanwhile asks again
                    reclaim[0] = False
                    parts = [
                        (tp.topic, tp.partition)
                        for tp in consumer.assignment()
                        if carries_partials(tp.topic)
                    ]
                return await asyncio.to_thread(
                    _claim_and_flush, writer, batch, config, parts, reclaim
                )
            except SinkFenced:
                raise  # final: retrying the same plan cannot pass the fence
            except SinkFenceTimeout:
                raise  # a zombie's insert may still land: stop, never read past it
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
