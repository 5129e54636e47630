"""Energy readings leave when they are ready, and a stopped run reports every inference's."""

from __future__ import annotations

import threading

import numpy as np
import orjson
import pytest

from simulator import ListSink, Simulator
from tests.simulator.conftest import START, rows

START_MS = int(START.timestamp() * 1000)
MODELS = ("bolt-torque", "ethylene-yield")  # 10 s and 30 s energy intervals


def test_energy_readings_go_out_at_their_time() -> None:
    """Sparse readings (one per 10-30 s) are not held back to fill a batch: each goes out
    before telemetry more than the linger (10 s) past it, as a live console needs."""
    sim = Simulator(3, rate=10.0, batch_size=20, models=MODELS)
    sink = ListSink()
    sim.run(sink, START, 120.0, pace=False)
    newest = dict.fromkeys(MODELS, START_MS)  # newest telemetry ts sent so far, per model
    seen = 0
    for topic, key, value in sink.records:
        msg = orjson.loads(value)
        model = key.decode()
        if topic == "telemetry":
            newest[model] = max(newest[model], max(msg["ts"]))
        elif topic == "energy":
            seen += len(msg["ts"])
            assert newest[model] <= min(msg["ts"]) + 10_000, (model, msg["ts"])
    assert seen == 12 + 4  # 120 s at 10 s and at 30 s


class StopAfter(ListSink):
    """Sets ``stop`` once ``n`` telemetry messages were sent (a Ctrl-C mid-run)."""

    def __init__(self, n: int, stop: threading.Event) -> None:
        super().__init__()
        self.n, self.stop = n, stop

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        super().send(topic, key, value)
        if topic == "telemetry":
            self.n -= 1
            if self.n == 0:
                self.stop.set()


@pytest.mark.parametrize("after", [7, 23])
def test_a_stopped_run_reports_the_energy_of_every_inference_made(after: int) -> None:
    stop = threading.Event()
    sim = Simulator(5, rate=10.0, batch_size=20, models=MODELS)
    sink = StopAfter(after, stop)
    summary = sim.run(sink, START, 600.0, pace=False, stop=stop)
    assert summary.run["interrupted"] is True
    energy = {m: rows(sink, "energy", m) for m in MODELS}
    frontier = max(r["ts"] for r in rows(sink, "telemetry"))  # the newest event sent
    for model in MODELS:
        readings = energy[model]
        assert readings[-1]["ts"] == frontier  # the interval in progress, cut at the stop
        covered = sum(r["duration_s"] for r in readings)
        assert covered == pytest.approx((frontier - START_MS) / 1000.0, abs=1e-6)
        ts = sim.generator(sim.models[MODELS.index(model)], START_MS, 600.0).block(0, 6000).ts_ms
        assert sum(r["inferences"] for r in readings) == int(np.sum(ts <= frontier))
        entry = summary.models[model]
        assert entry["energy"] == len(readings)
        assert entry["joules"] == pytest.approx(sum(r["joules"] for r in readings), rel=1e-12)
        assert entry["inferences"] == sum(r["inferences"] for r in readings)
