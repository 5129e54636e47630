"""Chunked emission (pure, no broker): ``StreamProcessor._emit`` encodes and sends a
partition's partials a chunk at a time, with backpressure between chunks. It must send
exactly the partials the list API gives (dirty flags, versions, final or not), never hold
more than a few chunks of encoded records, and keep the finalise protocol: every ack of
the block before the commit, a failed send stops the worker uncommitted, a revoked
partition is neither emitted further nor committed.

The fake producer acks one record per turn of the event loop, so the emission outruns it
and the backpressure is what bounds the records in flight (no timing involved)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from types import SimpleNamespace

import numpy as np
import orjson
import pytest
from faust.types import TP

import streams.app as app_module
from streams.app import StreamProcessor
from streams.partition import PartitionState
from streams.settings import StreamSettings
from streams.topics import input_topics
from tests.streams.conftest import COIL_FEATURES as FEATURES

TENANCY = {"consortium": "steel", "member": "baowu", "model": "coil", "model_version": "2",
           "hub": "Guizhou"}  # fmt: skip
TELEMETRY = TP(input_topics(None)["telemetry"], 0)


def events(first: int, sites: range, ts: int, seed: int) -> list[tuple[TP, SimpleNamespace]]:
    """One single event per site, offsets from ``first``."""
    rng = np.random.default_rng(seed)
    out = []
    for i, site in enumerate(sites):
        features = {f: float(rng.normal(10, 2)) for f in FEATURES}
        body = {"schema_version": 1, "kind": "telemetry", **TENANCY, "site": f"s{site}",
                "ts": ts + i, "features": features}  # fmt: skip
        out.append((TELEMETRY, SimpleNamespace(offset=first + i, value=orjson.dumps(body))))
    return out


class Producer:
    """Records every send; acks one record per turn of the loop (:meth:`run`), or fails
    the ``fail_at``-th record's ack; ``on_ack(n)`` after the n-th ack."""

    def __init__(self, fail_at: int | None = None, on_ack=None) -> None:
        self.values: list[bytes] = []
        self.queue: deque[asyncio.Future] = deque()
        self.acked = 0
        self.max_unacked = 0
        self.fail_at = fail_at
        self.on_ack = on_ack

    async def send(self, topic, key, value, partition, timestamp, headers):
        assert topic == "partials" and key is not None
        self.values.append(value)
        ack = asyncio.get_running_loop().create_future()
        self.queue.append(ack)
        self.max_unacked = max(self.max_unacked, len(self.queue))
        return ack

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0)
            if self.queue:
                ack = self.queue.popleft()
                self.acked += 1
                if self.acked == self.fail_at:
                    ack.set_exception(RuntimeError("broker said no"))
                else:
                    ack.set_result(None)
                if self.on_ack is not None:
                    await self.on_ack(self.acked)


class Harness:
    """A StreamProcessor on a fake app (producer, commit) and a twin partition state fed
    the same messages, whose ``partials()`` (the list API) are the reference."""

    def __init__(self, coil_registry, producer: Producer) -> None:
        self.commits: list[dict] = []
        self.producer = producer

        async def commit(offsets):
            assert not producer.queue, "committed before every ack of the block"
            assert producer.fail_at is None or producer.acked < producer.fail_at
            self.commits.append(offsets)
            return True

        app = SimpleNamespace(producer=producer, consumer=SimpleNamespace(_commit=commit))
        self.processor = StreamProcessor(app, StreamSettings(), coil_registry)
        self.twin_processor = StreamProcessor(SimpleNamespace(), StreamSettings(), coil_registry)
        self.state = PartitionState(0, self.processor.cfg, coil_registry)
        self.twin = PartitionState(0, self.processor.cfg, coil_registry)
        self.processor.states[0] = self.state
        self.chunks: list[tuple[int, int]] = []  # (records, bytes) per send task
        self.alive: list[int] = []  # records in unfinished send tasks, as each is made
        tasks: list[tuple[asyncio.Future, int]] = []
        send_all = self.processor._send_all

        def chunked(records):
            self.chunks.append((len(records), sum(len(v) for _, _, v in records)))
            future = send_all(records)
            tasks.append((future, len(records)))
            self.alive.append(sum(n for f, n in tasks if not f.done()))
            return future

        self.processor._send_all = chunked

    def feed(self, batch) -> None:
        for proc, state in ((self.processor, self.state), (self.twin_processor, self.twin)):
            proc._rejected = {}
            proc._process_all(state, batch)
            assert state.flush() == [] and proc._rejected == {}

    def sent(self, since: int = 0) -> Counter:
        return normal(self.producer.values[since:])


def normal(values) -> Counter:
    """Encoded partials, ``emitted_at`` (the wall clock) zeroed."""
    return Counter(orjson.dumps({**orjson.loads(v), "emitted_at": 0}) for v in values)


async def with_broker(producer: Producer, work):
    acker = asyncio.ensure_future(producer.run())
    try:
        return await work
    finally:
        acker.cancel()


@pytest.mark.parametrize("chunk_partials, chunk_bytes", [(40, 1 << 30), (10_000, 30_000)])
def test_chunked_emission_sends_exactly_the_partials_with_a_bounded_chunk(
    coil_registry, monkeypatch, chunk_partials, chunk_bytes
):
    monkeypatch.setattr(app_module, "EMIT_CHUNK_PARTIALS", chunk_partials)
    monkeypatch.setattr(app_module, "EMIT_CHUNK_BYTES", chunk_bytes)
    producer = Producer()
    h = Harness(coil_registry, producer)
    now = int(time.time() * 1000)
    minute = now - now % 60_000 - 600_000  # two whole windows, ten minutes back

    async def scenario():
        h.feed(events(0, range(60), minute, seed=1))
        sends: list = []
        await h.processor._emit(0, h.state, False, sends)
        await asyncio.gather(*sends)
        first = h.twin.partials(final=False)
        assert h.sent() == normal(p.encode() for p in first)
        assert len(first) == 60 * (len(FEATURES) + 1)  # drift per feature + volume, per site
        # a few series change in another window: only those are emitted again, then all
        h.feed(events(60, range(7), minute + 60_000, seed=2))
        done = len(producer.values)
        await h.processor._emit(0, h.state, False, sends)
        await asyncio.gather(*sends)
        second = h.twin.partials(final=False)
        assert h.sent(done) == normal(p.encode() for p in second)
        assert len(second) == 7 * (len(FEATURES) + 1)
        assert {p.version for p in second} == {67}
        done = len(producer.values)
        await h.processor.finalise(0, h.state)
        final = h.twin.partials(final=True)
        assert h.sent(done) == normal(p.encode() for p in final)
        assert len(final) == 67 * (len(FEATURES) + 1) and all(p.final for p in final)

    asyncio.run(with_broker(producer, scenario()))
    assert h.commits == [{TELEMETRY: 67}]
    assert h.state.blocks == {}  # reset after the commit
    biggest = max(len(v) for v in producer.values)
    assert len(h.chunks) > 20
    for n, size in h.chunks:
        assert n <= chunk_partials and size < chunk_bytes + biggest
    # at most MAX_UNACKED_SENDS + 1 chunks are alive at once, and more than
    # MAX_UNACKED_SENDS were: the producer lagged, the backpressure bounded
    assert max(h.alive) <= (app_module.MAX_UNACKED_SENDS + 1) * max(n for n, _ in h.chunks)
    assert max(h.alive) > app_module.MAX_UNACKED_SENDS * h.chunks[0][0]


def test_a_failed_send_of_a_chunk_stops_finalise_uncommitted(coil_registry, monkeypatch):
    monkeypatch.setattr(app_module, "EMIT_CHUNK_PARTIALS", 25)
    producer = Producer(fail_at=30)
    h = Harness(coil_registry, producer)
    h.feed(events(0, range(40), int(time.time() * 1000) - 600_000, seed=3))

    with pytest.raises(RuntimeError, match="broker said no"):
        asyncio.run(with_broker(producer, h.processor.finalise(0, h.state)))
    assert h.commits == []
    assert h.state.blocks["telemetry"].last_offset == 39  # not reset: replayed on restart
    assert len(producer.values) == 40 * (len(FEATURES) + 1)  # the rest was still sent


def test_a_partition_revoked_mid_emission_is_neither_emitted_further_nor_committed(
    coil_registry, monkeypatch
):
    monkeypatch.setattr(app_module, "EMIT_CHUNK_PARTIALS", 25)
    h: Harness

    async def revoke(acked: int) -> None:
        if acked == 30:
            await h.processor.on_revoked(None, [TELEMETRY])

    producer = Producer(on_ack=revoke)
    h = Harness(coil_registry, producer)
    h.feed(events(0, range(40), int(time.time() * 1000) - 600_000, seed=4))

    asyncio.run(with_broker(producer, h.processor.finalise(0, h.state)))
    assert h.commits == []
    assert 30 <= len(producer.values) < 40 * (len(FEATURES) + 1)
    assert 0 not in h.processor.states
