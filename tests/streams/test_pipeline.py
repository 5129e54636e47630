"""Simulator → Tansu → worker → partials: exact totals, crash recovery, scale-out."""

from __future__ import annotations

import time

import pytest

from streams.partials import Partial
from streams.simulator import KafkaSink, Simulator

from .conftest import past
from .counts import diff, expected_totals, totals

pytestmark = pytest.mark.integration

#: One classifier and one regressor per consortium keeps runs small but covers every path.
MODELS = (
    "strip-surface-defect",
    "bof-endpoint-temp",
    "weld-defect",
    "cracker-cot",
    "compressor-fault",
    "pcb-solder-defect",
    "fatp-lot-yield",
)


def simulate(stack, seed: int, minutes_ago: float, duration: float, rate: float = 2.0):
    sim = Simulator(seed=seed, rate=rate, batch_size=25, models=MODELS)
    summary = sim.run(
        KafkaSink(stack.bootstrap), start=past(minutes_ago), duration=duration, pace=False,
        flush_outcomes=True,
    )  # fmt: skip
    assert summary.delivery["failed"] == 0
    return sim, summary


def wait_exact(stack, want, timeout: float = 150.0):
    got = stack.partials(lambda ps: totals(ps) == want, timeout, "totals", check=False)
    assert diff(totals(got), want) == {}, "\n".join(w.output()[-3000:] for w in stack.workers)
    return got


def test_end_to_end_totals_exact(stack):
    sim, summary = simulate(stack, seed=3, minutes_ago=40, duration=600)
    stack.write_references(sim.models)
    worker = stack.worker()
    got = wait_exact(stack, expected_totals(summary))
    assert worker.alive
    kinds = {p.kind for p in got.values()}
    assert {"drift_numeric", "drift_categorical", "classification", "regression",
            "latency", "energy", "volume"} <= kinds  # fmt: skip
    assert all(p.window_start % 60_000 == 0 and p.window_end - p.window_start == 60_000
               for p in got.values())  # fmt: skip


def test_crash_mid_stream_then_restart_is_exact(stack):
    # count-full blocks get committed; a small tail stays in open blocks until the kill
    sim, first = simulate(stack, seed=5, minutes_ago=60, duration=900)
    stack.write_references(sim.models)
    worker = stack.worker(RESONANCE_BLOCK_MESSAGES="100", RESONANCE_BLOCK_IDLE_S="600")
    stack.read("partials", lambda vs: any(Partial.decode(v).final for v in vs), 90,
               "final partials of committed blocks")  # fmt: skip
    _, tail = simulate(stack, seed=8, minutes_ago=44, duration=60)
    stack.read("partials", lambda vs: any(not Partial.decode(v).final for v in vs), 90,
               "partials of an open block")  # fmt: skip
    worker.kill()
    killed_at = time.time() * 1000
    _, second = simulate(stack, seed=6, minutes_ago=43, duration=900)
    want: dict = {}
    for summary in (first, tail, second):
        for key, n in expected_totals(summary).items():
            want[key] = want.get(key, 0) + n
    stack.worker()
    wait_exact(stack, want, timeout=180)
    # the restart really replayed: some block keys were emitted by both processes
    emitted: dict[str, set[bool]] = {}
    for raw in stack.read("partials", lambda vs: True, 5):
        p = Partial.decode(raw)
        emitted.setdefault(p.key, set()).add(p.emitted_at > killed_at)
    assert any(len(sides) == 2 for sides in emitted.values())


def test_two_workers_give_the_same_totals(stack):
    sim, summary = simulate(stack, seed=7, minutes_ago=40, duration=600)
    stack.write_references(sim.models)
    a, b = stack.worker(), stack.worker()
    wait_exact(stack, expected_totals(summary), timeout=180)
    assert a.alive and b.alive
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(
        "assigned partitions [" in w.output() and "assigned partitions []" not in
        w.output().rsplit("assigned partitions", 1)[-1] for w in (a, b)
    ):  # fmt: skip
        time.sleep(0.5)
    shares = [w.output().rsplit("assigned partitions", 1)[-1].splitlines()[0] for w in (a, b)]
    assert all(s.strip() not in ("[]", "") for s in shares), shares
