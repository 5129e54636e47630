"""Pure accumulation (no broker): blocks, windows, lateness, join, partials, de-duplication."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest

from streams.blocks import TopicBlock
from streams.decode import decode
from streams.join import JoinState
from streams.partials import Partial, latest_per_key, sum_partials
from streams.partition import BlockConfig, PartitionState
from streams.registry import ModelRegistry
from streams.simulator import ListSink, Simulator
from streams.simulator.references import write_references

from .counts import diff, expected_totals, totals

T = ("steel", "baowu", "m", "1", "site", "hub")
START = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
NOW_MS = int(START.timestamp() * 1000) + 3 * 3600_000


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    sim = Simulator(seed=2, rate=2.0, batch_size=10, models=("weld-defect", "cracker-cot"))
    sink = ListSink()
    summary = sim.run(sink, start=START, duration=900, pace=False, flush_outcomes=True)
    d = tmp_path_factory.mktemp("refs")
    write_references(sim.models, d / "references", 0, n=2000)
    return sink.records, summary, ModelRegistry.load(d)


def feed(state: PartitionState, records, offsets: Counter | None = None) -> list:
    offsets = Counter() if offsets is None else offsets
    rejects = []
    for topic, _, value in records:
        r = decode(value, now_ms=NOW_MS)
        rejects += r.rejections + state.process(topic, offsets[topic], r)
        offsets[topic] += 1
    return rejects


def test_partition_state_counts_exactly(run):
    records, summary, registry = run
    state = PartitionState(0, BlockConfig(), registry)
    assert feed(state, records) == []
    got = totals({p.key: p for p in state.partials(final=True)})
    assert diff(got, expected_totals(summary)) == {}


def test_blocks_split_anywhere_sum_to_the_same_totals(run):
    records, summary, registry = run
    state = PartitionState(0, BlockConfig(), registry)
    offsets: Counter = Counter()
    emitted = []
    for chunk in np.array_split(np.arange(len(records)), 7):
        feed(state, [records[i] for i in chunk], offsets)
        emitted += state.partials(final=False)  # cumulative, superseded by the final
        emitted += state.partials(final=True)
        state.reset()
    assert diff(totals(latest_per_key(emitted)), expected_totals(summary)) == {}


def test_replaying_a_block_gives_the_same_keys_and_states(run):
    records, _, registry = run

    def final():
        state = PartitionState(0, BlockConfig(lateness_ms=0), registry)
        feed(state, records[:200])
        return {p.key: (p.state, p.version) for p in state.partials(final=True)}

    assert final() == final()


def test_unknown_model_and_wrong_topic_are_rejected(run):
    records, _, registry = run
    topic, _, value = next(r for r in records if r[0] == "telemetry")
    msg = orjson.loads(value)
    state = PartitionState(0, BlockConfig(), registry)
    unknown = decode(orjson.dumps({**msg, "model": "nope"}), now_ms=NOW_MS)
    assert [r.reason for r in state.process("telemetry", 0, unknown)] == ["unknown model"]
    wrong = decode(value, now_ms=NOW_MS)
    assert "does not belong" in state.process("energy", 0, wrong)[0].reason
    assert state.blocks["telemetry"].last_offset == 0  # the offset still advances


def test_late_rows_are_flagged_but_still_counted():
    blk = TopicBlock("telemetry", 0, block_start=0, window_ms=60_000, lateness_ms=30_000)
    w, late = blk.windows(np.array([120_000, 125_000]))
    assert late.tolist() == [False, False]
    # watermark = 125 s - 30 s = 95 s: window [0, 60 s) is closed, [60 s, 120 s) is not
    w, late = blk.windows(np.array([10_000, 70_000]))
    assert w.tolist() == [0, 60_000] and late.tolist() == [True, False]
    blk.add_volume(T, w, late, "telemetry_samples")
    blk.flush()
    flags = {(p.window_start, p.late) for p in blk.partials(final=True)}
    assert flags == {(0, True), (60_000, False)}


def test_join_is_bounded_and_counts_what_it_drops():
    j = JoinState(horizon_ms=1000, max_predictions=2, max_pending=1)
    for i in range(3):
        j.add_prediction(f"p{i}", 0, T, "ok", 0.1, i)
    j.expire()
    assert list(j.predictions) == ["p1", "p2"]  # max_predictions
    assert j.add_outcome("a", "ok", 10, T) is None
    assert j.add_outcome("b", "ok", 11, T) is None
    assert [o.prediction_id for o in j.expire()] == ["a"]  # max_pending
    j.add_prediction("p9", 0, T, "ok", 0.1, 2000)  # clock 2000: horizon passes "b" (ts 11)
    assert [o.prediction_id for o in j.expire()] == ["b"]
    assert list(j.predictions) == ["p9"]  # older predictions fell out of the horizon


def partial(version: int, final: bool = False, emitted_at: int = 0, n: int = 1) -> Partial:
    return Partial(kind="volume", consortium="c", member="m", model="x", model_version="1",
                   site="s", hub="h", feature="", window_start=0, window_end=60_000, late=False,
                   source_topic="telemetry", source_partition=0, block_start=0,
                   last_offset=version, final=final, count=n, emitted_at=emitted_at,
                   state={"telemetry_samples": n})  # fmt: skip


def test_latest_per_key_prefers_version_then_final_then_latest_emission():
    a, b, c = partial(5, n=1), partial(9, n=2), partial(9, final=True, n=3)
    assert latest_per_key([b, c, a])[a.key].count == 3
    assert (
        latest_per_key([partial(9, emitted_at=2, n=7), partial(9, emitted_at=1)])[a.key].count == 7
    )


def test_partial_round_trip_and_sum():
    p = partial(3, n=4)
    q = Partial.decode(p.encode())
    assert q == p and q.key == p.key and orjson.loads(p.encode())["version"] == 3
    other = p.replace(block_start=4, last_offset=8)
    assert other.key != p.key
    (group,) = sum_partials([p, other, p.replace(last_offset=1)]).values()
    assert group["count"] == 8 and group["state"] == {"telemetry_samples": 8}


def test_registry_targets_from_summary_and_reload(tmp_path):
    from streams.simulator.catalogue import MODELS_BY_NAME

    model = MODELS_BY_NAME["compressor-fault"]
    (tmp_path / "summary.json").write_text(orjson.dumps({"models": {model.name: {
        **model.tenancy, "kind": "binary", "classes": ["normal", "fault"]}}}).decode())  # fmt: skip
    registry = ModelRegistry.load(tmp_path, reload_s=0)
    assert registry.get(model.consortium, model.name, model.version) is None
    write_references([model], tmp_path / "references", 0, n=500)  # lands while running
    info = registry.get(model.consortium, model.name, model.version)
    assert info is not None and info.target.classes == ("normal", "fault")


def test_block_finalises_when_full_idle_or_old(run):
    records, _, registry = run
    state = PartitionState(0, BlockConfig(block_messages=3, block_max_age_s=300), registry)
    feed(state, records[:2])
    t = state.opened_at
    assert not state.finalisable(idle_s=1000, now=t + 1)
    assert state.finalisable(idle_s=1000, now=t + 301)  # old
    assert state.finalisable(idle_s=5, now=state.last_message_at + 6)  # idle
    feed(state, records[2:3], Counter({"telemetry": 2, "predictions": 2}))
    assert state.finalisable(idle_s=1000, now=t + 1)  # full
    state.blocks["telemetry"].floor = 10**9  # recovery floor not reached yet
    assert not state.finalisable(idle_s=5, now=state.last_message_at + 6)
    assert state.finalisable(idle_s=5, now=state.last_message_at + 16)  # waived when idle
