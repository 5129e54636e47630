"""Simulator → Tansu → worker → partials: exact totals, crash recovery, scale-out."""

from __future__ import annotations

import time

import pytest

from simulator import KafkaSink, Simulator
from streams.partials import Partial
from streams.topics import INPUT_TOPICS

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


def wait_exact(stack, want, timeout: float = 300.0):
    got = stack.partials(lambda ps: totals(ps) == want, timeout, "totals", check=False)
    assert diff(totals(got), want) == {}, "\n".join(w.output()[-3000:] for w in stack.workers)
    return got


@pytest.mark.parametrize("batch_consumer", ["true", "false"], ids=["batches", "faust-agent"])
def test_end_to_end_totals_exact(stack, batch_consumer):
    """Both consumer paths: fetched batches straight to the worker (the default) and
    Faust's per-message agent path (``RESONANCE_BATCH_CONSUMER=false``)."""
    sim, summary = simulate(stack, seed=3, minutes_ago=40, duration=600)
    stack.write_references(sim.models)
    worker = stack.worker(RESONANCE_BATCH_CONSUMER=batch_consumer)
    got = wait_exact(stack, expected_totals(summary))
    assert worker.alive
    kinds = {p.kind for p in got.values()}
    assert {"drift_numeric", "drift_categorical", "classification", "regression",
            "latency", "energy", "volume"} <= kinds  # fmt: skip
    assert all(p.window_start % 60_000 == 0 and p.window_end - p.window_start == 60_000
               for p in got.values())  # fmt: skip


def messages(*summaries) -> int:
    """Input messages the simulator runs produced."""
    return sum(s.topics[t]["messages"] for s in summaries for t in INPUT_TOPICS)


@pytest.mark.timeout(1500)  # five phases, each waiting up to 300 s on its own condition
def test_crash_mid_stream_then_restart_is_exact(stack):
    """Workers die at chosen points of the block protocol (RESONANCE_FAULT_POINT) and by
    SIGKILL; the three runs' prediction ids collide (the simulator's ids restart at 0), so
    a rebuilt join that paired them differently from the live one would count twice."""
    sim, first = simulate(stack, seed=5, minutes_ago=60, duration=900)
    stack.write_references(sim.models)
    # the third block group's final partials are acknowledged, its offsets not committed
    a = stack.worker(RESONANCE_FAULT_POINT="after-acks:3")
    assert a.wait_exit(300, "fault point after-acks:3") == 70, a.output()[-3000:]
    a_died_at = time.time() * 1000
    _, tail = simulate(stack, seed=8, minutes_ago=44, duration=60)
    # the successor replays those groups; it dies after its second commit, before the reset
    b = stack.worker(RESONANCE_FAULT_POINT="after-commit:2")
    assert b.wait_exit(300, "fault point after-commit:2") == 70, b.output()[-3000:]
    c = stack.worker(RESONANCE_BLOCK_MESSAGES="100")
    stack.wait_committed(messages(first, tail))
    c.kill()  # all committed: the next owner rebuilds the join from every colliding id
    _, second = simulate(stack, seed=6, minutes_ago=43, duration=900)
    want: dict = {}
    for summary in (first, tail, second):
        for key, n in expected_totals(summary).items():
            want[key] = want.get(key, 0) + n
    stack.worker()
    wait_exact(stack, want)
    stack.wait_committed(messages(first, tail, second))

    def replayed(values: list[bytes]) -> bool:  # a final partial of one key from a and b
        finals: dict[str, set[bool]] = {}
        for p in map(Partial.decode, values):
            if p.final:
                finals.setdefault(p.key, set()).add(p.emitted_at > a_died_at)
        return any(len(sides) == 2 for sides in finals.values())

    stack.read("partials", replayed, what="final partials of one group from a and from b")


def test_two_workers_give_the_same_totals(stack):
    sim, summary = simulate(stack, seed=7, minutes_ago=40, duration=600)
    stack.write_references(sim.models)
    a, b = stack.worker(), stack.worker()
    wait_exact(stack, expected_totals(summary))
    assert a.alive and b.alive

    def share(w) -> str:  # the partitions of the worker's latest assignment
        out = w.output()
        return out.rsplit("assigned partitions ", 1)[-1].splitlines()[0] if out else ""

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not all(share(w).startswith("[") and share(w) != "[]"
                                                  for w in (a, b)):  # fmt: skip
        time.sleep(0.5)
    shares = [share(w) for w in (a, b)]
    assert all(s.startswith("[") and s != "[]" for s in shares), (
        f"awaited both workers holding partitions (latest assignments: {shares})"
    )


def test_a_failed_commit_seeks_back_and_rereads_the_group(stack):
    """A commit that fails without a rebalance (the worker stays the owner): the worker
    seeks the partition back to the committed offsets and reads the group again, instead
    of stalling on offsets that can never be committed. Nothing is lost (every message is
    committed in the end, totals exact) and nothing doubles (the re-read group has the
    same keys: one more final partial of a key the failed group finalised)."""
    sim, summary = simulate(stack, seed=9, minutes_ago=40, duration=300)
    stack.write_references(sim.models)
    w = stack.worker(RESONANCE_FAULT_POINT="fail-commit:2", RESONANCE_BLOCK_MESSAGES="100")
    w.wait_output("fault injection: fail-commit:2: commit not sent")
    w.wait_output("failed; re-reading it from the committed offsets")
    wait_exact(stack, expected_totals(summary))
    stack.wait_committed(messages(summary))
    assert w.alive

    def refinalised(values: list[bytes]) -> bool:
        finals: dict[str, int] = {}
        for p in map(Partial.decode, values):
            if p.final:
                finals[p.key] = finals.get(p.key, 0) + 1
        return any(n >= 2 for n in finals.values())

    stack.read("partials", refinalised, what="a group finalised twice (failed, then re-read)")
