"""The sink mirrors the registry topic into ClickHouse (table ``models``, the references)."""

from __future__ import annotations

import asyncio

import pytest

from processors.reference import fit_reference
from streams.broker import EmbeddedBroker
from streams.registry import Bootstrap, ModelEntry, Target, publish
from streams.settings import StreamSettings
from streams.topics import create_topics
from warehouse.registry import list_models, registered_slo
from warehouse.sink import PartialWriter, SinkConfig, run_sink

pytestmark = pytest.mark.integration


async def sink_until(backend, bootstrap: str, done, timeout: float = 300.0) -> None:
    stop = asyncio.Event()
    config = SinkConfig(bootstrap=bootstrap, group_id="mirror", max_seconds=0.2)
    task = asyncio.create_task(run_sink(PartialWriter(backend), config, stop))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await asyncio.to_thread(done):
            assert loop.time() < deadline, "the mirror did not catch up"
            assert not task.done(), task.exception()
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(task, 120)


def test_sink_mirrors_entries_and_references(backend, tmp_path):
    profile = fit_reference({"temp": [1.0, 2.0, 3.0, 4.0]}, model="coil", version="1")
    first = ModelEntry(consortium="steel", model="coil", version="1",
                       target=Target(kind="binary", classes=("ok", "defect")),
                       reference=profile.to_dict(), baselines={"accuracy": 0.93},
                       importances={"temp": 1.0}, slo_p95_ms=40.0, owner="mlops",
                       provenance={"source": "registered"}, updated_at=1)  # fmt: skip
    other = ModelEntry(consortium="steel", model="oven", version="2",
                       bootstrap=Bootstrap(samples=100), updated_at=1)  # fmt: skip
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        settings = StreamSettings(kafka_bootstrap=broker.bootstrap)
        create_topics(settings, 1)
        publish(settings, [first, other, first.replace(retired=True)])

        def mirrored() -> bool:
            rows = list_models(backend, "steel")
            return len(rows) == 2 and rows[0]["retired"]

        asyncio.run(sink_until(backend, broker.bootstrap, mirrored))
    coil, oven = list_models(backend, "steel")
    assert (coil["model"], coil["target_kind"], coil["classes"], coil["positive_class"]) == (
        "coil", "binary", ["ok", "defect"], "defect")  # fmt: skip
    assert coil["baselines"] == {"accuracy": 0.93} and coil["importances"] == {"temp": 1.0}
    assert coil["slo_p95_ms"] == 40.0 and coil["owner"] == "mlops" and coil["retired"]
    assert (coil["reference_source"], coil["features"]) == ("registered", 1)
    assert (oven["target_kind"], oven["reference_source"], oven["retired"]) == ("", "none", False)
    refs = backend.query(
        "SELECT feature, n FROM reference_features FINAL WHERE consortium = 'steel'"
    ).to_pylist()
    assert refs == [{"feature": "temp", "n": 4}]
    assert registered_slo(backend, "steel", "coil") == 40.0  # `query resonance` uses it
    assert registered_slo(backend, "steel", "oven") is None
