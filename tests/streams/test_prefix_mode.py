"""Topic prefix mode on the real broker: a worker of consortium steel reads only
``steel.*`` input topics and refuses (DLQ, field ``consortium``) an event that claims
another consortium, while steel's own events, joins included, count exactly."""

from __future__ import annotations

import orjson
import pytest
from confluent_kafka import Producer

from simulator import ListSink, Simulator
from streams.dlq import parse_dlq_record
from streams.partials import Partial
from streams.topics import create_topics, topic_partitions

from .conftest import past
from .counts import diff, expected_totals, totals

pytestmark = pytest.mark.integration


def test_a_prefixed_worker_refuses_other_consortia(stack):
    status = create_topics(stack.settings(), stack.partitions, ("steel",))
    assert status["steel.telemetry"] == "created" and status["telemetry"] == "exists"
    parts = topic_partitions(stack.settings())
    assert all(parts[f"steel.{t}"] == stack.partitions
               for t in ("telemetry", "predictions", "outcomes", "energy"))  # fmt: skip
    sim = Simulator(seed=4, rate=2.0, batch_size=10, models=("strip-surface-defect",))
    sink = ListSink()
    summary = sim.run(sink, start=past(40), duration=120, pace=False, flush_outcomes=True)
    stack.write_references(sim.models)
    tele = next(v for t, _, v in sink.records if t == "telemetry")
    foreign = orjson.loads(tele)
    assert foreign["consortium"] == "steel"
    foreign["consortium"] = "automotive"
    producer = Producer({"bootstrap.servers": stack.bootstrap, "log_level": 0})
    where: list[tuple[str, int, int]] = []

    def done(err, msg) -> None:
        assert err is None, err
        where.append((msg.topic(), msg.partition(), msg.offset()))

    half = len(sink.records) // 2
    for i, (topic, key, value) in enumerate(sink.records):
        if i == half:
            producer.produce("steel.telemetry", orjson.dumps(foreign), key, on_delivery=done)
        producer.produce(f"steel.{topic}", value, key)
    producer.produce("telemetry", tele, b"x")  # the shared topic: not this worker's
    producer.flush(120)
    assert len(where) == 1

    worker = stack.worker(RESONANCE_TOPIC_CONSORTIUM="steel")
    want = expected_totals(summary)
    got = stack.partials(lambda ps: totals(ps) == want, what="steel's totals", check=False)
    assert diff(totals(got), want) == {}
    assert {p.consortium for p in got.values()} == {"steel"}
    assert {p.source_topic for p in got.values()} <= {"telemetry", "predictions", "outcomes",
                                                      "energy"}  # fmt: skip

    def refused(values: list[bytes]) -> list:
        recs = [parse_dlq_record(v) for v in values]
        return [r for r in recs if (r.source["topic"], r.source["partition"],
                                    r.source["offset"]) == where[0]]  # fmt: skip

    (record,) = refused(stack.read("dlq", lambda vs: bool(refused(vs)), what="the refusal"))
    assert record.field == "consortium"
    assert record.reason == (
        "'automotive' is not the topic's consortium 'steel' (topic prefix mode)"
    )
    assert record.tenancy["consortium"] == "steel"  # filed under the topic's consortium
    assert record.raw == orjson.dumps(foreign)
    assert worker.alive
    assert all(Partial.decode(v).consortium == "steel" for v in stack.read("partials",
               lambda vs: True))  # fmt: skip
