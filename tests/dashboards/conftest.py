"""A real embedded ClickHouse (chDB) filled by the simulator through the real pipeline code.

Simulator (``simulator``, Python API, unpaced) → raw Kafka message bytes →
``streams.decode`` → the worker's pure accumulation (``streams.partition.PartitionState``,
the same engines and blocks the Faust agent drives) → partial records →
``warehouse.sink.PartialWriter`` (the sink's idempotent write path) → chDB migrated by
``warehouse.migrate``. Rejected input goes through ``streams.dlq`` + the sink's DLQ rows,
and one alert record per model through the sink's alert rows, so every table a panel reads has
rows. One module-scoped warehouse: ~1 s to open, a few seconds to fill.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from simulator import ListSink, Simulator, load_scenario
from simulator.references import write_references
from streams.decode import decode
from streams.dlq import message_record
from streams.partition import BlockConfig, PartitionState
from streams.registry import ModelRegistry
from tests.estimation_data import calibrate
from warehouse.backend import ChdbBackend
from warehouse.evaluator import Evaluator
from warehouse.migrate import migrate
from warehouse.references import store_reference
from warehouse.sink import PartialWriter, dlq_rows

SIM_HOURS = 3
SINK_BATCH = 5_000  # the sink's default --batch-records
SIM_RATE = 0.5  # samples per second of event time per model
BROKEN = (b"{not json", b'{"schema_version": 1, "kind": "telemetry", "features": {}}')


def bad_messages(registry: ModelRegistry) -> list[bytes]:
    """Broken messages, plus one per model that names its tenancy but has a bad ``ts``
    (so each consortium's DLQ panel has rows of its own)."""
    named = [
        orjson.dumps(
            {
                "schema_version": 1,
                "kind": "telemetry",
                "consortium": m.consortium,
                "member": "m",
                "model": m.model,
                "model_version": m.version,
                "site": "s",
                "hub": "h",
                "ts": "yesterday",
                "features": {},
            }
        )
        for m in registry.models.values()
    ]
    return [*BROKEN, *named]


@dataclass(frozen=True)
class Warehouse:
    backend: ChdbBackend
    now_s: int  # "now" for relative dashboard ranges: just after the simulated data
    start_s: int


def simulate(directory: Path, start: datetime) -> tuple[list[tuple[str, bytes]], ModelRegistry]:
    """Run the simulator unpaced; write its references and summary (the worker's registry)."""
    sim = Simulator(seed=11, scenario=load_scenario("default"), rate=SIM_RATE, batch_size=50)
    sink = ListSink()
    summary = sim.run(sink, start=start, duration=SIM_HOURS * 3600, pace=False, flush_outcomes=True)
    write_references(sim.models, directory / "references", seed=11, n=2_000)
    summary.write(directory / "summary.json")
    registry = ModelRegistry.load(directory)
    calibrate(registry, sim.models, seed=11)
    return [(topic, value) for topic, _key, value in sink.records], registry


def accumulate(messages: list[tuple[str, bytes]], registry: ModelRegistry) -> tuple[list, list]:
    """The worker's accumulation on one partition: partial records and DLQ records."""
    state = PartitionState(0, BlockConfig(), registry)
    offsets: Counter[str] = Counter()
    dlq: list[tuple[dict, bytes]] = []
    for topic, raw in [*messages, *(("telemetry", bad) for bad in bad_messages(registry))]:
        offset = offsets[topic]
        offsets[topic] += 1
        result = decode(raw)
        rejects = [*result.rejections, *state.process(topic, offset, result)]
        if rejects:  # one record per message with its parsed tenancy, as the worker sends
            record = message_record(raw, rejects, topic, 0, offset, tenancy=result.tenancy)
            dlq.append((orjson.loads(record), raw))
    return state.partials(final=True), dlq


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    root = tmp_path_factory.mktemp("dashboards")
    now = int(datetime.now(UTC).timestamp()) // 60 * 60
    start = now - SIM_HOURS * 3600
    messages, registry = simulate(root / "sim", datetime.fromtimestamp(start, UTC))
    assert len(registry) > 0, "the simulator wrote no reference profiles"

    backend = ChdbBackend(root / "chdb")
    try:
        migrate(backend, log=lambda _msg: None)
        for info in registry.models.values():
            target = None
            if info.target is not None:
                target = {"kind": info.target.kind, "classes": list(info.target.classes)}
            store_reference(backend, info.consortium, info.profile, target=target)
        partials, dlq = accumulate(messages, registry)
        writer = PartialWriter(backend)
        inserted = sum(  # in sink-sized batches, as `resonance sink` writes them
            writer.write(partials[i : i + SINK_BATCH]).inserted
            for i in range(0, len(partials), SINK_BATCH)
        )
        assert inserted > 0
        assert dlq, "the bad messages should have produced DLQ records"
        for record, _ in dlq:  # received inside the simulated range, however long setup took
            record["received_at"] = (now - 60) * 1000
        backend.insert_arrow("dlq", dlq_rows(dlq))
        # the policy's decisions, as the sink's evaluator stores them (closing every window)
        Evaluator(backend, window_s=60, lateness_s=0).run(close_all=True)
        yield Warehouse(backend, now + 60, start)
    finally:
        backend.close()
