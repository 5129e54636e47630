"""A backfilled month in a real chDB, filled through the real pipeline code.

The simulator backfills (``start`` in the past, unpaced) steel from 31 October 20:00
to 2 November 04:00 UTC (so November has data and October is the previous month), the
worker's pure accumulation (``streams.partition.PartitionState``) turns the raw
messages into partials, and the sink's write path stores them. A second
consortium, ``rival``, gets the same model names and versions from another seed,
with its own members and sites: nothing of it may appear in steel's report. Windows
are 15 minutes long, so the loaded test machine stores the month in seconds.
DLQ rows and alerts (the pinned ``resonance.alert/1`` records) are stored for both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from processors.policy import Policy
from processors.policy_config import PolicyConfig
from simulator import ListSink, Simulator, load_scenario
from simulator.references import write_references
from streams.decode import decode
from streams.dlq import dlq_record
from streams.partials import Partial
from streams.partition import BlockConfig, PartitionState
from streams.registry import ModelRegistry
from tests.estimation_data import calibrate
from warehouse.alert_store import store_transitions
from warehouse.backend import ChdbBackend
from warehouse.evaluator import Evaluator
from warehouse.migrate import migrate
from warehouse.references import store_reference
from warehouse.sink import PartialWriter, dlq_rows

START = datetime(2026, 10, 31, 20, tzinfo=UTC)
HOURS = 32
RATE = 0.02  # samples per second of event time per model
WINDOW_MS = 900_000  # 15-minute windows (a worker setting): 15x fewer partials to store
MONTH = "2026-11"
NOV = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
DEC = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())
BASELINES = {"classification": {"accuracy": 0.9}, "regression": {"mae": 5.0}}


@dataclass(frozen=True)
class Month:
    backend: ChdbBackend
    root: Path
    partials: dict[str, list[Partial]]  # consortium -> its partials
    registry: ModelRegistry


def simulate(directory: Path, seed: int) -> tuple[list[tuple[str, bytes]], ModelRegistry]:
    sim = Simulator(seed=seed, scenario=load_scenario("default"), rate=RATE, consortia=("steel",))
    sink = ListSink()
    sim.run(sink, start=START, duration=HOURS * 3600, pace=False, flush_outcomes=True)
    write_references(sim.models, directory / "references", seed=seed, n=2_000)
    registry = ModelRegistry.load(directory)
    calibrate(registry, sim.models, seed)  # classifiers estimated before labels (CBPE)
    return [(t, v) for t, _k, v in sink.records], registry


def accumulate(messages, registry) -> tuple[list[Partial], list[tuple[dict, bytes]]]:
    state = PartitionState(0, BlockConfig(window_ms=WINDOW_MS), registry)
    offsets: Counter[str] = Counter()
    dlq: list[tuple[dict, bytes]] = []
    for topic, raw in messages:
        offset = offsets[topic]
        offsets[topic] += 1
        result = decode(raw)
        for rej in [*result.rejections, *state.process(topic, offset, result)]:
            record = dlq_record(raw, rej.reason, rej.field, rej.rows, topic, 0, offset)
            dlq.append((orjson.loads(record), raw))
    return state.partials(final=True), dlq


def bad_message(consortium: str, model: str) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "kind": "telemetry",
            "consortium": consortium,
            "member": "m",
            "model": model,
            "model_version": "1",
            "site": "s",
            "hub": "h",
            "ts": "yesterday",
            "features": {},
        }
    )


def alert(consortium: str, model: str, version: str, rule: str, start: str, end: str | None):
    """A pinned resonance.alert/1 transition record (firing, or resolved when ``end``)."""
    return {
        "schema": "resonance.alert/1",
        "id": f"{consortium}-{model}-{rule}-{start}",
        "transition": "resolved" if end else "firing",
        "state": "resolved" if end else "firing",
        "consortium": consortium,
        "model": model,
        "model_version": version,
        "rule": rule,
        "severity": "critical" if rule == "feature_drift" else "warn",
        "started_at": start,
        "resolved_at": end,
        "window_start": start,
        "emitted_at": end or start,
        "value": 0.4,
        "threshold": 0.2,
        "features": [{"feature": "strip_temp_c", "kind": "numeric", "statistic": "psi"}],
        "policy_version": POLICY_VERSION,
        "seq": 1,
    }


POLICY_VERSION = "test-policy-1"
STEEL_ALERTS = [
    ("strip-surface-defect", "3", "feature_drift", "2026-11-01T10:00:00Z", "2026-11-02T16:30:00Z"),
    ("bof-endpoint-temp", "7", "latency_p95", "2026-11-02T01:00:00Z", None),
]


def _relabel(p: Partial) -> Partial:
    return p.replace(consortium="rival", member=f"rival-{p.member}", site=f"rival-{p.site}")


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Month]:
    root = tmp_path_factory.mktemp("report")
    messages, registry = simulate(root / "steel", seed=3)
    rival_messages, rival_registry = simulate(root / "rival", seed=8)
    rival_messages.append(("telemetry", bad_message("rival", "strip-surface-defect")))
    messages += [("telemetry", bad_message("steel", m.model)) for m in registry.models.values()]
    backend = ChdbBackend(root / "chdb")
    try:
        migrate(backend, minute_ttl_days=0, dlq_ttl_days=0, log=lambda _msg: None)
        for consortium, reg in (("steel", registry), ("rival", rival_registry)):
            for info in reg.models.values():
                target = {"kind": info.target.kind, "classes": list(info.target.classes)}
                task = "regression" if info.target.kind == "regressor" else "classification"
                store_reference(
                    backend, consortium, info.profile, target=target, baseline=BASELINES[task]
                )
        steel, steel_dlq = accumulate(messages, registry)
        rival, rival_dlq = accumulate(rival_messages, rival_registry)
        rival = [_relabel(p) for p in rival]
        writer = PartialWriter(backend)
        for batch in (steel, rival):
            for i in range(0, len(batch), 5_000):
                writer.write(batch[i : i + 5_000])
        # the sink's evaluator decides every closed window (verdicts, alerts) as in production
        policy = Policy(PolicyConfig.from_mapping({"version": POLICY_VERSION}))
        Evaluator(backend, policy, window_s=60, lateness_s=0).run(close_all=True)
        for record, _ in rival_dlq:  # another partition: the DLQ collapses equal sources
            record["source"]["partition"] = 1
        dlq = steel_dlq + rival_dlq
        for record, _ in dlq:  # received during November
            record["received_at"] = (NOV + 3 * 3600) * 1000
        backend.insert_arrow("dlq", dlq_rows(dlq))
        alerts = [alert("steel", *a) for a in STEEL_ALERTS]
        alerts.append(
            alert("rival", "strip-surface-defect", "3", "feature_drift", *STEEL_ALERTS[0][3:])
        )
        store_transitions(backend, alerts)
        yield Month(backend, root, {"steel": steel, "rival": rival}, registry)
    finally:
        backend.close()
