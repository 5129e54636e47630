"""The notifier process end to end: real broker (Tansu), real localhost webhook, real chDB.

A hung endpoint (accepts, never answers) must not stop alerts from being stored, and
once it answers again every alert is delivered and every attempt is in the warehouse.
"""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from resonance.demo.shared_backend import SharedBackend
from resonance.notify.config import parse_config
from resonance.notify.service import Notifier, NotifySettings
from streams.broker import EmbeddedBroker
from streams.settings import load_settings
from streams.topics import create_topics
from tests.notify.conftest import Reply, alert_record
from warehouse.alert_queries import list_alerts
from warehouse.backend import ChdbBackend
from warehouse.deliveries import deliveries_for
from warehouse.migrate import migrate
from warehouse.sink import PartialWriter, SinkConfig, run_sink

pytestmark = pytest.mark.integration
DEADLINE_S = 240.0


@pytest.fixture(scope="module")
def broker():
    with EmbeddedBroker() as b:
        create_topics(load_settings(b.bootstrap), partitions=3)
        yield b


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    b = SharedBackend(ChdbBackend(tmp_path_factory.mktemp("chdb")))  # sink and test share it
    migrate(b, minute_ttl_days=0, log=lambda _m: None)
    yield b
    b.close()


async def produce(bootstrap: str, topic: str, records: list) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for rec in records:
            value = rec if isinstance(rec, bytes) else orjson.dumps(rec)
            key = b"steel/x" if isinstance(rec, bytes) else f"{rec['consortium']}/x".encode()
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def until(predicate, what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.2)


def stored_alerts(backend) -> int:
    return len(list_alerts(backend))


def test_hung_endpoint_alerts_stored_and_deliveries_retried(broker, backend, hook):
    hook.default = Reply(hang=True)
    config = parse_config(
        {
            "channels": {
                "hook": {
                    "type": "webhook",
                    "url": f"{hook.url}/alerts",
                    "retry": {"attempts": 100, "initial_s": 0.2, "max_s": 1.0, "timeout_s": 0.5},
                }
            }
        }
    )
    settings = NotifySettings(bootstrap=broker.bootstrap, group_id="notify-test",
                              commit_interval_s=0.2)  # fmt: skip
    first = [alert_record(i) for i in range(10)]
    later = [alert_record(i) for i in range(10, 30)]
    ids = {r["id"] for r in first + later}

    async def scenario() -> Notifier:
        stop = asyncio.Event()
        notifier = Notifier(config, settings)
        sink_cfg = SinkConfig(bootstrap=broker.bootstrap, group_id="sink-test", max_seconds=0.3)
        tasks = [
            asyncio.create_task(notifier.run(stop)),
            asyncio.create_task(run_sink(PartialWriter(backend), sink_cfg, stop)),
        ]
        try:
            await produce(broker.bootstrap, "alerts", [*first, b"not json"])
            await until(lambda: len(hook.requests) >= 2, "the webhook to be called (and hang)")
            await produce(broker.bootstrap, "alerts", later)
            # the endpoint still hangs: the sink stores every alert all the same
            await until(lambda: stored_alerts(backend) == 30, "30 alerts stored")
            assert notifier.stats.by_status.get("sent", 0) == 0
            assert notifier.stats.by_status.get("digested", 0) == 0
            assert notifier.stats.by_status["retrying"] >= 2
            hook.default = Reply(200, b"ok")  # the endpoint answers again

            def delivered() -> bool:
                got = {
                    i for i in ids
                    if any(d["status"] in ("sent", "digested") for d in deliveries_for(backend, i))
                }  # fmt: skip
                return got == ids

            await until(delivered, "every alert delivered and logged in the warehouse")
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        return notifier

    notifier = asyncio.run(scenario())
    assert notifier.stats.alerts == 30 and notifier.stats.invalid == 1
    log = deliveries_for(backend, first[0]["id"])
    assert log[0]["status"] == "retrying" and log[0]["error"] == "timeout after 0.5s"
    assert log[0]["http_status"] is None and log[-1]["status"] in ("sent", "digested")
    assert [d["attempt"] for d in log] == list(range(1, len(log) + 1))
    answered = [r for r in hook.requests if r.answered]
    carried = {a["alert"]["id"] for r in answered for a in r.json["alerts"]}
    assert carried == ids
