"""Producing to Kafka: delivery failures are counted; a real broker gets every message."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from simulator import KafkaSink, Simulator

START = datetime(2026, 11, 1, tzinfo=UTC)


def test_undeliverable_messages_are_counted():
    sink = KafkaSink(
        "127.0.0.1:1", flush_timeout_s=10, **{"message.timeout.ms": 300, "log_level": 0}
    )
    summary = Simulator(1, None, 1.0, 10, models=("bolt-torque",)).run(sink, START, 30, pace=False)
    assert summary.delivery == {"delivered": 0, "failed": summary.messages}
    assert summary.messages > 0


async def _consume(bootstrap: str, topics: list[str], expected: int) -> dict[str, int]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    counts: dict[str, int] = {}
    await consumer.start()
    try:
        deadline = time.monotonic() + 300
        while sum(counts.values()) < expected and time.monotonic() < deadline:
            for tp, msgs in (await consumer.getmany(timeout_ms=500, max_records=10_000)).items():
                counts[tp.topic] = counts.get(tp.topic, 0) + len(msgs)
    finally:
        await consumer.stop()
    return counts


@pytest.mark.integration
def test_real_broker_receives_every_message_and_aiokafka_reads_them():
    from confluent_kafka.admin import AdminClient, NewTopic

    from streams import broker

    with broker.EmbeddedBroker() as b:
        topics = {t: f"sim-{t}" for t in ("telemetry", "predictions", "outcomes", "energy")}
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        for f in admin.create_topics([NewTopic(t, 3, 1) for t in topics.values()]).values():
            f.result()
        sink = KafkaSink(b.bootstrap, topics=topics)
        summary = Simulator(1, None, 5.0, 50).run(sink, START, 300, pace=False)
        assert summary.delivery == {"delivered": summary.messages, "failed": 0}
        counts = asyncio.run(_consume(b.bootstrap, list(topics.values()), summary.messages))
    want = {topics[t]: c["messages"] for t, c in summary.topics.items()}
    assert counts == want, f"consumed within 300 s: {counts}, produced: {want}"
