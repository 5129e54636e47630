"""The sink loop against a real Kafka-compatible broker (Tansu) and real chDB.

Partials are produced twice (a replay) in shuffled order, with ClickHouse failing
for a while: totals must still equal the engines exactly, and offsets are committed
only once ClickHouse has the data.
"""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from errors import SinkFenceTimeout
from streams.broker import EmbeddedBroker
from warehouse import queries
from warehouse.backend import ChdbBackend, WarehouseUnavailable
from warehouse.references import store_reference
from warehouse.sink import PartialWriter, SinkConfig, run_sink
from warehouse.sink.fence import claim

from .test_sink_fence import Listed

pytestmark = pytest.mark.integration

CONSORTIUM = "kafka"


@pytest.fixture  # one broker per test and backend: topics and groups start empty
def broker():
    with EmbeddedBroker() as b:
        yield b


class Failing:
    """Backend wrapper whose inserts fail while ``down`` (queries pass through)."""

    def __init__(self, inner, down: int | None = None):
        self.inner, self.down, self.database = inner, down, inner.database
        self.failures = 0

    def query(self, sql, params=None):
        return self.inner.query(sql, params)

    def command(self, sql, params=None):
        return self.inner.command(sql, params)

    def insert_arrow(self, table, data, dedup_token=None, **guard):
        if self.down is None or self.down > 0:
            self.failures += 1
            if self.down:
                self.down -= 1
            raise WarehouseUnavailable("connection refused")
        return self.inner.insert_arrow(table, data, dedup_token, **guard)

    def release_memory(self):
        return self.inner.release_memory()

    def close(self):
        pass


async def produce(bootstrap: str, records: list) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 3, 1) for t in ("partials", "alerts", "dlq")])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for p in records:
            await producer.send("partials", p.encode(), key=p.key.encode())
        await producer.send(
            "dlq",
            b'{"reason": "bad", "source": {"topic": "t", "partition": 0, "offset": 1}, "raw": ""}',
        )
        await producer.flush()
    finally:
        await producer.stop()


async def committed(bootstrap: str, group: str) -> int:
    """Sum of the group's committed offsets on ``partials`` (0 when none)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        total = 0
        for p in range(3):
            total += await consumer.committed(TopicPartition("partials", p)) or 0
        return total
    finally:
        await consumer.stop()


async def sink_until(
    backend, bootstrap, group, done, what: str, timeout: float = 300, fail_commits=()
) -> int:
    """Run the sink until ``done(records flushed)`` holds; returns the records flushed.

    Fails, saying what it waited for, if that takes more than ``timeout`` seconds.
    """
    stop = asyncio.Event()
    seen = [0]

    def on_flush(_stats, records):
        seen[0] += records

    async def watch() -> None:
        while not done(seen[0]):
            await asyncio.sleep(0.1)
        stop.set()

    config = SinkConfig(
        bootstrap=bootstrap,
        group_id=group,
        max_records=500,
        max_seconds=0.3,
        retry_initial_s=0.05,
        retry_max_s=0.2,
        fail_commits=fail_commits,
    )
    task = asyncio.create_task(run_sink(PartialWriter(backend), config, stop, on_flush))
    watcher = asyncio.create_task(watch())
    try:
        await asyncio.wait_for(asyncio.shield(watcher), timeout=timeout)
    except TimeoutError:
        raise AssertionError(
            f"sink: {what} not seen within {timeout} s ({seen[0]} flushed)"
        ) from None
    finally:
        watcher.cancel()
        stop.set()
        await asyncio.wait_for(task, timeout=120)
    return seen[0]


def assert_stored_equals_engines(backend, helpers, world, consortium: str) -> None:
    """What the warehouse holds over the world's whole range equals the engines' own
    results on the raw data: drift counts (n, n_missing, PSI) per feature, energy's
    inferences."""
    lo, hi = helpers.T0, helpers.T0 + 40 * helpers.DAY
    rows = queries.drift(backend, consortium, start=lo, end=hi).rows
    assert rows
    for row in rows:
        kind = "drift_numeric" if row["kind"] == "numeric" else "drift_categorical"
        (raw,) = world.find(kind, row["feature"], consortium=consortium)
        want = raw.engine(lo, hi).result()
        assert (row["n"], row["n_missing"]) == (want["n"], want["n_missing"])
        if want.get("psi") is not None:
            assert row["psi"] == pytest.approx(want["psi"], rel=1e-9)
    (energy,) = queries.energy(backend, consortium, start=lo, end=hi).rows
    (raw,) = world.find("energy", "", consortium=consortium)
    assert energy["inferences"] == raw.engine(lo, hi).result()["inferences"]


def test_sink_survives_replay_and_outage(backend, broker, helpers, caplog):
    world = helpers.build_world(seed=5, per_window=3, consortia=(CONSORTIUM,), members=("a",))
    store_reference(backend, CONSORTIUM, world.profile)
    records = world.partials() * 2  # the whole topic replayed once
    random.Random(1).shuffle(records)
    asyncio.run(produce(broker.bootstrap, records))
    total = len(records) + 1

    caplog.set_level(logging.WARNING, logger="resonance.sink")
    down = Failing(backend)  # ClickHouse down the whole time: nothing may be committed
    failing = sink_until(down, broker.bootstrap, "g1", lambda _: down.failures >= 2,
                         "two failed inserts")  # fmt: skip
    assert asyncio.run(failing) == 0
    assert "ClickHouse unavailable, retrying in" in caplog.text
    assert asyncio.run(committed(broker.bootstrap, "g1")) == 0

    flaky = Failing(backend, down=3)  # comes back after three failed inserts

    def everything(flushed: int) -> bool:
        return flushed >= total

    what = f"all {total} records flushed"
    assert asyncio.run(sink_until(flaky, broker.bootstrap, "g1", everything, what)) == total
    assert asyncio.run(committed(broker.bootstrap, "g1")) == len(records)
    claimed = backend.query(  # the sink claimed its partitions before writing (sink_fence)
        "SELECT DISTINCT topic, partition FROM sink_fence WHERE consumer_group = 'g1' "
        "ORDER BY partition"
    ).to_pylist()
    assert claimed == [{"topic": "partials", "partition": p} for p in range(3)]

    # a second consumer group replays the whole topic: nothing is counted twice
    assert asyncio.run(sink_until(backend, broker.bootstrap, "g2", everything, what)) == total

    assert_stored_equals_engines(backend, helpers, world, CONSORTIUM)


def test_a_failed_commit_rereads_from_the_committed_offsets(
    backend, broker, helpers, caplog, monkeypatch
):
    """The sink's first and third commits fail (no rebalance): it seeks back and re-reads
    those batches from the committed offsets (the beginning, when nothing was committed
    yet). Nothing is lost (every offset committed, each
    record flushed in exactly one committed batch) and nothing doubles (stored totals
    equal the engines': the re-read batches plan against what ClickHouse holds)."""
    consortium = "seekback"
    world = helpers.build_world(seed=6, per_window=3, consortia=(consortium,), members=("a",))
    store_reference(backend, consortium, world.profile)
    records = world.partials()
    asyncio.run(produce(broker.bootstrap, records))
    total = len(records) + 1
    caplog.set_level(logging.WARNING, logger="resonance.sink")
    what = f"all {total} records flushed in committed batches"
    releases_before = getattr(backend, "releases", 0)
    monkeypatch.setattr(backend, "release_s", 1e-9, raising=False)  # after every batch
    flushed = asyncio.run(sink_until(backend, broker.bootstrap, "g", lambda n: n >= total, what,
                                     fail_commits=(1, 3)))  # fmt: skip
    assert caplog.text.count("commit failed, re-reading from the committed offsets") == 2
    assert flushed == total  # the failed batches' records came back, once each
    assert asyncio.run(committed(broker.bootstrap, "g")) == len(records)
    assert_stored_equals_engines(backend, helpers, world, consortium)
    if isinstance(backend, ChdbBackend):  # freed memory handed back after committed batches
        assert backend.releases > releases_before


class Usurped:
    """Backend wrapper: just before the sink's first insert of deltas, another sink claims
    every ``partials`` partition of the group (a newer epoch in sink_fence)."""

    def __init__(self, inner, group):
        self.inner, self.group, self.database = inner, group, inner.database
        self.usurped = False

    def query(self, sql, params=None):
        return self.inner.query(sql, params)

    def command(self, sql, params=None):
        return self.inner.command(sql, params)

    def insert_arrow(self, table, data, dedup_token=None, **guard):
        if guard and not self.usurped:
            self.usurped = True
            claim(self.inner, self.group, [("partials", p) for p in range(3)])
        return self.inner.insert_arrow(table, data, dedup_token, **guard)

    def release_memory(self):
        return self.inner.release_memory()

    def close(self):
        pass


def test_a_fenced_flush_is_dropped_reread_and_written_after_a_new_claim(
    backend, broker, helpers, caplog
):
    """The sink's first flush meets a newer claim: it stores nothing of it, seeks back,
    claims again and flushes every record once more. Every offset is committed and the
    stored totals equal the engines' (nothing lost, nothing doubled)."""
    consortium = "fenced"
    world = helpers.build_world(seed=7, per_window=3, consortia=(consortium,), members=("a",))
    store_reference(backend, consortium, world.profile)
    records = world.partials()
    asyncio.run(produce(broker.bootstrap, records))
    total = len(records) + 1
    caplog.set_level(logging.WARNING, logger="resonance.sink")
    usurped = Usurped(backend, "gf")
    what = f"all {total} records flushed after the fence"
    flushed = asyncio.run(sink_until(usurped, broker.bootstrap, "gf", lambda n: n >= total, what))
    assert usurped.usurped and "sink fenced, re-reading from the committed offsets" in caplog.text
    assert flushed == total
    assert asyncio.run(committed(broker.bootstrap, "gf")) == len(records)
    assert_stored_equals_engines(backend, helpers, world, consortium)


def test_a_claim_that_waits_too_long_for_a_zombie_insert_stops_the_sink(
    backend, broker, helpers, caplog
):
    """A fenced insert that never ends is listed on the server when the sink claims: after
    ``fence_wait_s`` run_sink raises SinkFenceTimeout (the CLI exits 1, a supervisor
    restarts it) instead of retrying or reading on. Nothing was flushed, stored or
    committed; the claim is in sink_fence. (The insert never ends, so the outcome does not
    depend on how long the wait took.)"""
    consortium = "stuck"
    world = helpers.build_world(seed=8, per_window=3, consortia=(consortium,), members=("a",))
    store_reference(backend, consortium, world.profile)
    asyncio.run(produce(broker.bootstrap, world.partials()))
    caplog.set_level(logging.WARNING, logger="resonance.sink")
    flushed: list[int] = []
    config = SinkConfig(
        bootstrap=broker.bootstrap, group_id="gs", max_records=500, max_seconds=0.3,
        retry_initial_s=0.05, retry_max_s=0.2, fence_wait_s=0.2,
    )  # fmt: skip
    writer = PartialWriter(Listed(backend, ["zombie-insert"]))
    sink = run_sink(writer, config, on_flush=lambda _s, n: flushed.append(n))
    with pytest.raises(SinkFenceTimeout, match="RESONANCE_SINK_FENCE_WAIT_S") as info:
        asyncio.run(asyncio.wait_for(sink, timeout=300))
    assert info.value.query_ids == ("zombie-insert",)
    assert flushed == [] and "ClickHouse unavailable" not in caplog.text
    assert asyncio.run(committed(broker.bootstrap, "gs")) == 0
    lo, hi = helpers.T0, helpers.T0 + 40 * helpers.DAY
    assert queries.energy(backend, consortium, start=lo, end=hi).rows == []
    claimed = backend.query(
        "SELECT DISTINCT partition FROM sink_fence WHERE consumer_group = 'gs' ORDER BY partition"
    ).to_pylist()
    assert claimed == [{"partition": p} for p in range(3)]
