"""Model check of the block/commit/rebuild protocol (pure, no broker).

A log of the four input topics of one partition number (three simulator runs whose
prediction ids collide, some predictions produced after their outcomes, plus outcomes
that never meet a prediction and expire) is produced bit by bit while workers read it.
Every trial picks, from its seed: the order in which topics deliver, when cumulative
partials are emitted (stamped by clocks that disagree between workers), when blocks are
finalised, and where a worker dies: between the final emit and the commit, between the
commit and the reset, or in the middle of a block (a rebuild only reads, so a death
during one is a death before it). A dead
worker's successor restores the committed offsets and rebuilds the join exactly as
``streams.app`` does (``PartitionState.restore`` / ``rebuild``), with the replayed
messages in a random interleaving. Whatever happened, de-duplicating every partial ever
emitted (``keep_latest``) and summing must give the exact totals of the log, and the
same merged states as one uninterrupted pass.
"""

from __future__ import annotations

import copy
import functools
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest

from simulator import ListSink, Simulator
from simulator.catalogue import MODELS_BY_NAME
from simulator.references import write_references
from streams.decode import decode
from streams.partials import Partial, keep_latest, sum_partials
from streams.partition import REPLAYED_TOPICS, TOPIC_KINDS, BlockConfig, PartitionState
from streams.registry import ModelRegistry

from .counts import diff, expected_totals, totals

MODELS = ("weld-defect", "cracker-cot")  # a binary classifier and a regressor
START = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
NOW_MS = int(START.timestamp() * 1000) + 3 * 3600_000
MINUTE = 60_000
#: three runs 2 minutes apart, 45 s each: prediction times span 5 minutes, so a horizon
#: of 8 minutes never separates a prediction from its outcome ...
HORIZON_MS = 8 * MINUTE
#: ... while outcomes stamped 4 minutes before the first prediction expire once the join
#: clock passes START + 4 minutes: counted as unmatched, exactly once.
N_ORPHANS = 7
TOPICS = tuple(TOPIC_KINDS)
CFG = BlockConfig(window_ms=MINUTE, lateness_ms=30_000, block_messages=40, horizon_ms=HORIZON_MS)


def orphan(i: int) -> bytes:
    model = MODELS_BY_NAME[MODELS[0]]
    ts = int((START - timedelta(minutes=4)).timestamp() * 1000) + i
    return orjson.dumps({"schema_version": 1, "kind": "outcome", **model.tenancy, "ts": ts,
                         "prediction_id": f"never-predicted-{i % 3}", "actual": "ok"})  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(records in production order, expected totals, registry)."""
    records: list[tuple[str, bytes]] = []
    want: Counter = Counter()
    for k, seed in enumerate((5, 8, 6)):  # seq restarts at 0: ids repeat across runs
        sim = Simulator(seed=seed, rate=1.0, batch_size=(3, 1, 4)[k], models=MODELS)
        sink = ListSink()
        summary = sim.run(sink, start=START + timedelta(minutes=2 * k), duration=45,
                          pace=False, flush_outcomes=True)  # fmt: skip
        records += [(topic, value) for topic, _, value in sink.records]
        want.update(expected_totals(summary))
    rng = random.Random(0)
    for i in reversed(range(len(records))):  # a lagging model server: some predictions
        if records[i][0] == "predictions" and rng.random() < 0.3:  # land after outcomes
            records.insert(min(len(records), i + rng.randint(5, 150)), records.pop(i))
    for i in range(N_ORPHANS):
        records.insert(rng.randrange(len(records)), ("outcomes", orphan(i)))
    want[(MODELS[0], "outcomes_unmatched")] += N_ORPHANS
    d = tmp_path_factory.mktemp("refs")
    write_references(sim.models, d / "references", 0, n=2000)
    return records, dict(want), ModelRegistry.load(d)


@functools.cache
def _decoded(raw: bytes):
    return decode(raw, now_ms=NOW_MS)


def decoded(raw: bytes):
    """decode(), once per message (the worker may replace a column: copy the dict)."""
    result = copy.copy(_decoded(raw))
    result.columns = dict(result.columns)
    return result


class Owner:
    """One worker's ownership of the partition, from assignment to its death."""

    def __init__(self, log, committed, registry, rng: random.Random) -> None:
        self.log, self.rng = log, rng
        self.state = PartitionState(0, CFG, registry)
        replay = [(t, raw) for t in REPLAYED_TOPICS for raw in log[t][: committed[t]]]
        rng.shuffle(replay)  # topic order kept below: a topic-partition is read in order
        order = {t: iter(log[t][: committed[t]]) for t in REPLAYED_TOPICS}
        for topic, _ in replay:
            self.state.rebuild(topic, decoded(next(order[topic])))
        ends = {t: len(log[t]) for t in TOPICS}  # the high watermarks at assignment
        self.state.restore(committed, ends)
        self.position = dict(committed)
        self.skew_ms = rng.randrange(-(10**9), 10**9)  # workers' wall clocks disagree

    def partials(self, final: bool, step: int) -> list[Partial]:
        return self.state.partials(final, now_ms=self.skew_ms + step)

    def unread(self) -> list[str]:
        return [t for t in TOPICS if self.position[t] < len(self.log[t])]

    def deliver(self) -> None:
        """One take() batch: a run of consecutive messages of one topic."""
        topic = self.rng.choice(self.unread())
        for _ in range(self.rng.randint(1, 12)):
            offset = self.position[topic]
            if offset >= len(self.log[topic]):
                break
            self.state.process(topic, offset, decoded(self.log[topic][offset]))
            self.position[topic] = offset + 1
        self.state.flush()

    def finalisable(self) -> bool:
        """Idle (no waiver of the recovery floor: that needs three idle periods)."""
        return self.state.finalisable(idle_s=1.0, now=self.state.last_message_at + 1.5)


def trial(seed: int, records, registry) -> list[Partial]:
    """Every partial emitted while workers read, finalise, commit and die at random."""
    rng = random.Random(seed)
    log: dict[str, list[bytes]] = {t: [] for t in TOPICS}
    produced = 0
    committed = dict.fromkeys(TOPICS, 0)
    emitted: list[Partial] = []
    owner: Owner | None = None
    for step in range(100_000):
        calm = step > 1_500  # crashes stop eventually, so the trial ends
        if produced < len(records) and rng.random() < 0.2:
            for topic, value in records[produced : produced + rng.randint(1, 20)]:
                log[topic].append(value)
                produced += 1
        if owner is None:
            owner = Owner(log, committed, registry, rng)
        if owner.unread() and rng.random() < 0.6:
            owner.deliver()
            if not calm and rng.random() < 0.03:
                owner = None  # killed mid-block
            continue
        state = owner.state
        if state.blocks and rng.random() < 0.3:
            emitted += owner.partials(False, step)
        if not owner.finalisable() or rng.random() < 0.3:
            if produced == len(records) and not owner.unread() and not state.blocks:
                return emitted
            continue
        emitted += owner.partials(True, step)  # acknowledged by the broker
        if not calm and rng.random() < 0.25:
            owner = None  # killed after the acks, before the commit
            continue
        committed.update(state.commit_offsets())
        if not calm and rng.random() < 0.15:
            owner = None  # killed after the commit, before the reset
            continue
        state.reset()
    raise AssertionError(f"trial {seed} did not finish")


def one_pass(records, registry) -> list[Partial]:
    state = PartitionState(0, CFG, registry)
    offsets: Counter = Counter()
    for topic, value in records:
        state.process(topic, offsets[topic], decoded(value))
        offsets[topic] += 1
    return state.partials(final=True)


def merged(partials) -> dict:
    """Merged state per (kind, tenancy, feature, window), on time and late rows together:
    where a block starts decides which rows are late, never whether they count."""
    return {k: v["state"] for k, v in sum_partials(partials).items()}


def same_states(a, b) -> bool:
    """Equal up to float rounding (sums are added in another order)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_states(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_states(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return bool(np.isclose(a, b, rtol=1e-9, atol=1e-9))
    return a == b


@pytest.mark.parametrize("seeds", [range(i, i + 6) for i in range(0, 48, 6)])
def test_crashes_anywhere_never_lose_or_double_count(world, seeds):
    records, want, registry = world
    reference = merged(one_pass(records, registry))
    for seed in seeds:
        emitted = trial(seed, records, registry)
        latest = keep_latest(emitted)
        assert diff(totals(latest), want) == {}, f"seed {seed}"
        got = merged(latest.values())
        assert got.keys() == reference.keys(), f"seed {seed}"
        bad = [k for k in got if not same_states(got[k], reference[k])]
        assert bad == [], f"seed {seed}: {bad[:3]}"
