"""Small, fast simulator runs shared by the simulator tests."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from simulator import ListSink, Simulator, load_scenario

START = datetime(2026, 11, 1, tzinfo=UTC)


def run(
    seed=1, scenario=None, rate=2.0, batch_size=20, duration=1800.0, models=(), flush_outcomes=False
):
    """A finished run: (sink, summary)."""
    sim = Simulator(seed, scenario, rate, batch_size, models=models)
    sink = ListSink()
    return sink, sim.run(sink, START, duration, pace=False, flush_outcomes=flush_outcomes)


def rows(sink: ListSink, topic: str, model: str | None = None) -> list[dict]:
    """Every sample of ``topic`` as a flat dict (batches exploded; features nested)."""
    out = []
    for _, key, value in (r for r in sink.records if r[0] == topic):
        if model is not None and key != model.encode():
            continue
        msg = orjson.loads(value)
        if not msg.get("batch"):
            out.append(msg)
            continue
        n = len(msg["ts"])
        for i in range(n):
            row = {}
            for k, v in msg.items():
                if k == "features":
                    row[k] = {f: vals[i] for f, vals in v.items()}
                elif isinstance(v, list):
                    row[k] = v[i]
                else:
                    row[k] = v
            out.append(row)
    return out


@pytest.fixture(scope="session")
def default_run():
    return run(scenario=load_scenario("default"))


@pytest.fixture(scope="session")
def showcase_run():
    return run(scenario=load_scenario("showcase"), rate=1.0, duration=3600.0)
