"""Faust's aiokafka consumer with one change: fetched records go to the worker in batches.

Faust hands every record to its conductor one at a time (``Consumer._drain_messages``:
``wait_first`` with two tasks per record, then ``on_message``, an ``Event``, the stream's
queue, ``Stream.__aiter__`` with its sensors, ``take_events``): ~65 µs of Python per
single event, more than decoding and accumulating it (docs/streaming.md, "What limits
the rate"). :class:`BatchConsumer` replaces that loop only: each ``getmany`` result goes
to ``batch_handler`` as one list of ``(tp, record)``, in offset order per topic-partition.

Everything else is Faust's: the group membership and rebalance callbacks, the pause and
flow control around a rebalance (``stop_flow`` / ``resume_flow``), the seek to the
committed offsets after an assignment, ``seek``, ``position``, ``_commit``. The loop keeps
the checks of Faust's ``getmany``: nothing is delivered while the flow is stopped (it
seeks back to the committed offsets instead), records of partitions no longer active and
records below the read offset (fetched before a seek) are dropped. The worker commits
its offsets itself (``acks=False``): Faust never tracks or acks these records.

Written against faust-streaming 0.15.3 (pinned in pyproject.toml): the loop uses the
consumer's private ``_wait_next_records``, ``_read_offset``, ``_buffered_partitions`` and
``perform_seek``, as Faust's own ``getmany`` does; check them on an upgrade.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import TP

log = logging.getLogger("resonance.worker")

BatchHandler = Callable[[list[tuple[TP, Any]]], Awaitable[None]]


class BatchConsumer(AIOKafkaConsumer):
    """``batch_handler`` gets every fetched batch (set it before the worker starts).

    The next ``getmany`` runs while the handler works on the previous batch (one batch
    ahead, like Faust's stream buffer): a fetch of many records takes the broker a while,
    and aiokafka asks for the next one only once the previous one was taken. A batch
    fetched before the flow stopped (a rebalance) is dropped, as Faust clears its stream
    buffers then: the assignment that follows seeks to the committed offsets.
    """

    batch_handler: BatchHandler | None = None
    _flow_epoch = 0  # +1 on every stop_flow: batches of an older epoch are stale

    def stop_flow(self) -> None:
        self._flow_epoch += 1
        super().stop_flow()

    async def _drain_messages(self, fetcher: Any) -> None:  # the Fetcher service's loop
        handler = self.batch_handler
        if handler is None:  # no batch handler: Faust's own per-message path
            await super()._drain_messages(fetcher)
            return
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        read_offset = self._read_offset
        diag = self.diag
        handling: asyncio.Future[None] | None = None
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                diag.set_flag(CONSUMER_FETCHING)
                epoch = self._flow_epoch
                batch = await self._next_batch(read_offset)
                diag.unset_flag(CONSUMER_FETCHING)
                if handling is not None:
                    await handling  # the handler's failure stops this loop (and the worker)
                    handling = None
                if batch and epoch == self._flow_epoch and self.flow_active:
                    handling = asyncio.ensure_future(handler(batch))
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                log.info("broker stopped the consumer, shutting down")
                return
            raise
        finally:
            diag.unset_flag(CONSUMER_FETCHING)
            # a loop restarted by Faust (its fetcher after a rebalance) leaves the batch in
            # hand to finish: it holds the worker's lock, so batches stay in order
            if handling is not None and not handling.done() and self.transport.app.should_stop:
                handling.cancel()

    async def _next_batch(self, read_offset: Any) -> list[tuple[TP, Any]]:
        """One ``getmany``: the records to deliver, as Faust's ``getmany`` would yield them."""
        records, active = await self._wait_next_records(1.0)
        await self.sleep(0)  # as Faust does: a getmany loop must let the event loop run
        if not records or self.should_stop:
            return []
        if not self.flow_active:  # stopped by a rebalance meanwhile: nothing of it counts
            try:
                await self.perform_seek()
            except Exception as exc:
                log.warning("seek while the flow is stopped failed: %r", exc)
            return []
        buffered = self._buffered_partitions
        monitor = self.app.monitor
        batch: list[tuple[TP, Any]] = []
        for tp, recs in records.items():
            if not recs or (active is not None and tp not in active and tp not in buffered):
                continue
            monitor.track_tp_end_offset(tp, self.highwater(tp))
            r_offset = read_offset[tp]
            if r_offset is not None and recs[0].offset < r_offset:
                recs = [r for r in recs if r.offset >= r_offset]  # fetched before a seek
                if not recs:
                    continue
            batch += [(tp, r) for r in recs]
            read_offset[tp] = recs[-1].offset
        return batch
